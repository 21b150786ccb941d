"""One-time codes: 6 digits, 5 minutes, bound to the conversation, 5 tries then 15 min out."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from bot.i18n import Catalogs
from bot.services.customers import Customers
from bot.services.vault import Vault
from bot.services.verification import CodeSent, ConsoleSmsSender, Verification
from bot.settings import Settings, SettingsError
from bot.store import keys
from bot.store.client import RedisHandles
from tests.conftest import MovableClock as Clock
from tests.conftest import RecordingSms

PHONE = "13800138000"
CHAT = "web:chat-1"


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    settings = Settings()
    return Catalogs.load(settings.locales_dir, settings.timezone)


@pytest.fixture
def customers(handles: RedisHandles, clock: Clock) -> Customers:
    return Customers(handles.commands, Vault.from_secret("test secret"), clock)


@pytest.fixture
def verification(
    handles: RedisHandles, customers: Customers, sms: RecordingSms, catalogs: Catalogs, clock: Clock
) -> Verification:
    return Verification(handles.commands, customers, sms, catalogs, clock)


async def wrong(verification: Verification, code: str, conversation: str = CHAT) -> str:
    """A code that is not `code`."""
    other = f"{(int(code) + 1) % 1_000_000:06d}"
    return (await verification.check(conversation, PHONE, other)).status


async def test_the_right_code_verifies_and_links(
    verification: Verification, customers: Customers, sms: RecordingSms, handles: RedisHandles
) -> None:
    assert (await verification.send(CHAT, "+86 138 0013 8000", "en")).status == "sent"
    phone, text = sms.sent[0]
    assert phone == PHONE
    assert re.fullmatch(r"\d{6}", sms.last_code())
    assert text.startswith(f"Your StarLink verification code is {sms.last_code()}.")
    stored = await handles.commands.hgetall(keys.verification(customers.id_for(PHONE)))  # type: ignore[misc]
    assert sms.last_code() not in "".join(stored.values())  # only a keyed hash is kept
    result = await verification.check(CHAT, PHONE, sms.last_code()[:3] + " " + sms.last_code()[3:])
    assert result.status == "ok" and result.customer == customers.id_for(PHONE)
    assert await customers.conversations(result.customer) == [CHAT]
    customer = await customers.get(result.customer)
    assert customer is not None and customer.locale == "en"
    # One use only.
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "expired"


async def test_a_code_expires_after_five_minutes(
    verification: Verification, sms: RecordingSms, clock: Clock
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    clock.now += 5 * 60
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "expired"


async def test_a_code_works_until_it_expires(
    verification: Verification, sms: RecordingSms, clock: Clock
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    clock.now += 5 * 60 - 1
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "ok"


async def test_the_fifth_wrong_attempt_locks_for_fifteen_minutes(
    verification: Verification, sms: RecordingSms, clock: Clock
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    code = sms.last_code()
    for left in (4, 3, 2, 1):
        result = await verification.check(CHAT, PHONE, f"{(int(code) + 1) % 1_000_000:06d}")
        assert (result.status, result.attempts_left) == ("wrong", left)
    assert await wrong(verification, code) == "locked"
    # Locked: even the right code fails, and no new code is sent.
    assert (await verification.check(CHAT, PHONE, code)).status == "locked"
    clock.now += 14 * 60
    sent = await verification.send(CHAT, PHONE, "zh")
    assert sent.status == "locked" and sent.retry_after == 60
    assert len(sms.sent) == 1
    assert (await verification.check(CHAT, PHONE, code)).status == "locked"
    clock.now += 60
    assert (await verification.send(CHAT, PHONE, "zh")).status == "sent"
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "ok"


async def test_a_new_code_does_not_buy_more_attempts(
    verification: Verification, sms: RecordingSms, clock: Clock
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    for _ in range(3):
        assert await wrong(verification, sms.last_code()) == "wrong"
    clock.now += 60
    assert (await verification.send(CHAT, PHONE, "zh")).status == "sent"
    assert await wrong(verification, sms.last_code()) == "wrong"
    assert await wrong(verification, sms.last_code()) == "locked"


async def test_concurrent_guesses_cannot_pass_the_limit(
    verification: Verification, sms: RecordingSms
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    statuses = await asyncio.gather(*(wrong(verification, sms.last_code()) for _ in range(20)))
    assert statuses.count("wrong") == 4
    assert statuses.count("locked") == 16


async def test_a_code_from_another_conversation_does_not_verify(
    verification: Verification, sms: RecordingSms
) -> None:
    await verification.send(CHAT, PHONE, "zh")
    result = await verification.check("telegram:99", PHONE, sms.last_code())
    assert result.status == "wrong" and result.customer is None
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "ok"


async def test_resend_too_soon(verification: Verification, sms: RecordingSms, clock: Clock) -> None:
    await verification.send(CHAT, PHONE, "zh")
    first = sms.last_code()
    clock.now += 20
    assert await verification.send(CHAT, PHONE, "zh") == CodeSent("too_soon", retry_after=40)
    assert len(sms.sent) == 1
    clock.now += 40
    assert await verification.send(CHAT, PHONE, "zh") == CodeSent("sent")
    assert len(sms.sent) == 2
    if sms.last_code() != first:  # the new code replaces the old one (equal once in a million)
        assert (await verification.check(CHAT, PHONE, first)).status == "wrong"
    assert (await verification.check(CHAT, PHONE, sms.last_code())).status == "ok"


async def test_no_code_pending(verification: Verification) -> None:
    assert (await verification.check(CHAT, PHONE, "123456")).status == "expired"


def test_the_console_sender_refuses_when_a_provider_is_configured() -> None:
    with pytest.raises(SettingsError):
        ConsoleSmsSender(Settings(sms_provider="twilio"))


async def test_the_console_sender_prints_the_code_with_the_phone_masked(
    caplog: pytest.LogCaptureFixture,
    handles: RedisHandles,
    customers: Customers,
    catalogs: Catalogs,
    clock: Clock,
) -> None:
    sender = ConsoleSmsSender(Settings())
    verification = Verification(handles.commands, customers, sender, catalogs, clock)
    with caplog.at_level(logging.DEBUG):
        await verification.send(CHAT, PHONE, "en")
    records = [r for r in caplog.records if r.name == "shouwen.dev_sms"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    line = records[0].getMessage()
    assert line.startswith("[dev sms] to 138****8000: Your StarLink verification code is")
    assert re.search(r"(?<!\d)\d{6}(?!\d)", line)
    assert all(PHONE not in r.getMessage() for r in caplog.records)


async def test_a_failed_sms_does_not_block_asking_again(
    handles: RedisHandles, customers: Customers, catalogs: Catalogs, clock: Clock, sms: RecordingSms
) -> None:
    class Down:
        async def send(self, phone: str, text: str) -> None:
            raise ConnectionError("gateway down")

    broken = Verification(handles.commands, customers, Down(), catalogs, clock)
    assert (await broken.send(CHAT, PHONE, "zh")).status == "failed"
    working = Verification(handles.commands, customers, sms, catalogs, clock)
    assert (await working.send(CHAT, PHONE, "zh")).status == "sent"
    assert (await working.check(CHAT, PHONE, sms.last_code())).status == "ok"


@pytest.mark.parametrize(("locale", "words"), [("en", "verification code"), ("zh", "验证码")])
async def test_the_sms_is_in_the_customers_language(
    verification: Verification, sms: RecordingSms, locale: str, words: str
) -> None:
    await verification.send(CHAT, PHONE, locale)
    assert words in sms.sent[0][1] and sms.last_code() in sms.sent[0][1]
