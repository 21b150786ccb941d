"""Turns: Shouwen's engine against the same dialog written as an aiogram 3 FSM bot.

    .venv/bin/python bench/turns.py [--conversations 200] [--turns-per-conversation 5]
                                    [--redis-url URL] [--rounds 3] [--think-ms 1000]
                                    [--json PATH] [--profile]

Both sides run in this process on the same real Redis database (emptied first and last;
their keys do not overlap), with the same understanding work: the baseline's handlers call
the same `services.nlu` and `services.faq` to pick the same answers, so the comparison is of
the runtime around them (dispatcher, storage, serialisation). Each side runs:

- a warm-up round (connections, script cache), left out of every figure;
- `--rounds` saturated rounds, the sides taking turns round by round: every conversation
  sends its next message as soon as the previous one is answered. This gives turns/s; its
  latency is mostly queueing (Little's law: latency = concurrency / throughput);
- a paced round: new conversations with a customer's pause (`--think-ms`, varied +-50 %)
  between messages. Its latency is what a customer waits for at that concurrency, and the
  p99 target is judged on it.

A Redis round trip is one `send_packed_command` of redis-py's asyncio connection, counted
against the turn whose task sent it (a context variable); connection handshakes (SELECT,
CLIENT SETINFO) are counted apart. The aiogram bot talks to a recording session instead of
Telegram: it records each request and returns what Telegram would, without serialising the
request to JSON as a real session does (a cost the baseline is spared). Shouwen's two round
trips also lock the conversation, de-duplicate the message id and append both sides of the
turn to the transcript; the aiogram bot, on aiogram's defaults, does none of that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import random
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import aiohttp
import psutil
import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.methods.base import TelegramMethod, TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from bot.dialog import Services
from bot.engine import Engine
from bot.i18n import Text, _
from bot.messages import Button, Inbound
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import keys
from bot.store.client import connect

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BOT_ID = 42
BOT_TOKEN = f"{BOT_ID}:TEST"  # the shape aiogram validates: <bot id>:<secret>
# Chat ids of each phase start here, so no phase sees another's conversations.
WARM_UP, SATURATED, PACED, PROFILED = 1_000_000, 2_000_000, 8_000_000, 9_000_000
SERVER_START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    """One customer turn: a text, or pressing the first button of the previous reply."""

    text: str = ""
    press: bool = False


DIALOG = (
    Step("你好"),
    Step("国际漫游怎么开通"),
    Step(press=True),
    Step("宽带太慢了怎么办"),
    Step("谢谢"),
)


class WrongAnswer(Exception):
    """A side answered a turn with nothing, too much, or not at all."""


# ---------------------------------------------------------------- Redis round trips


@dataclass(slots=True)
class TripCount:
    """Round trips of the turn running in this task, and connection handshakes apart."""

    turn: int = 0
    handshake: int = 0


_TRIPS: ContextVar[TripCount | None] = ContextVar("bench_trips", default=None)
_IN_HANDSHAKE: ContextVar[bool] = ContextVar("bench_in_handshake", default=False)


def count_round_trips() -> None:
    """Count every `send_packed_command` (one round trip) against the running turn."""
    send = AbstractConnection.send_packed_command
    handshake = AbstractConnection.on_connect_check_health

    async def counted_send(
        self: AbstractConnection, command: Any, check_health: bool = True
    ) -> None:
        counter = _TRIPS.get()
        if counter is not None:
            if _IN_HANDSHAKE.get():
                counter.handshake += 1
            else:
                counter.turn += 1
        await send(self, command, check_health)

    async def marked_handshake(self: AbstractConnection, check_health: bool = True) -> None:
        token = _IN_HANDSHAKE.set(True)
        try:
            await handshake(self, check_health)
        finally:
            _IN_HANDSHAKE.reset(token)

    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    AbstractConnection.on_connect_check_health = marked_handshake  # type: ignore[method-assign]


# ---------------------------------------------------------------- the sides


class Side(Protocol):
    """A bot answering the dialog: Shouwen's engine or the aiogram baseline."""

    name: str

    async def turn(self, chat: int, step: Step) -> list[str]:
        """Answer one step of `chat`; the texts sent back. Raises WrongAnswer."""

    def idle_keys(self, chat: int) -> dict[str, str]:
        """What a conversation keeps in Redis between turns, by kind."""

    def turn_keys(self, chat: int) -> list[str]:
        """Keys that live only during a turn: none may be left once the turns are over."""


