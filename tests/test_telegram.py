"""The Telegram edge without Telegram: Update JSON posted to the webhook and fed through the
real aiogram Dispatcher, replies recorded by the Bot's session, on both stores."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.methods import DeleteWebhook, SetWebhook
from aiogram.types import (
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app, build_runtime
from bot.dialog import Services
from bot.errors import StoreUnavailable
from bot.handoff import AgentRef
from bot.messages import Button, Card, CardField, Entry, Inbound, Reply, TurnResult
from bot.services.outbox import Unreachable
from bot.settings import Settings, SettingsError
from bot.store.client import RedisHandles, connect
from connectors.telegram import cli as telegram_cli
from connectors.telegram.callbacks import EXPIRED, MAX_CALLBACK_BYTES
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.edge import TELEGRAM
from connectors.telegram.handlers import ALLOWED_UPDATES
from connectors.telegram.pace import CHAT_BURST, Pace
from connectors.telegram.render import Said, messages
from connectors.telegram.split import MAX_MESSAGE, Span, split_html
from connectors.telegram.webhook import PATH, webhook_secret
from tests.conftest import MovableClock
from tests.flow_chat import CASE_NUMBER, PHONE, Chat
from tests.telegram_world import (
    TOKEN,
    USER_ID,
    RecordingSession,
    TelegramCustomer,
    TelegramWorld,
    buttons,
    plain,
    running_telegram,
)


@pytest.fixture
async def tg(
    settings: Settings, services: Services, handles: RedisHandles
) -> AsyncIterator[TelegramWorld]:
    """The server with the Telegram edge, on the embedded store and on a real Redis."""
    async with running_telegram(settings, services, handles) as world:
        yield world


def channel(tg: TelegramWorld) -> TelegramChannel:
    return TelegramChannel(tg.edge.sender)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- Turns through the webhook ---------------------------------------------------------


async def test_a_message_is_answered_with_an_inline_keyboard_of_compact_ids(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    answer = await customer.say("/start")
    assert "What can I do for you?" in answer
    [message] = customer.last
    assert message.chat_id == USER_ID and message.parse_mode == "HTML"
    data = [d for _title, d in buttons(message)]
    assert "book:start" in data and "cmd:human" in data
    assert all(0 < len(d.encode("utf-8")) <= MAX_CALLBACK_BYTES for d in data)


async def test_a_pressed_button_runs_its_flow_and_the_query_is_answered(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    await customer.say("/start")
    since = len(tg.session.calls)
    answer = await customer.press("complain:start")
    [answered] = tg.session.answered(since)
    assert answered.callback_query_id.startswith("cq")
    # The answer comes before the turn's reply: the button's spinner stops at once.
    assert tg.session.calls.index(answered) < tg.session.calls.index(customer.last[0])
    assert "complain" in answer.lower()
    data = [d for m in customer.last for _t, d in buttons(m)]
    assert "complain:cat:billing" in data
    # The transcript has the button's title as the customer's words.
    entries = await tg.runtime.store.read(f"telegram:{USER_ID}", 0)
    assert "File a complaint" in [e.text for e in entries if e.role == "customer"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "What can I do for you?"),
        ("zh-hans", "请问有什么可以帮您？"),
        (None, "请问有什么可以帮您？"),
    ],
)
async def test_the_apps_language_code_is_the_locale_hint(
    tg: TelegramWorld, language: str | None, expected: str
) -> None:
    assert expected in await tg.customer(language=language).say("/start")


async def test_an_update_delivered_twice_creates_one_case_and_is_answered_once(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    await customer.say("I want to file a complaint")
    await customer.press("complain:cat:billing")
    await customer.say("I was charged 50 yuan I never agreed to.")
    update = customer.message(text=PHONE)  # the answer that files the case
    first = plain(await customer.send(update))
    assert CASE_NUMBER.search(first)
    assert await customer.send(update) == []
    cases = await tg.runtime.domain.cases.of_customer(tg.runtime.domain.customers.id_for(PHONE))
    assert len(cases) == 1
    entries = await tg.runtime.store.read(f"telegram:{USER_ID}", 0)
    assert [e.text for e in entries if e.role == "customer"].count(PHONE) == 1


async def test_an_answer_telegram_failed_to_take_is_sent_when_the_update_comes_again(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    update = customer.message(text="/start")
    tg.session.fail_next(lambda method: TelegramNetworkError(method, "connection reset"))
    refused = await tg.post(update)
    assert refused.status == 502
    assert (await refused.json())["error"]["code"] == "telegram_unavailable"
    assert "What can I do for you?" in plain(await customer.send(update))  # redelivered
    assert await customer.send(update) == []  # and once only
    entries = await tg.runtime.store.read(f"telegram:{USER_ID}", 0)
    assert [e.role for e in entries].count("customer") == 1


async def test_an_answer_lost_to_a_store_failure_is_sent_when_the_update_comes_again(
    tg: TelegramWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn is saved, then the pace (Redis) fails before the answer goes out: the
    update is refused, and its repeat, a duplicate to the engine, sends the answer."""
    customer = tg.customer()
    update = customer.message(text="/start")
    pace = tg.edge.sender._pace
    wait = pace.wait
    failures = [StoreUnavailable("connection reset")]

    async def failing_wait(chat: str) -> None:
        if failures:
            raise failures.pop()
        await wait(chat)

    monkeypatch.setattr(pace, "wait", failing_wait)
    refused = await tg.post(update)
    assert refused.status >= 500  # Telegram delivers it again
    assert tg.session.sent() == []
    assert "What can I do for you?" in plain(await customer.send(update))  # redelivered
    assert await customer.send(update) == []  # and once only
    entries = await tg.runtime.store.read(f"telegram:{USER_ID}", 0)
    assert [e.role for e in entries].count("customer") == 1


