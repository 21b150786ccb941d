"""The SMS edge: Twilio's signed webhook and the generic gateway, keywords, numbered menus
within two segments, notices through the outbox, and the providers' failures.

Requests to `/sms/twilio` are signed with the `twilio` package's own RequestValidator; the
server sends through a fake provider over real HTTP. The end-to-end tests run on the
embedded store and on a real Redis (`handles`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from bot.app import build_app, build_runtime
from bot.dialog import Services
from bot.engine import Engine
from bot.errors import StoreUnavailable
from bot.i18n import Catalogs
from bot.messages import Button, Card, CardField, Inbound, Reply, TurnResult
from bot.services.case_records import Case, CaseDraft
from bot.services.outbox import Notice, Unreachable
from bot.settings import LOCALES_DIR, Settings
from bot.store.client import RedisHandles, connect
from connectors.sms.keywords import Keywords, Reading
from connectors.sms.memory import SmsMemory
from connectors.sms.providers import GatewayProvider, SendFailed, TwilioProvider, sign
from connectors.sms.render import MAX_OPTIONS, SmsRenderer
from connectors.sms.segments import GSM7, UCS2, encoding, plain, segments, units
from tests.conftest import MovableClock, RecordingSms
from tests.flow_chat import CASE_NUMBER
from tests.sms_world import (
    AUTH_TOKEN,
    GATEWAY_SECRET,
    OTHER_PHONE,
    PHONE,
    PUBLIC_URL,
    FakeProvider,
    SmsWorld,
    running_sms_world,
    sms_settings,
)

VALID_ID = "11010519491231002X"  # GB 11643 check digit fits; not a real person's


@pytest.fixture
async def sms_world(services: Services, handles: RedisHandles) -> AsyncIterator[SmsWorld]:
    async with running_sms_world(services, handles) as running:
        yield running


@pytest.fixture
async def gateway_world(services: Services, handles: RedisHandles) -> AsyncIterator[SmsWorld]:
    async with running_sms_world(services, handles, kind="gateway") as running:
        yield running


async def open_case(world: SmsWorld, phone: str, conversation: str | None = None) -> Case:
    """A fault case of the customer of `phone`, opened elsewhere (the web chat, say)."""
    customers = world.domain.customers
    customer = await customers.ensure(phone, "zh")
    draft = CaseDraft(
        kind="fault",
        conversation=conversation or "web:opened-on-the-web",
        customer=customer.id,
        locale="zh",
        description="家里宽带断了",
    )
    return await world.domain.cases.open(draft)


async def resolve(world: SmsWorld, number: str) -> None:
    for state in ("assigned", "in_progress", "resolved"):
        await world.domain.cases.move(number, state, actor="agent:li")


async def all_keys(world: SmsWorld) -> list[str]:
    return [key async for key in world.runtime.redis.commands.scan_iter("*")]


# --- Twilio's webhook -------------------------------------------------------------------


async def test_a_signed_message_is_answered_in_twiml_and_the_number_is_never_in_a_key(
    sms_world: SmsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = sms_world.phone()
    answer = await phone.send("你好")
    assert "星联通信" in answer and "\n回复1 " in answer
    assert segments(answer) <= 2
    state = await phone.state()
    assert state.customer == phone.chat  # the sender's number is the customer's identity
    keys = await all_keys(sms_world)
    assert any(phone.chat in key for key in keys)
    assert not [key for key in keys if PHONE in key]
    assert PHONE not in caplog.text


async def test_a_wrong_missing_or_misplaced_signature_is_refused(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    form = phone.form("你好")
    public = f"{PUBLIC_URL}/sms/twilio"
    wrong = RequestValidator("another-token").compute_signature(public, form)
    assert (await phone.post(form, wrong)).status == 403
    response = await sms_world.client.post("/sms/twilio", data=form)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "bad_signature"
    # Signed over the address the request reached rather than the public one.
    internal = str(sms_world.client.make_url("/sms/twilio"))
    signature = RequestValidator(AUTH_TOKEN).compute_signature(internal, form)
    assert (await phone.post(form, signature)).status == 403
    # Signed, then changed on the way.
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public, form)
    assert (await phone.post({**form, "Body": "人工"}, signature)).status == 403
    raw, _seq = await sms_world.runtime.store.load(phone.key)
    assert raw is None  # nothing was let in


async def test_a_replayed_message_sid_is_answered_once_and_creates_one_case(
    sms_world: SmsWorld,
) -> None:
    phone = sms_world.phone()
    first = await phone.send("人工", sid="SM" + "a" * 32)
    assert CASE_NUMBER.search(first), first
    assert await phone.send("人工", sid="SM" + "a" * 32) == ""
    assert len(await sms_world.domain.cases.of_customer(phone.chat)) == 1
    # "XQ" is answered at the edge, and once too; with nothing sent before, it says so.
    assert "没有更多内容了" in await sms_world.phone(OTHER_PHONE).send("XQ")
    assert await phone.send("XQ", sid="SM" + "b" * 32) != ""
    assert await phone.send("XQ", sid="SM" + "b" * 32) == ""


async def test_an_oversized_or_unreadable_body_is_a_4xx(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    limit = sms_world.runtime.settings.max_body_bytes
    response = await phone.post(phone.form("x" * (limit + 1)), "whatever")
    assert response.status == 413
    response = await sms_world.client.post(
        "/sms/twilio",
        data=b"Body=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "malformed_body"
    upload = (
        b'--b\r\nContent-Disposition: form-data; name="Body"; filename="a.txt"\r\n\r\n'
        b"hello\r\n--b--\r\n"
    )
    response = await sms_world.client.post(
        "/sms/twilio", data=upload, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status == 400


async def test_a_sender_that_is_no_phone_number_gets_no_answer_and_no_log_of_it(
    sms_world: SmsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    phone = sms_world.phone()
    form = {**phone.form("你好"), "From": "StarLinkX"}
    response = await phone.post(form)
    assert response.status == 200
    assert "<Message>" not in await response.text()
    assert "not a phone number" in caplog.text and "StarLinkX" not in caplog.text


async def test_a_store_failure_is_answered_with_an_apology(
    sms_world: SmsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(sms_world.runtime.engine, "handle", failing)
    assert "请稍后再试" in await sms_world.phone().send("你好")


async def test_without_a_provider_the_sms_edge_is_closed(services: Services) -> None:
    runtime = build_runtime(
        Settings(), services=services, redis=connect(None), clock=MovableClock(), sms=RecordingSms()
    )
    async with TestClient(TestServer(build_app(runtime, background=False))) as client:
        assert (await client.post("/sms/twilio", data={"Body": "hi"})).status == 404
        assert (await client.post("/sms/inbound", data=b"{}")).status == 404


# --- Keywords ---------------------------------------------------------------------------


async def test_progress_shows_the_senders_own_case_and_not_someone_elses(
    sms_world: SmsWorld,
) -> None:
    phone = sms_world.phone()
    mine = await open_case(sms_world, PHONE)  # opened on the web: the same customer
    theirs = await open_case(sms_world, OTHER_PHONE, "web:someone-else")
    answer = await phone.send(f"CX {mine.number}")
    assert mine.number in answer and "已受理" in answer, answer
    answer = await phone.send(f"进度 {theirs.number}")
    assert theirs.number in answer and "已受理" not in answer, answer
    # A number alone, typed on a full-width keyboard, and lower case.
    wide = mine.number.lower().translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789c"})
    assert "已受理" in await phone.send(wide)
    assert "已受理" in await phone.send(f"cx：{mine.number.lower()}")
    assert "已受理" not in await phone.send(theirs.number)
    # Alone, the progress word lists the customer's own cases.
    answer = await phone.send("CX")
    assert mine.number in answer and theirs.number not in answer


async def test_human_queues_a_handoff_and_td_stops_notices(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    case = await open_case(sms_world, PHONE, phone.key)
    answer = await phone.send("TD")
    assert "不再收到" in answer
    assert (await phone.state()).notify is False
    await sms_world.domain.cases.move(case.number, "assigned", actor="agent:li")
    await sms_world.drain()
    assert sms_world.provider.sent == []  # no notices any more, by SMS either
    answer = await phone.send("HUMAN")
    assert (await phone.state()).mode == "queued", answer
    record = await sms_world.runtime.desk.handoff.handoffs.get(phone.key)
    assert record is not None


async def test_a_resolved_case_asks_for_a_rating_by_sms_and_a_digit_rates_it(
    sms_world: SmsWorld,
) -> None:
    phone = sms_world.phone()
    await phone.send("你好")
    case = await open_case(sms_world, PHONE, phone.key)
    await resolve(sms_world, case.number)
    assert await sms_world.drain() >= 1
    texts = sms_world.provider.texts_to(PHONE)
    rating = texts[-1]
    assert case.number in rating and "回复1-5评分" in rating, rating
    assert "★" not in rating and segments(rating) <= 2
    answer = await phone.send("５")  # full width, as a Chinese keyboard may send it
    assert "5 分" in answer, answer
    rated = await sms_world.domain.cases.get(case.number)
    assert rated is not None and rated.rating == 5 and rated.state == "closed"


async def test_xq_sends_the_whole_of_a_shortened_answer(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    short = await phone.send("How do I port my number to you?")
    assert short.endswith("Reply MORE for details.") and segments(short) <= 2
    assert encoding(short) == GSM7  # typographic quotes made plain, so 160 a segment
    whole = await phone.send("more")
    assert segments(whole) > 2 and "Reply MORE" not in whole
    assert short.split("\n")[0] in whole
    assert "Reply 4 " in whole  # the menu's tail, dropped from the short one
    # A digit answers the whole menu, shown or not.
    answer = await phone.send("4")
    assert (await phone.state()).mode == "queued", answer


async def test_a_complaint_through_numbered_menus(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    menu = await phone.send("我要投诉")
    assert "回复2 话费争议" in menu
    assert "描述" in await phone.send("2")
    answer = await phone.send("上个月莫名其妙扣了我50元增值业务费")
    number = CASE_NUMBER.search(answer)
    assert number is not None, answer
    case = await sms_world.domain.cases.get(number.group())
    assert case is not None
    assert (case.kind, case.category, case.customer) == ("complaint", "billing", phone.chat)
    assert segments(answer) <= 2
    assert number.group() in await phone.send("1")  # "Reply 1 查询进度"


async def test_a_booking_through_numbered_menus(sms_world: SmsWorld) -> None:
    phone = sms_world.phone()
    steps = [
        ("book an appointment", "Reply 1 Broadband installation"),
        ("1", "Reply 1 Xihu District"),
        ("1", "Reply 1 Mon, Nov 23 11:00-13:00"),
        ("1", "resident ID number"),
        (VALID_ID, "Reply 1 Confirm"),
    ]
    for text, expected in steps:
        answer = await phone.send(text)
        assert expected in answer and segments(answer) <= 2, answer
        assert answer.count(expected) == 1, answer  # asked once, not twice
    assert "138****8000" in answer  # the contact phone is the sender's own
    answer = await phone.send("1")
    booked = await sms_world.domain.appointments.of_customer(phone.chat)
    assert len(booked) == 1 and booked[0].number in answer, answer
    await sms_world.drain()
    notice = sms_world.provider.texts_to(PHONE)[-1]
    assert booked[0].number in notice
    assert encoding(notice) == GSM7  # Babel's narrow no-break space made plain


# --- The generic gateway ----------------------------------------------------------------


async def post_gateway(world: SmsWorld, body: object, secret: str = GATEWAY_SECRET) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await world.client.post(
        "/sms/inbound",
        data=raw,
        headers={"X-Signature": sign(secret, raw), "Content-Type": "application/json"},
    )


async def test_the_gateway_checks_its_hmac_and_answers_with_replies(
    gateway_world: SmsWorld,
) -> None:
    message = {"id": "g-1", "from": f"+86{PHONE}", "to": "10690000", "text": "人工"}
    assert (await post_gateway(gateway_world, message, "wrong-secret")).status == 401
    unsigned = await gateway_world.client.post("/sms/inbound", json=message)
    assert unsigned.status == 401
    response = await post_gateway(gateway_world, message)
    assert response.status == 200
    replies = (await response.json())["replies"]
    assert len(replies) == 1 and CASE_NUMBER.search(replies[0])
    again = await post_gateway(gateway_world, message)
    assert (await again.json())["replies"] == []
    assert len(await gateway_world.domain.cases.of_customer(gateway_world.phone().chat)) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        ([1, 2], 400),
        ({"id": "g-2", "text": "hi"}, 400),
        ({"id": "g-2", "from": f"+86{PHONE}"}, 400),
        ({"id": "g 2 !", "from": f"+86{PHONE}", "text": "hi"}, 400),
        ({"id": "g-2", "from": "12345", "text": "hi"}, 400),
        ({"id": "g-2", "from": f"+86{PHONE}", "text": "x" * 70_000}, 413),
    ],
)
async def test_the_gateway_refuses_bad_messages_with_a_4xx(
    gateway_world: SmsWorld, body: object, status: int
) -> None:
    response = await post_gateway(gateway_world, body)
    assert response.status == status, await response.text()
    assert "error" in await response.json()


async def test_the_gateway_sends_notices_signed(gateway_world: SmsWorld) -> None:
    phone = gateway_world.phone()
    case = await open_case(gateway_world, PHONE, phone.key)
    await gateway_world.domain.cases.move(case.number, "assigned", actor="agent:li")
    await gateway_world.drain()
    sent = gateway_world.provider.sent
    assert [s.to for s in sent] == [f"+86{PHONE}"]
    assert case.number in sent[-1].text
    assert sent[-1].headers["X-Signature"] == sign(GATEWAY_SECRET, sent[-1].raw)


# --- Providers and the outbox -----------------------------------------------------------


@pytest.fixture
async def provider_url() -> AsyncIterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    async with TestServer(fake.app()) as server:
        yield fake, str(server.make_url("")).rstrip("/")


async def test_twilio_refusing_the_number_is_unreachable_and_a_500_is_retryable(
    provider_url: tuple[FakeProvider, str],
) -> None:
    fake, url = provider_url
    provider = TwilioProvider(sms_settings(url))
    try:
        assert (await provider.submit(PHONE, "hello")).startswith("SM")
        assert fake.sent[-1].to == f"+86{PHONE}"
        fake.fail_next(400, {"code": 21610, "message": "Attempt to send to unsubscribed"})
        with pytest.raises(Unreachable) as refused:
            await provider.submit(PHONE, "hello")
        assert PHONE not in str(refused.value)
        fake.fail_next(500, {"code": 20500, "message": "Internal Server Error"})
        with pytest.raises(SendFailed):
            await provider.submit(PHONE, "hello")
        fake.fail_next(429, {"code": 20429, "message": "Too Many Requests"})
        with pytest.raises(SendFailed):
            await provider.send(PHONE, "hello")
    finally:
        await provider.close()


async def test_the_gateway_provider_signs_and_maps_failures(
    provider_url: tuple[FakeProvider, str],
) -> None:
    fake, url = provider_url
    provider = GatewayProvider(sms_settings(url, "gateway"))
    try:
        assert (await provider.submit(PHONE, "你好")).startswith("G")
        assert json.loads(fake.sent[-1].raw) == {
            "to": f"+86{PHONE}",
            "text": "你好",
            "from": "+15005550006",
        }
        fake.fail_next(410, {"error": "number gone"})
        with pytest.raises(Unreachable):
            await provider.submit(PHONE, "hello")
        fake.fail_next(503, {})
        with pytest.raises(SendFailed):
            await provider.submit(PHONE, "hello")
    finally:
        await provider.close()


async def test_a_provider_error_is_retried_and_a_refused_number_is_given_up(
    sms_world: SmsWorld,
) -> None:
    phone = sms_world.phone()
    await phone.send("你好")
    case = await open_case(sms_world, PHONE, phone.key)
    outbox = sms_world.domain.outbox
    await sms_world.drain()  # the "received" notice
    sms_world.provider.fail_next(500, {"code": 20500})
    await sms_world.domain.cases.move(case.number, "assigned", actor="agent:li")
    await sms_world.drain()
    assert await outbox.retries() == 1 and await outbox.dead() == []
    sms_world.clock.advance(60)
    await sms_world.drain()
    assert await outbox.retries() == 0
    assert case.number in sms_world.provider.texts_to(PHONE)[-1]
    sms_world.provider.fail_next(400, {"code": 21610})
    await sms_world.domain.cases.move(case.number, "in_progress", actor="agent:li")
    await sms_world.drain()
    dead = await outbox.dead()
    assert len(dead) == 1 and "unreachable" in dead[0][1] and PHONE not in dead[0][1]


async def test_a_notice_for_an_sms_conversation_without_a_customer_is_given_up(
    sms_world: SmsWorld,
) -> None:
    outbox = sms_world.domain.outbox
    params = {"state": "assigned"}
    await outbox.publish(Notice(f"sms:{'0' * 32}", "case_state", "C2611230040", "zh", params))
    await sms_world.drain()
    dead = await outbox.dead()
    assert len(dead) == 1 and "unreachable" in dead[0][1]
    assert sms_world.provider.sent == []


# --- Segments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "count"),
    [
        ("", GSM7, 0),
        ("a" * 160, GSM7, 1),
        ("a" * 161, GSM7, 2),
        ("a" * 306, GSM7, 2),
        ("a" * 307, GSM7, 3),
        ("€" * 80, GSM7, 1),  # extension characters take two septets
        ("€" * 81, GSM7, 2),
        ("a" * 159 + "{", GSM7, 2),
        ("a" * 152 + "€" + "a" * 152, GSM7, 3),  # 306 septets, but an escape pair is not split
        ("中" * 70, UCS2, 1),
        ("中" * 71, UCS2, 2),
        ("中" * 134, UCS2, 2),
        ("中" * 135, UCS2, 3),
        ("a" * 69 + "中", UCS2, 1),  # one Chinese character makes the whole text UCS-2
        ("a" * 159 + "中", UCS2, 3),
        ("😀" * 35, UCS2, 1),  # two UTF-16 code units each
        ("😀" * 36, UCS2, 2),
        ("a" + "😀" * 35, UCS2, 2),
        ("a" * 66 + "😀" + "a" * 66, UCS2, 3),  # 134 units, but a surrogate pair is not split
    ],
)
def test_segments_count_gsm7_and_ucs2(text: str, kind: str, count: int) -> None:
    assert encoding(text) == kind
    assert segments(text) == count


def test_units_and_plain_marks() -> None:
    assert units("[x]") == 5 and units("中a") == 2 and units("😀") == 2
    assert plain("Send “menu”… – ok") == 'Send "menu"... - ok'
    assert plain("发送“菜单”") == "发送“菜单”"  # UCS-2 anyway: left as written


# --- Keywords and rendering -------------------------------------------------------------


@pytest.fixture(scope="module")
def keywords() -> Keywords:
    return Keywords.load()


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("人工", Reading(payload="cmd:human", locale="zh")),
        (" Human! ", Reading(payload="cmd:human", locale="en")),
        ("td", Reading(payload="cmd:stop", locale="zh")),
        ("ＳＴＯＰ", Reading(payload="cmd:stop", locale="en")),
        ("xq", Reading(details=True, locale="zh")),
        ("详情", Reading(details=True, locale="zh")),
        ("DETAILS", Reading(details=True, locale="en")),
        ("3", Reading(option=3)),
        ("３", Reading(option=3)),
        ("CX", Reading(payload="progress:mine", locale="zh")),
        ("cx C2611230040", Reading(payload="progress:show:C2611230040", locale="zh")),
        ("进度：c2611230040", Reading(payload="progress:show:C2611230040", locale="zh")),
        ("status a2611240013", None),  # a check digit that does not fit: the flow says so
        ("C2611230040", None),  # a number alone: the engine's (a flow may have asked for it)
        ("0", None),
        ("12", None),
        ("cxyz", None),
        ("我要投诉", None),
    ],
)
def test_keywords(keywords: Keywords, text: str, reading: Reading | None) -> None:
    assert keywords.read(text) == reading


@pytest.fixture(scope="module")
def renderer() -> SmsRenderer:
    return SmsRenderer(Catalogs.load(LOCALES_DIR))


def test_a_rating_menu_is_one_line_whose_digits_are_the_ratings(renderer: SmsRenderer) -> None:
    stars = tuple(Button("★" * n, f"rate:C2611230040:{n}") for n in range(1, 6))
    reply = Reply("您的工单 C2611230040 已解决。" + "请打分。" * 10, stars)
    rendered = renderer.render([reply, Reply("或者", (Button("主菜单", "cmd:menu"),))], "en")
    assert rendered.menu == (*[b.payload for b in stars], "cmd:menu")
    assert "Reply 1-5 to rate" in rendered.text and "Reply 6 主菜单" in rendered.text
    assert "★" not in rendered.text and segments(rendered.text) <= 2


def test_too_long_drops_cards_then_the_menu_tail_then_cuts_with_a_hint(
    renderer: SmsRenderer,
) -> None:
    card = Card("case", "Fault repair", "C2611230040", "received", "Nov 23, 2026, 2:00 PM")
    buttons = tuple(Button(f"Option number {n} of many", f"x:{n}") for n in range(1, 12))
    rendered = renderer.render([Reply("Your case is open.", buttons, card)], "en")
    assert len(rendered.menu) == MAX_OPTIONS
    assert segments(rendered.text) <= 2 and rendered.text.endswith("Reply MORE for details.")
    assert "C2611230040" not in rendered.text  # the card went first
    assert "Reply 1 Option number 1 " in rendered.text and "Reply 9 " not in rendered.text
    assert "C2611230040" in rendered.full and "Reply 9 Option number 9 " in rendered.full
    long = renderer.render([Reply("很长的回答。" * 60, buttons[:2])], "zh")
    assert segments(long.text) <= 2 and long.text.endswith("回复XQ查看详情。")
    assert "回复1 Option number 1 " in long.text and long.full.count("很长的回答") == 60


def test_a_card_line_says_only_what_the_text_does_not(renderer: SmsRenderer) -> None:
    card = Card(
        "case", "Fault repair", "C2611230040", "received", "Nov 23", (CardField("Area", "Xihu"),)
    )
    rendered = renderer.render([Reply("Case C2611230040 is received.", (), card)], "en")
    assert rendered.text == "Case C2611230040 is received.\ndue Nov 23"
    assert "Area: Xihu" in rendered.full


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize("length", [0, 50, 140, 400, 3000])
@pytest.mark.parametrize("options", [0, 3, 12])
def test_every_answer_fits_two_segments(
    renderer: SmsRenderer, locale: str, length: int, options: int
) -> None:
    word = "字" if locale == "zh" else "w"
    buttons = tuple(Button(f"{word * 12} {n}", f"x:{n}") for n in range(options))
    card = Card("case", "Case", "C2611230040", "处理中", "2026年11月26日 10:00:00")
    text = (word * 9 + "。") * (length // 10) + "😀"
    rendered = renderer.render([Reply(text, buttons, card)], locale)
    assert 1 <= segments(rendered.text) <= 2, rendered.text
    assert rendered.menu == tuple(b.payload for b in buttons[:MAX_OPTIONS])


async def test_an_answer_whose_menu_could_not_be_remembered_is_still_sent_once(
    gateway_world: SmsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SmsMemory.remember
    calls = {"n": 0}

    async def remember(self: SmsMemory, *args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreUnavailable("connection reset")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SmsMemory, "remember", remember)
    message = {"id": "g-menu-1", "from": f"+86{PHONE}", "text": "人工"}
    first = await post_gateway(gateway_world, message)
    assert first.status == 200
    [answer] = (await first.json())["replies"]
    [case] = await gateway_world.domain.cases.of_customer(gateway_world.phone().chat)
    assert case.number in answer  # the customer learns the number of the case just opened


async def test_a_redelivery_after_a_turn_that_failed_late_is_answered_once(
    gateway_world: SmsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The turn is saved, then the store fails before the answer leaves: 503, and the
    # gateway delivers the message again. The redelivery gets the answer; a third, nothing.
    original = Engine.handle
    failed = {"once": False}

    async def handle(self: Engine, inbound: Inbound, **options: Any) -> TurnResult:
        result = await original(self, inbound, **options)
        if not failed["once"]:
            failed["once"] = True
            raise StoreUnavailable("connection reset")
        return result

    monkeypatch.setattr(Engine, "handle", handle)
    message = {"id": "g-late-1", "from": f"+86{PHONE}", "text": "人工"}
    assert (await post_gateway(gateway_world, message)).status == 503
    again = await post_gateway(gateway_world, message)
    [answer] = (await again.json())["replies"]
    cases = await gateway_world.domain.cases.of_customer(gateway_world.phone().chat)
    assert len(cases) == 1 and cases[0].number in answer
    third = await post_gateway(gateway_world, message)
    assert (await third.json())["replies"] == []


async def test_a_notice_by_sms_numbers_its_menu_in_the_notices_language(
    sms_world: SmsWorld,
) -> None:
    phone = sms_world.phone()
    await phone.send("你好")  # the customer record says Chinese
    customer = sms_world.domain.customers.id_for(PHONE)
    notice = Notice(phone.key, "case_resolved", "C2611230040", "en", {}, customer)
    await sms_world.domain.outbox.publish(notice)
    await sms_world.drain()
    text = sms_world.provider.texts_to(PHONE)[-1]
    assert "Your case C2611230040 has been resolved" in text
    assert "Reply 1-5 to rate" in text and "回复" not in text