class ShouwenSide:
    """Turns through `Engine.handle`, as the web chat connector makes them."""

    name = "Shouwen"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._buttons: dict[int, tuple[Button, ...]] = {}
        self._message_ids = itertools.count(1)

    async def turn(self, chat: int, step: Step) -> list[str]:
        text, payload = step.text, None
        if step.press:
            button = self._first_button(chat)
            text, payload = button.title, button.payload
        inbound = Inbound(
            "web",
            f"bench-{chat}",
            text=text,
            payload=payload,
            message_id=f"m{next(self._message_ids)}",
        )
        result = await self._engine.handle(inbound)
        if not result.replies or result.duplicate:
            raise WrongAnswer(f"no reply to {text!r}")
        self._buttons[chat] = next((r.buttons for r in result.replies if r.buttons), ())
        return [reply.text for reply in result.replies]

    def idle_keys(self, chat: int) -> dict[str, str]:
        conversation = f"web:bench-{chat}"
        return {
            "state": keys.conversation(conversation),
            "transcript": keys.conversation_log(conversation),
            "seen ids": keys.conversation_seen(conversation),
        }

    def turn_keys(self, chat: int) -> list[str]:
        return [keys.conversation_lock(f"web:bench-{chat}")]

    def _first_button(self, chat: int) -> Button:
        buttons = self._buttons.get(chat, ())
        if not buttons:
            raise WrongAnswer("the previous reply had no button to press")
        return buttons[0]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the baseline sends: text and (title, callback data) buttons."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    language: str = "zh"
    faq_id: str | None = None


# The msgids Shouwen's flows use, so both sides send the same words.
GREETING = _(
    "Hello! I am StarLink Telecom's assistant. Ask me about plans, bills, "
    "broadband, roaming and more. What can I do for you?"
)
THANKS = _("You're welcome! Anything else I can help with?")
NOT_UNDERSTOOD = _(
    "Sorry, I didn't understand that. You can ask me about plans, bills, "
    "broadband, roaming and more, or pick a topic."
)
STALE_BUTTON = _("That button is no longer valid. Here is the main menu.")
COMMON_QUESTIONS = _("Common questions")
AGENT = _("Talk to an agent")
FAQ_PAYLOAD = "consult:faq:"