async def test_a_repeated_update_sends_only_the_rest_of_an_answer_sent_in_part(
    tg: TelegramWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer of two messages whose second Telegram failed to take: the repeat sends
    the second only."""
    engine = tg.runtime.engine
    handle = engine.handle
    extra = Entry(0, "bot", "And one more thing.", 0.0)

    async def two_replies(inbound: Inbound, *, create: bool = True) -> TurnResult:
        result = await handle(inbound, create=create)  # first and repeat: the same answer
        return dataclasses.replace(result, replies=[*result.replies, extra])

    monkeypatch.setattr(engine, "handle", two_replies)
    customer = tg.customer()
    update = customer.message(text="/start")
    tg.session.fail_next(None, lambda method: TelegramNetworkError(method, "connection reset"))
    refused = await tg.post(update)
    assert refused.status == 502
    assert plain(tg.session.taken()) == "What can I do for you?"
    assert plain(await customer.send(update)) == "And one more thing."
    assert await customer.send(update) == []
    said = plain(tg.session.taken())
    assert said.count("What can I do for you?") == 1 and said.count("one more thing") == 1


async def test_a_sticker_is_asked_about_politely(tg: TelegramWorld) -> None:
    customer = tg.customer()
    sticker = {
        "file_id": "f1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    assert "didn't get any text" in plain(await customer.send(customer.message(sticker=sticker)))


async def test_group_chats_are_not_answered(tg: TelegramWorld) -> None:
    customer = tg.customer()
    update = customer.message(text="/start")
    update["message"]["chat"] = {"id": -100, "type": "group", "title": "friends"}
    assert await customer.send(update) == []


async def test_a_button_pressed_outside_a_private_chat_is_only_acknowledged(
    tg: TelegramWorld,
) -> None:
    """A press under a message in a group (one forwarded there) is no turn of the group's
    conversation: the spinner stops, nothing is sent, nothing is kept."""
    group = -1001234567890
    update = {
        "update_id": tg.next_update_id(),
        "callback_query": {
            "id": "cq-group-1",
            "from": {"id": USER_ID, "is_bot": False, "first_name": "Li", "language_code": "en"},
            "chat_instance": "ci-g",
            "message": {
                "message_id": 99,
                "date": 1_795_399_200,
                "chat": {"id": group, "type": "supergroup", "title": "Neighbours"},
                "from": {"id": 123456789, "is_bot": True, "first_name": "Shouwen"},
                "text": "menu",
            },
            "data": "progress:mine",
        },
    }
    since = len(tg.session.calls)
    response = await tg.post(update)
    assert response.status == 200
    assert [a.callback_query_id for a in tg.session.answered(since)] == ["cq-group-1"]
    assert tg.session.sent(since) == []
    for chat in (group, USER_ID):
        raw, _seq = await tg.runtime.store.load(f"telegram:{chat}")
        assert raw is None


# --- Contact sharing ---------------------------------------------------------------------


async def test_sharing_ones_own_contact_verifies_the_phone(tg: TelegramWorld) -> None:
    customer = tg.customer()
    answer = await customer.say("my cases")
    assert "share your phone number" in answer
    markup = customer.last[-1].reply_markup
    assert isinstance(markup, ReplyKeyboardMarkup) and markup.one_time_keyboard
    [[share]] = markup.keyboard
    assert share.request_contact is True
    answer = await customer.share_contact("8613800138000")  # as Telegram gives it: no "+"
    assert "138****8000 is verified" in answer and PHONE not in answer
    assert isinstance(customer.last[0].reply_markup, ReplyKeyboardRemove)
    state = await tg.state()
    assert state.customer == tg.runtime.domain.customers.id_for(PHONE)
    assert tg.sms.sent == []  # no one-time code needed


async def test_someone_elses_contact_does_not_verify(tg: TelegramWorld) -> None:
    customer = tg.customer()
    await customer.say("my cases")
    answer = await customer.share_contact("+8613800138000", user_id=USER_ID + 1)
    assert "not your own" in answer
    assert isinstance(customer.last[-1].reply_markup, ReplyKeyboardMarkup)  # asked again
    assert (await tg.state()).customer is None
    # A contact without a Telegram account behind it proves nothing either.
    update = customer.message(contact={"phone_number": "+8613800138000", "first_name": "Li"})
    assert "not your own" in plain(await customer.send(update))
    assert (await tg.state()).customer is None


# --- Buttons whose payload is longer than callback data ------------------------------


async def test_a_long_payload_rides_on_a_short_token_and_comes_back(tg: TelegramWorld) -> None:
    customer = tg.customer()
    await customer.say("/start")
    long_payload = "cmd:language:" + "x" * 80
    await channel(tg).deliver(str(USER_ID), [Reply("Pick", (Button("Long", long_payload),))], "en")
    [message] = tg.session.sent()[-1:]
    [(_title, data)] = buttons(message)
    assert len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES and data.startswith("~")
    assert await tg.edge.sender.callbacks.decode(str(USER_ID), data) == long_payload
    # The same payload shown again gets the same token.
    assert (await tg.edge.sender.callbacks.encode(str(USER_ID), [long_payload]))[
        long_payload
    ] == data
    # Pressed, the button is its payload again: a language command with no language we know.
    customer.last = [message]
    assert "Please choose a language." in await customer.press("cmd:language:xxx")


async def test_an_unknown_button_is_answered_and_called_no_longer_valid(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    await customer.say("/start")
    assert await tg.edge.sender.callbacks.decode(str(USER_ID), "~gone") == EXPIRED
    since = len(tg.session.calls)
    answer = plain(await customer.send(customer.press_update(customer.last[0], "~gone")))
    assert tg.session.answered(since)
    assert "no longer valid" in answer


# --- Rendering: escaping, cards, agents, long replies ---------------------------------


class _Tags(HTMLParser):
    """Checks Telegram HTML: only its tags, balanced; keeps the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ("b", "i", "code") and not self.open, tag
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_text(html_text: str) -> str:
    parser = _Tags()
    parser.feed(html_text)
    parser.close()
    assert not parser.open
    return "".join(parser.text)


async def test_html_in_texts_cards_and_names_is_escaped(tg: TelegramWorld) -> None:
    sneaky = "<script>alert('x')</script> & <b>bold</b> &amp;"
    card = Card(
        "case",
        f"Case {sneaky}",
        number="C2611230042",
        status="<i>received</i>",
        due="Nov 24, 2026, 10:00:00 AM",
        fields=(CardField("Description", sneaky),),
    )
    await channel(tg).deliver(str(USER_ID), [Reply(f"You said: {sneaky}", card=card)], "en")
    [message] = tg.session.sent()
    assert "<script>" not in message.text and "&lt;script&gt;" in message.text
    shown = telegram_text(message.text)
    assert shown.count(sneaky) == 3
    assert "<code>C2611230042</code>" in message.text
    assert "⏰ Nov 24, 2026" in shown and "· <i>received</i>" in shown


def test_an_agents_entry_shows_the_agents_name() -> None:
    entry = Entry(1, "agent", "Hello, I am <here>", 0.0, author="Wang <Support>")
    [message] = messages([Said.of(entry)], {})
    assert message.text == "<b>Wang &lt;Support&gt;</b>\nHello, I am &lt;here&gt;"


async def test_an_agent_talks_with_a_telegram_customer_through_the_outbox(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    assert "queue" in await customer.say("human")
    agent = AgentRef("wang", "Wang <Support>")
    handoff = tg.runtime.desk.handoff
    conversation = f"telegram:{USER_ID}"
    since = len(tg.session.calls)
    await handoff.accept(conversation, agent)
    await handoff.say(conversation, agent, "Hi, I am on it <3")
    await tg.runtime.domain.outbox.drain("t")
    said = plain(tg.session.sent(since))
    assert "Wang <Support> from customer service is now with you." in said
    assert "Hi, I am on it <3" in said
    assert "&lt;3" in tg.session.sent(since)[-1].text
    # While the agent holds the conversation, the bot stays silent on Telegram.
    assert await customer.say("Thanks, my router is blinking red") == ""


async def test_a_notice_retried_by_the_outbox_sends_only_what_had_not_gone(
    tg: TelegramWorld,
) -> None:
    """An agent's two lines; Telegram fails to take the second once. The outbox retries
    the notice, and the customer reads each line once."""
    await tg.customer().say("/start")
    lines = [
        Entry(1, "agent", "First line from the agent.", 0.0, author="Wang"),
        Entry(2, "agent", "Second line from the agent.", 0.0, author="Wang"),
    ]
    outbox = tg.runtime.domain.outbox
    await outbox.relay(f"telegram:{USER_ID}", "en", lines)
    since = len(tg.session.calls)
    tg.session.fail_next(None, lambda method: TelegramNetworkError(method, "connection reset"))
    await outbox.drain("t")  # the first line went, the second waits for a retry
    assert plain(tg.session.taken(since)) == "Wang: First line from the agent."
    tg.clock.advance(3600)
    await outbox.drain("t")
    said = plain(tg.session.taken(since))
    assert said.count("First line from the agent.") == 1, said
    assert said.count("Second line from the agent.") == 1, said


async def test_a_list_sent_in_full_is_forgotten_so_the_same_list_goes_again(
    tg: TelegramWorld,
) -> None:
    chat = str(USER_ID)
    replies = [Reply("Your case was resolved."), Reply("Anything else?")]
    tg.session.fail_next(None, lambda method: TelegramNetworkError(method, "connection reset"))
    with pytest.raises(TelegramNetworkError):
        await channel(tg).deliver(chat, replies, "en")
    redis = tg.runtime.redis.commands
    [progress] = await redis.keys(f"sw:{{c:telegram:{chat}}}:sent:*")
    assert await redis.get(progress) == "1" and 0 < await redis.ttl(progress) <= 86_400
    await channel(tg).deliver(chat, replies, "en")  # the rest
    await channel(tg).deliver(chat, replies, "en")  # the same notice later: in full
    assert [m.text for m in tg.session.taken()] == [
        "Your case was resolved.",
        "Anything else?",
        "Your case was resolved.",
        "Anything else?",
    ]
    assert await redis.keys(f"sw:{{c:telegram:{chat}}}:sent:*") == []


async def test_a_long_reply_is_split_cleanly_with_the_keyboard_on_the_last_part(
    tg: TelegramWorld,
) -> None:
    paragraph = "This sentence & that one < another. " * 30  # ~1,100 characters
    text = "\n\n".join(f"{n}. {paragraph.strip()}" for n in range(1, 9))
    reply = Reply(text, (Button("Menu", "cmd:menu"),))
    await channel(tg).deliver(str(USER_ID), [reply], "en")
    sent = tg.session.sent()
    assert len(sent) > 1
    assert all(utf16(m.text) <= MAX_MESSAGE for m in sent)
    assert [buttons(m) for m in sent[:-1]] == [[]] * (len(sent) - 1)
    assert buttons(sent[-1]) == [("Menu", "cmd:menu")]
    parts = [telegram_text(m.text) for m in sent]
    # Cut between paragraphs: each part starts a numbered paragraph; nothing lost.
    assert all(part[0].isdigit() for part in parts)
    assert "\n\n".join(parts) == text


def test_splitting_falls_back_to_lines_sentences_words_then_characters() -> None:
    sentences = "一句话说完了。" * 1000  # 7,000 characters, no spaces, no lines
    parts = split_html([[Span(sentences)]])
    assert len(parts) == 2 and all(p.endswith("。") for p in parts)
    assert "".join(parts) == sentences
    run = "&" * 5000  # one unbroken run: cut by characters, never inside "&amp;"
    parts = split_html([[Span(run, "b")]])
    assert "".join(telegram_text(p) for p in parts) == run
    assert all(utf16(p) <= MAX_MESSAGE and p.startswith("<b>") for p in parts)
    words = " ".join(["word"] * 2000)
    parts = split_html([[Span(words)]])
    assert all(not p.startswith(" ") and p.split()[-1] == "word" for p in parts)
    assert " ".join(parts) == words
    emoji = "😀" * 3000  # two UTF-16 units each, as Telegram counts them
    parts = split_html([[Span(emoji)]])
    assert [utf16(p) for p in parts] == [4096, 1904]


# --- Telegram's limits and errors -----------------------------------------------------


async def test_flood_control_is_waited_out_and_the_message_sent(tg: TelegramWorld) -> None:
    tg.session.fail_next(
        lambda method: TelegramRetryAfter(method, "Too Many Requests: retry after 3", 3)
    )
    await channel(tg).deliver(str(USER_ID), [Reply("Your case was resolved.")], "en")
    sent = tg.session.sent()
    assert [m.text for m in sent] == ["Your case was resolved."] * 2
    assert 3 in tg.pace.slept


async def test_endless_flood_control_fails_the_delivery_for_a_later_retry(
    tg: TelegramWorld,
) -> None:
    tg.session.fail_next(*[lambda m: TelegramRetryAfter(m, "Too Many Requests", 1)] * 3)
    with pytest.raises(TelegramRetryAfter):
        await channel(tg).deliver(str(USER_ID), [Reply("Hello")], "en")
    tg.session.fail_next(lambda m: TelegramRetryAfter(m, "Too Many Requests", 600))
    with pytest.raises(TelegramRetryAfter):  # not sat out inside a request
        await channel(tg).deliver(str(USER_ID), [Reply("Hello")], "en")


@pytest.mark.parametrize(
    "failure",
    [
        lambda m: TelegramForbiddenError(m, "Forbidden: bot was blocked by the user"),
        lambda m: TelegramBadRequest(m, "Bad Request: chat not found"),
    ],
)
async def test_a_blocked_bot_or_a_missing_chat_is_unreachable(
    tg: TelegramWorld, failure: Any
) -> None:
    tg.session.fail_next(failure)
    with pytest.raises(Unreachable):
        await channel(tg).deliver(str(USER_ID), [Reply("Hello")], "en")


async def test_a_customer_who_blocked_the_bot_does_not_make_telegram_retry(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    tg.session.fail_next(lambda m: TelegramForbiddenError(m, "Forbidden: bot was blocked"))
    response = await tg.post(customer.message(text="/start"))
    assert response.status == 200


async def test_the_pace_spaces_messages_to_one_chat_but_not_other_chats(
    handles: RedisHandles,
) -> None:
    clock = MovableClock()
    pace = Pace(handles.commands, clock)
    waits = [await pace.reserve("sw:{c:telegram:1}:pace", 1000, CHAT_BURST) for _ in range(6)]
    assert waits == [0, 0, 0, 1.0, 2.0, 3.0]  # a burst of three, then one a second
    assert await pace.reserve("sw:{c:telegram:2}:pace", 1000, CHAT_BURST) == 0
    clock.advance(10)
    assert await pace.reserve("sw:{c:telegram:1}:pace", 1000, CHAT_BURST) == 0
    # Overall, evenly spaced: 30 a second.
    overall = [await pace.reserve("sw:{telegram}:pace", 34, 1) for _ in range(3)]
    assert overall == [0, 0.034, 0.068]
    # Nothing stays behind once the moment has passed.
    assert 0 < await handles.commands.pttl("sw:{telegram}:pace") <= 3 * 34


async def test_messages_to_one_chat_wait_their_turn(tg: TelegramWorld) -> None:
    replies = [Reply(f"Message {n}") for n in range(5)]
    await channel(tg).deliver(str(USER_ID), replies, "en")
    assert len(tg.session.sent()) == 5
    start = tg.session.sent_at[0]
    moments = [round(at - start, 3) for at in tg.session.sent_at]
    # Three at once (a thirtieth of a second apart, the bot's overall pace), then one a second.
    assert moments == [0, 0.034, 0.068, 1.0, 2.0]


# --- The webhook's door -----------------------------------------------------------------


async def test_the_webhook_refuses_a_missing_or_wrong_secret(tg: TelegramWorld) -> None:
    update = tg.customer().message(text="/start")
    missing = await tg.post(update, secret=None)
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "missing_secret"
    wrong = await tg.post(update, secret="not-the-secret")
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "wrong_secret"
    assert tg.session.calls == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "invalid_update"),
        (b'{"update_id": "x"}', "invalid_update"),
        (b'{"update_id": 1, "message": {"text": 5}}', "invalid_update"),
    ],
)
async def test_a_malformed_body_is_a_400(tg: TelegramWorld, body: bytes, code: str) -> None:
    response = await tg.post(body)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code


