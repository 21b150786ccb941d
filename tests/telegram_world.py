"""Telegram without Telegram: the server with the Telegram edge on a Bot whose session
records every API call (and answers as Telegram would), customers who post real Update
JSON to the webhook, and a sending pace on a clock the tests move.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import itertools
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import AnswerCallbackQuery, GetMe, GetUpdates, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, InlineKeyboardMarkup, Message, Update, User
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime, build_app, build_runtime
from bot.dialog import Services
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.client import RedisHandles
from connectors.telegram.edge import TelegramEdge, install
from connectors.telegram.webhook import PATH, SECRET_HEADER
from tests.conftest import MovableClock, RecordingSms

TOKEN = "123456789:AAH-test-token-for-shouwen-tests_only"
BOT_ID = 123456789
USER_ID = 4242

Failure = Callable[[TelegramMethod[Any]], Exception]


class RecordingSession(BaseSession):
    """A Bot API session that keeps every method called and answers like Telegram:
    a Message for sendMessage, True for the rest. `fail_next` makes the next sends raise
    (a None among the failures lets its send through)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.failures: list[Failure | None] = []
        self.updates: list[list[Update]] = []  # what getUpdates returns, call by call
        self.clock: Callable[[], float] = lambda: 0.0  # when each message went, by this
        self.sent_at: list[float] = []
        self._refused: set[int] = set()  # id() of the sends that raised
        self._message_ids = itertools.count(1)

    def fail_next(self, *failures: Failure | None) -> None:
        self.failures.extend(failures)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> TelegramType:
        self.calls.append(method)
        if isinstance(method, GetUpdates) and not self.updates:
            await asyncio.sleep(0.01)  # long polling: nothing new for a while
        if isinstance(method, SendMessage):
            failure = self.failures.pop(0) if self.failures else None
            if failure is not None:
                self._refused.add(id(method))
                raise failure(method)
            self.sent_at.append(self.clock())
        return cast(TelegramType, self._result(bot, method))

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> object:
        if isinstance(method, SendMessage):
            markup = method.reply_markup
            return Message(
                message_id=next(self._message_ids),
                date=dt.datetime.now(dt.UTC),
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=User(id=bot.id, is_bot=True, first_name="Shouwen"),
                text=method.text,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
        if isinstance(method, GetMe):
            return User(id=bot.id, is_bot=True, first_name="Shouwen", username="shouwen_bot")
        if isinstance(method, GetUpdates):
            return self.updates.pop(0) if self.updates else []
        return True

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover

    def sent(self, since: int = 0) -> list[SendMessage]:
        return [m for m in self.calls[since:] if isinstance(m, SendMessage)]

    def taken(self, since: int = 0) -> list[SendMessage]:
        """The sends Telegram took (what the customer got), leaving out those that raised."""
        return [m for m in self.sent(since) if id(m) not in self._refused]

    def answered(self, since: int = 0) -> list[AnswerCallbackQuery]:
        return [m for m in self.calls[since:] if isinstance(m, AnswerCallbackQuery)]


class PaceClock(MovableClock):
    """The sending pace's clock: sleeping moves it on, and each sleep is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


_TAGS = re.compile(r"</?(?:b|i|code)>")


def plain(messages: list[SendMessage]) -> str:
    """What the customer reads: the messages' texts without markup, one per line."""
    return "\n".join(html.unescape(_TAGS.sub("", m.text)) for m in messages)


def buttons(message: SendMessage) -> list[tuple[str, str]]:
    """(title, callback data) of the message's inline keyboard."""
    markup = message.reply_markup
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [(b.text, b.callback_data or "") for row in markup.inline_keyboard for b in row]


@dataclass
class TelegramWorld:
    """A running server with the Telegram edge, and what tests reach behind it."""

    client: TestClient[Any, Any]
    runtime: Runtime
    edge: TelegramEdge
    session: RecordingSession
    clock: MovableClock
    pace: PaceClock
    sms: RecordingSms

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(10_000)
        self._message_ids = itertools.count(1)

    def customer(self, user_id: int = USER_ID, language: str | None = "en") -> TelegramCustomer:
        return TelegramCustomer(self, user_id, language)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def next_message_id(self) -> int:
        return next(self._message_ids)

    async def post(
        self, update: dict[str, Any] | bytes, secret: str | None = "derived"
    ) -> ClientResponse:
        headers = {}
        if secret is not None:
            headers[SECRET_HEADER] = self.edge.secret if secret == "derived" else secret
        if isinstance(update, bytes):
            headers["Content-Type"] = "application/json"
            return await self.client.post(PATH, data=update, headers=headers)
        return await self.client.post(PATH, json=update, headers=headers)

    async def state(self, user_id: int = USER_ID) -> ConversationState:
        raw, _seq = await self.runtime.store.load(f"telegram:{user_id}")
        assert raw is not None
        return ConversationState.from_json(raw)


class TelegramCustomer:
    """One Telegram user in a private chat with the bot (chat id = user id)."""

    def __init__(self, world: TelegramWorld, user_id: int, language: str | None) -> None:
        self.world = world
        self.id = user_id
        self.language = language
        self.last: list[SendMessage] = []

    @property
    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": "Li"}
        if self.language is not None:
            user["language_code"] = self.language
        return user

    def message(self, **content: Any) -> dict[str, Any]:
        """A message update from this user (text, contact, ...), fresh ids."""
        return {
            "update_id": self.world.next_update_id(),
            "message": {
                "message_id": self.world.next_message_id(),
                "date": 1_795_399_200,
                "chat": {"id": self.id, "type": "private", "first_name": "Li"},
                "from": self.user,
                **content,
            },
        }

    def press_update(self, message: SendMessage, data: str) -> dict[str, Any]:
        """A callback query update: this user pressed the button with `data` under `message`."""
        markup = message.reply_markup
        shown: dict[str, Any] = {
            "message_id": self.world.next_message_id(),
            "date": 1_795_399_200,
            "chat": {"id": self.id, "type": "private", "first_name": "Li"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Shouwen"},
            "text": message.text,
        }
        if isinstance(markup, InlineKeyboardMarkup):
            shown["reply_markup"] = markup.model_dump(exclude_none=True)
        return {
            "update_id": self.world.next_update_id(),
            "callback_query": {
                "id": f"cq{self.world.next_update_id()}",
                "from": self.user,
                "chat_instance": "ci-1",
                "message": shown,
                "data": data,
            },
        }

    async def send(self, update: dict[str, Any]) -> list[SendMessage]:
        """Post an update; the messages the bot sent for it (to any chat)."""
        since = len(self.world.session.calls)
        response = await self.world.post(update)
        assert response.status == 200, await response.text()
        self.last = self.world.session.sent(since)
        return self.last

    async def say(self, text: str) -> str:
        await self.send(self.message(text=text))
        return plain(self.last)

    async def share_contact(self, phone: str, user_id: int | None = None) -> str:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": "Li"}
        contact["user_id"] = self.id if user_id is None else user_id
        await self.send(self.message(contact=contact))
        return plain(self.last)

    async def press(self, payload_prefix: str) -> str:
        """Press the button (of the last answer) whose payload starts with the prefix."""
        callbacks = self.world.edge.sender.callbacks
        for message in reversed(self.last):
            for _title, data in buttons(message):
                payload = await callbacks.decode(str(self.id), data)
                if payload.startswith(payload_prefix):
                    await self.send(self.press_update(message, data))
                    return plain(self.last)
        raise AssertionError(f"no button {payload_prefix!r} in {self.last}")


@contextlib.asynccontextmanager
async def running_telegram(
    settings: Settings, services: Services, handles: RedisHandles
) -> AsyncIterator[TelegramWorld]:
    """The server (nothing in the background; notices are drained by hand) with the edge
    installed on a recording Bot."""
    clock, pace, sms = MovableClock(), PaceClock(), RecordingSms()
    runtime = build_runtime(settings, services=services, redis=handles, clock=clock, sms=sms)
    app = build_app(runtime, background=False)
    session = RecordingSession()
    session.clock = pace
    bot = Bot(TOKEN, session=session)
    edge = install(app, runtime.edge_parts(), bot, clock=pace, sleep=pace.sleep)
    async with TestClient(TestServer(app)) as client:
        yield TelegramWorld(client, runtime, edge, session, clock, pace, sms)