class Answers:
    """The baseline's understanding: the same NLU and FAQ calls Shouwen's flows make."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def for_text(self, text: str) -> Answer:
        nlu, faq = self._services.nlu, self._services.faq
        language = nlu.detect_language(text) or self._services.settings.default_locale
        intent = nlu.parse(text, language).intent.name
        if intent in ("greet", "thanks"):
            menu = ((COMMON_QUESTIONS, "consult:topics"), (AGENT, "cmd:human"))
            return self._say(language, GREETING if intent == "greet" else THANKS, menu)
        matches = faq.match(text, language, limit=3)
        if matches and matches[0].score >= faq.MATCH_THRESHOLD:
            return self.for_payload(FAQ_PAYLOAD + matches[0].entry.id, language)
        return self._say(language, NOT_UNDERSTOOD, ())

    def for_payload(self, payload: str, language: str) -> Answer:
        faq, settings = self._services.faq, self._services.settings
        entry = faq.get(language, payload.removeprefix(FAQ_PAYLOAD))
        if entry is None:
            return self._say(language, STALE_BUTTON, ())
        related = (faq.get(language, rid) for rid in entry.related)
        buttons = [(r.question, FAQ_PAYLOAD + r.id) for r in related if r is not None]
        buttons.append((self._render(language, AGENT), "cmd:human"))
        text = entry.answer.replace("{hotline}", settings.hotline).strip()
        return Answer(text, tuple(buttons), language, entry.id)

    def _say(self, language: str, text: Text, buttons: Sequence[tuple[Text, str]]) -> Answer:
        rendered = tuple((self._render(language, title), data) for title, data in buttons)
        return Answer(self._render(language, text), rendered, language)

    def _render(self, language: str, text: Text) -> str:
        return self._services.catalogs.render(language, text)


class Dialog(StatesGroup):
    """Where a baseline conversation stands: one state per step of the dialog."""

    greeted = State()
    asked = State()
    followed = State()
    troubled = State()
    thanked = State()


def keyboard(answer: Answer) -> InlineKeyboardMarkup | None:
    if not answer.buttons:
        return None
    rows = [[InlineKeyboardButton(text=t, callback_data=d)] for t, d in answer.buttons]
    return InlineKeyboardMarkup(inline_keyboard=rows)


class FaqButton(CallbackData, prefix="consult"):
    """Shouwen's FAQ button payload, `consult:faq:<id>`, as aiogram's callback data."""

    kind: str
    id: str


def baseline_router(answers: Answers) -> Router:
    """The dialog as an aiogram FSM: a handler per state, each answering and moving on.

    Filters are aiogram's async ones (`StateFilter`, `CallbackData.filter`): a bare
    `State` or `F.data...` as a filter is sync, and aiogram runs sync filters in a thread,
    which would slow the baseline down for a reason a careful author avoids.
    """
    router = Router(name="bench-baseline")

    def answering(next_state: State) -> Callable[[Message, FSMContext], Any]:
        async def handler(message: Message, state: FSMContext) -> None:
            answer = answers.for_text(message.text or "")
            await message.answer(answer.text, reply_markup=keyboard(answer))
            await state.update_data(locale=answer.language, faq=answer.faq_id)
            await state.set_state(next_state)

        return handler

    router.message(StateFilter(None, Dialog.thanked))(answering(Dialog.greeted))
    router.message(StateFilter(Dialog.greeted))(answering(Dialog.asked))
    router.message(StateFilter(Dialog.followed))(answering(Dialog.troubled))
    router.message(StateFilter(Dialog.troubled))(answering(Dialog.thanked))

    @router.callback_query(StateFilter(Dialog.asked), FaqButton.filter(F.kind == "faq"))
    async def follow_up(callback: CallbackQuery, state: FSMContext) -> None:
        data = await state.get_data()
        answer = answers.for_payload(callback.data or "", data.get("locale", "zh"))
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.answer(answer.text, reply_markup=keyboard(answer))
        await state.set_data({**data, "faq": answer.faq_id})
        await state.set_state(Dialog.followed)

    return router


class RecordingSession(BaseSession):
    """Stands in for Telegram: records each request and answers as the Bot API would."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: defaultdict[int, int] = defaultdict(int)
        self.last: dict[int, SendMessage] = {}
        self.callbacks_answered: defaultdict[str, int] = defaultdict(int)
        self._message_ids = itertools.count(1)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (the signature aiogram calls)
    ) -> TelegramType:
        if isinstance(method, SendMessage):
            return cast(TelegramType, self._sent(bot, method))
        if isinstance(method, AnswerCallbackQuery):
            self.callbacks_answered[method.callback_query_id] += 1
            return cast(TelegramType, True)
        raise NotImplementedError(f"the benchmark does not expect {type(method).__name__}")

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (the signature aiogram calls)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the benchmark downloads nothing")
        yield b""  # an async generator, like the method it overrides

    async def close(self) -> None:
        return None

    def _sent(self, bot: Bot, method: SendMessage) -> Message:
        chat = int(method.chat_id)
        self.sent[chat] += 1
        self.last[chat] = method
        markup = method.reply_markup
        return Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat, type="private"),
            from_user=User(id=BOT_ID, is_bot=True, first_name="Shouwen"),
            text=method.text,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        ).as_(bot)