async def test_an_update_of_a_kind_we_do_not_take_is_acknowledged(tg: TelegramWorld) -> None:
    response = await tg.post(b'{"update_id": 7}')
    assert response.status == 200
    assert tg.session.calls == []


async def test_an_oversize_body_is_a_413(tg: TelegramWorld) -> None:
    limit = tg.runtime.settings.max_body_bytes
    update = tg.customer().message(text="x" * (limit + 1))
    response = await tg.post(update)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"


def test_the_secret_is_derived_from_the_token_unless_set() -> None:
    derived = webhook_secret(Settings(telegram_token=TOKEN), TOKEN)
    assert len(derived) == 64 and TOKEN not in derived
    assert derived == webhook_secret(Settings(telegram_token=TOKEN), TOKEN)
    assert derived != webhook_secret(Settings(), "987:other")
    assert webhook_secret(Settings(telegram_secret="s3cret"), TOKEN) == "s3cret"


# --- Wiring and the command ----------------------------------------------------------


async def test_a_token_in_the_settings_opens_the_edge(services: Services) -> None:
    with_token = build_runtime(
        Settings(telegram_token=TOKEN), services=services, redis=connect(None)
    )
    app = build_app(with_token, background=False)
    assert TELEGRAM in app
    assert PATH in [r.canonical for r in app.router.resources()]
    # A server starting and stopping never calls Telegram (the webhook is set by command).
    session = RecordingSession()
    app[TELEGRAM].bot.session = session
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/health")).status == 200
    assert session.calls == []
    without = build_app(build_runtime(Settings(), services=services, redis=connect(None)))
    assert TELEGRAM not in without
    assert PATH not in [r.canonical for r in without.router.resources()]
    with pytest.raises(SettingsError, match="not a bot token"):
        build_app(build_runtime(Settings(telegram_token="nonsense"), services=services))