class AiogramSide:
    """Turns as Telegram updates fed to an aiogram Dispatcher with RedisStorage."""

    name = "aiogram FSM"

    def __init__(self, dispatcher: Dispatcher, bot: Bot, session: RecordingSession) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._session = session
        self._ids = itertools.count(1)
        storage = cast(RedisStorage, dispatcher.storage)
        self._key_builder = storage.key_builder

    async def turn(self, chat: int, step: Step) -> list[str]:
        before = self._session.sent[chat]
        update = self._press(chat) if step.press else self._message(chat, step.text)
        handled = await self._dispatcher.feed_update(self._bot, update)
        sent = self._session.sent[chat] - before
        if handled is UNHANDLED or sent != 1:
            raise WrongAnswer(f"{sent} messages sent for one update (handled: {handled})")
        query = update.callback_query
        if query is not None and self._session.callbacks_answered[query.id] != 1:
            raise WrongAnswer("the button press was not answered")
        return [self._session.last[chat].text]

    def idle_keys(self, chat: int) -> dict[str, str]:
        key = StorageKey(bot_id=BOT_ID, chat_id=chat, user_id=chat)
        return {part: self._key_builder.build(key, part) for part in ("state", "data")}

    def turn_keys(self, chat: int) -> list[str]:
        return []  # DisabledEventIsolation, aiogram's default, keeps no lock in Redis

    def _message(self, chat: int, text: str) -> Update:
        message = {**self._envelope(chat), "from": _customer(chat), "text": text}
        return self._update({"message": message})

    def _press(self, chat: int) -> Update:
        last = self._session.last.get(chat)
        markup = last.reply_markup if last is not None else None
        if last is None or not isinstance(markup, InlineKeyboardMarkup):
            raise WrongAnswer("the previous reply had no button to press")
        shown = {
            **self._envelope(chat),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Shouwen"},
            "text": last.text,
        }
        query = {
            "id": str(next(self._ids)),
            "from": _customer(chat),
            "chat_instance": f"ci{chat}",
            "data": markup.inline_keyboard[0][0].callback_data,
            "message": shown,
        }
        return self._update({"callback_query": query})

    def _envelope(self, chat: int) -> dict[str, Any]:
        chat_data = {"id": chat, "type": "private", "first_name": "Customer"}
        return {"message_id": next(self._ids), "date": int(time.time()), "chat": chat_data}

    def _update(self, body: dict[str, Any]) -> Update:
        return Update.model_validate(
            {"update_id": next(self._ids), **body}, context={"bot": self._bot}
        )


def _customer(chat: int) -> dict[str, Any]:
    return {"id": chat, "is_bot": False, "first_name": "Customer", "language_code": "zh"}


@contextlib.asynccontextmanager
async def shouwen_side(services: Services, url: str) -> AsyncIterator[ShouwenSide]:
    from bot.app import build_runtime

    runtime = build_runtime(Settings(), services=services, redis=connect(url))
    try:
        yield ShouwenSide(runtime.engine)
    finally:
        await runtime.redis.close()


@contextlib.asynccontextmanager
async def aiogram_side(services: Services, url: str) -> AsyncIterator[AiogramSide]:
    storage = RedisStorage(aioredis.Redis.from_url(url))
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(baseline_router(Answers(services)))
    session = RecordingSession()
    bot = Bot(token=BOT_TOKEN, session=session)
    try:
        yield AiogramSide(dispatcher, bot, session)
    finally:
        await bot.session.close()
        await dispatcher.storage.close()


# ---------------------------------------------------------------- running conversations


@dataclass(slots=True)
class Phase:
    """What the conversations of one phase measured."""

    latencies: list[float] = field(default_factory=list)
    trips: list[int] = field(default_factory=list)
    handshakes: int = 0
    seconds: float = 0.0
    round_rates: list[float] = field(default_factory=list)  # turns/s of each round
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)  # the first chat's first replies


async def run_round(
    side: Side, chats: range, turns: int, think_s: float, phase: Phase, seed: int
) -> None:
    """Every chat in `chats` talks at once; each waits `think_s` (+-50 %) between turns."""
    rng = random.Random(seed)
    pauses = {chat: _pauses(rng, turns, think_s) for chat in chats}
    recorded = chats.start if not phase.transcript else None
    done_before = len(phase.latencies)
    started = time.perf_counter()
    await asyncio.gather(
        *(converse(side, chat, turns, pauses[chat], phase, chat == recorded) for chat in chats)
    )
    seconds = time.perf_counter() - started
    phase.seconds += seconds
    phase.round_rates.append((len(phase.latencies) - done_before) / seconds)


def _pauses(rng: random.Random, turns: int, think_s: float) -> list[float]:
    if think_s <= 0:
        return [0.0] * turns
    # The first pause staggers the start, so customers do not all type at the same instant.
    return [rng.uniform(0, think_s)] + [rng.uniform(0.5, 1.5) * think_s for _ in range(1, turns)]


async def converse(
    side: Side, chat: int, turns: int, pauses: list[float], phase: Phase, record: bool
) -> None:
    """One customer's dialog, each turn timed and its round trips counted."""
    counter = TripCount()
    _TRIPS.set(counter)  # this task's context only
    for index in range(turns):
        if pauses[index]:
            await asyncio.sleep(pauses[index])
        counter.turn = 0
        started = time.perf_counter()
        try:
            replies = await side.turn(chat, DIALOG[index % len(DIALOG)])
        except Exception as error:  # any failure is reported, none stops the others
            phase.failures.append(f"{side.name}, chat {chat}, turn {index + 1}: {error!r}")
            return
        phase.latencies.append(time.perf_counter() - started)
        phase.trips.append(counter.turn)
        if record:
            phase.transcript.append(replies[0])
    phase.handshakes += counter.handshake


# ---------------------------------------------------------------- measuring a side


@dataclass(slots=True)
class SideFigures:
    """One side's results, as printed and written to --json."""

    name: str
    turns: int
    turns_per_s: float
    round_turns_per_s: list[float]
    p50_ms: float
    p99_ms: float
    paced_p50_ms: float
    paced_p99_ms: float
    trips_mean: float
    trips_max: int
    handshake_trips: int
    idle_bytes: float
    idle_bytes_by_kind: dict[str, float]
    failures: list[str]
    transcript: list[str]


@dataclass(slots=True)
class Phases:
    """One side's warm-up (discarded), saturated rounds and paced round."""

    warm_up: Phase = field(default_factory=Phase)
    saturated: Phase = field(default_factory=Phase)
    paced: Phase = field(default_factory=Phase)


async def measure(
    sides: Sequence[Side], probe: aioredis.Redis, args: argparse.Namespace
) -> list[SideFigures]:
    """Warm up each side, then saturated rounds taking turns between the sides (so a busy
    neighbour on the machine slows both alike), then a paced round of each side alone."""
    await probe.flushdb()
    n, turns = args.conversations, args.turns_per_conversation
    phases = [Phases() for _ in sides]
    for side, phase in zip(sides, phases, strict=True):
        await run_round(side, _chats(WARM_UP, n), turns, 0.0, phase.warm_up, seed=1)
    for index in range(args.rounds):
        for side, phase in zip(sides, phases, strict=True):
            gc.collect()  # each round starts with no garbage left by the one before
            chats = _chats(SATURATED + index * n, n)
            await run_round(side, chats, turns, 0.0, phase.saturated, seed=2)
    for side, phase in zip(sides, phases, strict=True):
        gc.collect()
        await run_round(side, _chats(PACED, n), turns, args.think_ms / 1000, phase.paced, seed=3)
    measured = _chats(SATURATED, n * args.rounds)
    return [
        await side_figures(side, phase, probe, measured)
        for side, phase in zip(sides, phases, strict=True)
    ]


async def side_figures(
    side: Side, phases: Phases, probe: aioredis.Redis, measured: range
) -> SideFigures:
    """The figures of one side, with Redis bytes of its `measured` conversations, now idle."""
    saturated, paced = phases.saturated, phases.paced
    by_kind = await idle_bytes(probe, [side.idle_keys(chat) for chat in measured])
    failures = phases.warm_up.failures + saturated.failures + paced.failures
    left = [key for chat in measured for key in side.turn_keys(chat)]
    if left and (count := await probe.exists(*left)):
        failures.append(f"{side.name}: {count} turn keys (locks) left behind")
    return SideFigures(
        name=side.name,
        turns=len(saturated.latencies),
        turns_per_s=len(saturated.latencies) / saturated.seconds if saturated.seconds else 0.0,
        round_turns_per_s=saturated.round_rates,
        p50_ms=percentile(saturated.latencies, 50) * 1000,
        p99_ms=percentile(saturated.latencies, 99) * 1000,
        paced_p50_ms=percentile(paced.latencies, 50) * 1000,
        paced_p99_ms=percentile(paced.latencies, 99) * 1000,
        trips_mean=sum(saturated.trips) / max(len(saturated.trips), 1),
        trips_max=max(saturated.trips, default=0),
        handshake_trips=saturated.handshakes + paced.handshakes,
        idle_bytes=sum(by_kind.values()),
        idle_bytes_by_kind=by_kind,
        failures=failures,
        transcript=saturated.transcript,
    )