def _args(**given: object) -> argparse.Namespace:
    args = {"polling": False, "set_webhook": None, "delete_webhook": False, **given}
    return argparse.Namespace(**args)


def test_the_command_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert telegram_cli.main(Settings(), _args(polling=True)) == 2
    assert "SHOUWEN_TELEGRAM_TOKEN" in capsys.readouterr().err


def test_setting_the_webhook_needs_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert telegram_cli.main(Settings(telegram_token=TOKEN), _args(set_webhook="")) == 2
    assert "SHOUWEN_PUBLIC_URL" in capsys.readouterr().err


def test_the_webhook_is_set_once_with_the_secret_and_the_updates_we_take() -> None:
    session = RecordingSession()
    settings = Settings(telegram_token=TOKEN, public_url="https://shouwen.example.com")
    assert telegram_cli.main(settings, _args(set_webhook=""), session=session) == 0
    [call] = session.calls
    assert isinstance(call, SetWebhook)
    assert call.url == "https://shouwen.example.com/telegram/webhook"
    assert call.secret_token == webhook_secret(settings, TOKEN)
    assert call.allowed_updates == ALLOWED_UPDATES
    other = "https://elsewhere.example.com/telegram/webhook"
    assert telegram_cli.main(settings, _args(set_webhook=other), session=session) == 0
    assert isinstance(session.calls[-1], SetWebhook) and session.calls[-1].url == other
    assert telegram_cli.main(settings, _args(delete_webhook=True), session=session) == 0
    assert isinstance(session.calls[-1], DeleteWebhook)


def test_the_router_takes_exactly_the_updates_the_webhook_asks_for(services: Services) -> None:
    app = build_app(
        build_runtime(Settings(telegram_token=TOKEN), services=services, redis=connect(None))
    )
    assert sorted(app[TELEGRAM].dispatcher.resolve_used_update_types()) == sorted(ALLOWED_UPDATES)


async def test_polling_answers_with_the_same_dispatcher(services: Services) -> None:
    runtime = build_runtime(Settings(telegram_token=TOKEN), services=services, redis=connect(None))
    session = RecordingSession()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1_795_399_200,
            "chat": {"id": USER_ID, "type": "private"},
            "from": {"id": USER_ID, "is_bot": False, "first_name": "Li", "language_code": "en"},
            "text": "/start",
        },
    }
    session.updates.append([Update.model_validate(update)])
    polling = asyncio.create_task(telegram_cli.poll(runtime, session=session, handle_signals=False))
    try:
        async with asyncio.timeout(10):
            while not session.sent():  # noqa: ASYNC110 - the session has nothing to wait on
                await asyncio.sleep(0.01)
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
    assert isinstance(session.calls[0], DeleteWebhook)  # a webhook would starve polling
    assert "What can I do for you?" in plain(session.sent())


# --- One customer across channels -----------------------------------------------------