def _chats(first: int, count: int) -> range:
    return range(first, first + count)


async def idle_bytes(
    probe: aioredis.Redis, conversations: list[dict[str, str]]
) -> dict[str, float]:
    """Mean `MEMORY USAGE` (exact: SAMPLES 0) per conversation, by kind of key."""
    if not conversations:
        return {}
    pipe = probe.pipeline(transaction=False)
    kinds = list(conversations[0])
    for conversation in conversations:
        for kind in kinds:
            pipe.memory_usage(conversation[kind], samples=0)
    sizes = await pipe.execute()
    totals = dict.fromkeys(kinds, 0.0)
    for kind, size in zip(itertools.cycle(kinds), sizes, strict=False):
        totals[kind] += size or 0
    return {kind: total / len(conversations) for kind, total in totals.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def profile_shouwen(side: Side, args: argparse.Namespace, top: int = 25) -> str:
    """One more saturated round of Shouwen under cProfile: the top cumulative entries."""
    profiler = cProfile.Profile()
    phase = Phase()
    gc.collect()
    profiler.enable()
    await run_round(side, _chats(PROFILED, args.conversations), len(DIALOG), 0.0, phase, seed=4)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return f"{len(phase.latencies)} turns profiled\n{out.getvalue()}"


# ---------------------------------------------------------------- understanding, memory, start-up


@dataclass(slots=True)
class Understanding:
    """Per-message cost of the NLU and the FAQ, outside any turn.

    The first pass over the texts is timed apart (its slowest call): lazy set-up inside
    the models would otherwise show up as the steady state's p99.
    """

    nlu_first_ms: float
    nlu_p50_ms: float
    nlu_p99_ms: float
    faq_first_ms: float
    faq_p50_ms: float
    faq_p99_ms: float
    calls: int


def time_understanding(services: Services, calls: int) -> Understanding:
    texts = [step.text for step in DIALOG if step.text]
    language = services.settings.default_locale
    nlu_first, nlu = _time_each(lambda text: services.nlu.parse(text, language), texts, calls)
    faq_first, faq = _time_each(
        lambda text: services.faq.match(text, language, limit=3), texts, calls
    )
    return Understanding(
        nlu_first_ms=nlu_first * 1000,
        nlu_p50_ms=percentile(nlu, 50) * 1000,
        nlu_p99_ms=percentile(nlu, 99) * 1000,
        faq_first_ms=faq_first * 1000,
        faq_p50_ms=percentile(faq, 50) * 1000,
        faq_p99_ms=percentile(faq, 99) * 1000,
        calls=calls,
    )


def _time_each(
    call: Callable[[str], object], texts: list[str], calls: int
) -> tuple[float, list[float]]:
    """The slowest call of a first pass over `texts`, then the times of `calls` more."""
    first = max(_timed(call, text) for text in texts)
    return first, [_timed(call, text) for text in itertools.islice(itertools.cycle(texts), calls)]


def _timed(call: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    call(text)
    return time.perf_counter() - started


def rss_mb(pid: int | None = None) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@dataclass(slots=True)
class StartUp:
    """`shouwen serve` on the embedded store: time until /health says 200, and its RSS."""

    seconds: float | None
    rss_mb: float | None
    error: str | None = None


async def measure_start_up() -> StartUp:
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHOUWEN_")}
    command = [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)]
    started = time.perf_counter()
    server = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        if await _wait_healthy(f"http://127.0.0.1:{port}/health", server):
            return StartUp(time.perf_counter() - started, rss_mb(server.pid))
        stderr = await server.stderr.read() if server.stderr else b""
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        return StartUp(None, None, "no 200 from /health: " + " | ".join(tail))
    finally:
        await _stop(server)


async def _wait_healthy(url: str, server: asyncio.subprocess.Process) -> bool:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while time.monotonic() < deadline and server.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return True
            await asyncio.sleep(0.02)
    return False


async def _stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---------------------------------------------------------------- report


@dataclass(slots=True)
class Report:
    """Everything measured, as printed and written to --json."""

    conversations: int
    turns_per_conversation: int
    rounds: int
    think_ms: float
    services_load_s: float
    rss_before_load_mb: float
    rss_after_load_mb: float
    rss_after_run_mb: float
    understanding: Understanding
    start_up: StartUp
    sides: list[SideFigures]
    cpus: int
    busy_before_pct: float  # the whole machine's CPU use just before the run
    load_average: float  # one-minute load average at the end
    targets: dict[str, bool | None] = field(default_factory=dict)  # None: not measured


def targets(report: Report) -> dict[str, bool | None]:
    shouwen, baseline = report.sides
    rss = report.start_up.rss_mb
    return {
        "Shouwen/aiogram turns/s >= 3.0x": shouwen.turns_per_s >= 3.0 * baseline.turns_per_s,
        f"Shouwen p99 < 20 ms at {report.conversations} conversations (paced)": (
            shouwen.paced_p99_ms < 20.0
        ),
        "Shouwen Redis round trips per ordinary turn <= 2": shouwen.trips_max <= 2,
        "NLU median < 1 ms": report.understanding.nlu_p50_ms < 1.0,
        "server RSS after start < 200 MB": None if rss is None else rss < 200.0,
    }


def print_report(report: Report) -> None:
    _print_header(report)
    shouwen, baseline = report.sides
    rows: list[tuple[str, Callable[[SideFigures], str]]] = [
        ("turns/s (saturated)", lambda s: f"{s.turns_per_s:,.0f}"),
        ("p50 ms (saturated)", lambda s: f"{s.p50_ms:.2f}"),
        ("p99 ms (saturated)", lambda s: f"{s.p99_ms:.2f}"),
        ("p50 ms (paced)", lambda s: f"{s.paced_p50_ms:.2f}"),
        ("p99 ms (paced)", lambda s: f"{s.paced_p99_ms:.2f}"),
        ("Redis round trips/turn mean", lambda s: f"{s.trips_mean:.2f}"),
        ("Redis round trips/turn max", lambda s: f"{s.trips_max}"),
        ("Redis bytes/idle conversation", lambda s: f"{s.idle_bytes:,.0f}"),
    ]
    print(f"{'':32}{shouwen.name:>14}{baseline.name:>14}")
    for label, cell in rows:
        print(f"{label:32}{cell(shouwen):>14}{cell(baseline):>14}")
    for side in report.sides:
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in side.idle_bytes_by_kind.items())
        print(f"  {side.name} bytes by key: {parts}; handshake round trips: {side.handshake_trips}")
    for side in report.sides:
        rates = " / ".join(f"{rate:,.0f}" for rate in side.round_turns_per_s)
        print(f"  {side.name} turns/s round by round: {rates}")
    ratio = shouwen.turns_per_s / baseline.turns_per_s if baseline.turns_per_s else 0.0
    print(f"\nShouwen/aiogram turns/s: {ratio:.2f}x")
    _print_resources(report)
    print("\nTargets:")
    for name, met in report.targets.items():
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        print(f"  [{verdict}] {name}")


def _print_header(report: Report) -> None:
    turns = report.sides[0].turns
    print(
        f"\n{report.conversations} concurrent conversations x {report.turns_per_conversation}"
        f" turns, {report.rounds} saturated round(s) = {turns} turns per side"
        f" (warm-up excluded); paced round: {report.think_ms:.0f} ms +-50 % between turns"
    )
    print(
        f"Machine: {report.cpus} CPUs, {report.busy_before_pct:.0f} % busy before the run,"
        f" load average {report.load_average:.1f} at the end"
    )
    if report.busy_before_pct > 20 or report.load_average > report.cpus * 0.75:
        print("  other work on this machine makes these figures noisy: compare runs")
    print()


def _print_resources(report: Report) -> None:
    u = report.understanding
    for name, first, p50, p99 in (
        ("NLU parse", u.nlu_first_ms, u.nlu_p50_ms, u.nlu_p99_ms),
        ("FAQ match", u.faq_first_ms, u.faq_p50_ms, u.faq_p99_ms),
    ):
        print(
            f"{name} ({u.calls} calls): median {p50:.3f} ms, p99 {p99:.3f} ms"
            f" (first pass, slowest call: {first:.2f} ms)"
        )
    print(
        f"This process (aiogram imported): RSS {report.rss_before_load_mb:.0f} MB before "
        f"importing bot.app, {report.rss_after_load_mb:.0f} MB after it and load_services "
        f"(which took {report.services_load_s:.2f} s), {report.rss_after_run_mb:.0f} MB "
        "after the run"
    )
    start = report.start_up
    if start.seconds is not None and start.rss_mb is not None:
        print(
            f"Server start-up (embedded store): /health 200 after {start.seconds:.2f} s, "
            f"RSS {start.rss_mb:.0f} MB"
        )
    else:
        print(f"Server start-up: FAILED ({start.error})")