async def resolve(tg: TelegramWorld, number: str, note: str) -> int:
    """An agent takes the case and resolves it (its notices delivered); where the
    resolution's notice starts among the recorded calls."""
    cases = tg.runtime.domain.cases
    for state in ("assigned", "in_progress"):
        await cases.move(number, state, actor="agent:1")
    await tg.runtime.domain.outbox.drain("t")
    since = len(tg.session.calls)
    await cases.move(number, "resolved", actor="agent:1", note=note)
    return since


async def verify_by_contact(customer: TelegramCustomer) -> None:
    await customer.say("my cases")
    assert "is verified" in await customer.share_contact("8613800138000")


async def test_a_complaint_filed_on_telegram_is_followed_up_on_telegram(
    tg: TelegramWorld,
) -> None:
    customer = tg.customer()
    await verify_by_contact(customer)
    await customer.say("I want to file a complaint")
    await customer.press("complain:cat:billing")
    answer = await customer.say("I was charged 50 yuan I never agreed to.")
    number = CASE_NUMBER.findall(answer)[0]
    assert (await tg.state()).mode == "bot"
    case = await tg.runtime.domain.cases.get(number)
    assert case is not None and case.customer == tg.runtime.domain.customers.id_for(PHONE)

    since = await resolve(tg, number, "Refunded")
    assert await tg.runtime.domain.outbox.drain("t") == 1
    sent = tg.session.sent(since)
    assert {m.chat_id for m in sent} == {USER_ID}
    assert f"Your case {number} has been resolved" in plain(sent)
    # The notice asks for a rating; the customer rates with its button.
    customer.last = sent
    data = [d for m in sent for _t, d in buttons(m)]
    assert any(d.startswith("rate:") for d in data), data
    answer = await customer.press(f"rate:{number}:5")
    assert "thank" in answer.lower()
    rated = await tg.runtime.domain.cases.get(number)
    assert rated is not None and rated.rating == 5


async def test_a_case_from_the_web_chat_is_followed_up_where_the_customer_last_spoke(
    tg: TelegramWorld,
) -> None:
    web = Chat(tg.client, "en")
    await web.say("my cases")
    await web.say(PHONE)
    assert "verified" in await web.say(tg.sms.last_code(PHONE))
    await web.say("I want to file a complaint")
    await web.press("complain:cat:billing", "Billing dispute")
    [number] = CASE_NUMBER.findall(await web.say("I was charged 50 yuan I never agreed to."))

    tg.clock.advance(60)  # later, the same person writes on Telegram
    customer = tg.customer()
    await verify_by_contact(customer)
    since = await resolve(tg, number, "Refunded")
    assert await tg.runtime.domain.outbox.drain("t") == 1
    sent = tg.session.sent(since)
    assert {m.chat_id for m in sent} == {USER_ID}
    assert f"Your case {number} has been resolved" in plain(sent)
    assert not [e for e in await web.events() if "has been resolved" in e["text"]]