def check_correctness(report: Report) -> list[str]:
    """Failures of either side, and any turn where the two sides said different things."""
    problems = [failure for side in report.sides for failure in side.failures]
    shouwen, baseline = report.sides
    for index, (ours, theirs) in enumerate(
        zip(shouwen.transcript, baseline.transcript, strict=False)
    ):
        if ours != theirs:
            problems.append(f"turn {index + 1} answered differently: {ours!r} / {theirs!r}")
    if report.start_up.error:
        problems.append(f"server start-up: {report.start_up.error}")
    return problems[:20]


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=200, help="concurrent (200)")
    parser.add_argument("--turns-per-conversation", type=int, default=len(DIALOG))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SHOUWEN_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="a database this benchmark may empty; not db 0 (SHOUWEN_BENCH_REDIS_URL)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="saturated rounds (3)")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="paced round's pause")
    parser.add_argument("--nlu-calls", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", action="store_true", help="cProfile a Shouwen round")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.turns_per_conversation < 1 or args.rounds < 1:
        parser.error("--conversations, --turns-per-conversation and --rounds must be >= 1")
    return args


async def open_probe(url: str) -> aioredis.Redis:
    """The benchmark's own client; exits with a message if Redis is unusable."""
    db = int(aioredis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0))
    if db == 0:
        raise SystemExit(f"bench: refusing to empty database 0 of {url}; pick another (e.g. /14)")
    probe = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    try:
        await probe.ping()  # type: ignore[misc]
    except (RedisError, OSError) as error:
        raise SystemExit(f"bench: Redis at {url} does not answer ({error})") from None
    return probe


def load_timed() -> tuple[Services, float]:
    """`load_services` as the server calls it, and how long it took."""
    from bot.app import load_services  # imported here: the NLU's imports count as loading

    started = time.perf_counter()
    services = load_services(Settings(), Metrics())
    return services, time.perf_counter() - started


async def compare(
    services: Services, probe: aioredis.Redis, args: argparse.Namespace
) -> tuple[list[SideFigures], str | None]:
    """Both sides measured; and a profile of Shouwen when --profile asked for one."""
    count_round_trips()
    async with (
        shouwen_side(services, args.redis_url) as ours,
        aiogram_side(services, args.redis_url) as theirs,
    ):
        figures = await measure([ours, theirs], probe, args)
        profile = await profile_shouwen(ours, args) if args.profile else None
    await probe.flushdb()
    return figures, profile


async def run(args: argparse.Namespace) -> tuple[Report, str | None]:
    """Every measurement; the report, and the profile when --profile asked for one."""
    probe = await open_probe(args.redis_url)
    busy_before = await asyncio.to_thread(psutil.cpu_percent, 0.5)
    rss_before = rss_mb()
    services, load_s = load_timed()
    rss_after_load = rss_mb()
    understanding = time_understanding(services, args.nlu_calls)
    try:
        figures, profile = await compare(services, probe, args)
    finally:
        await probe.aclose()
    rss_after_run = rss_mb()
    report = Report(
        conversations=args.conversations,
        turns_per_conversation=args.turns_per_conversation,
        rounds=args.rounds,
        think_ms=args.think_ms,
        services_load_s=load_s,
        rss_before_load_mb=rss_before,
        rss_after_load_mb=rss_after_load,
        rss_after_run_mb=rss_after_run,
        understanding=understanding,
        start_up=await measure_start_up(),
        sides=figures,
        cpus=psutil.cpu_count() or 1,
        busy_before_pct=busy_before,
        load_average=os.getloadavg()[0],
    )
    return report, profile


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report, profile = asyncio.run(run(args))
    report.targets = targets(report)
    if profile:
        print(f"Shouwen under cProfile, top entries by cumulative time:\n{profile}")
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2) + "\n")
        print(f"\nFigures written to {args.json}")
    problems = check_correctness(report)
    sys.stdout.flush()
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
