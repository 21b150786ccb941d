"""The baseline: the same dialog as an aiogram 3 FSM bot on RedisStorage.

The bot talks to a recording session instead of Telegram: it records each request and
returns what Telegram would, without serialising the request to JSON as a real session does
(a cost the baseline is spared). Turns are fed to the dispatcher as Telegram updates.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, cast

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

from bench.baseline_answers import Answer, Answers
from bench.dialog import Step, WrongAnswer
from bot.dialog import Services

BOT_ID = 42
BOT_TOKEN = f"{BOT_ID}:TEST"  # the shape aiogram validates: <bot id>:<secret>


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
    salt = 1

    def __init__(self, dispatcher: Dispatcher, bot: Bot, session: RecordingSession) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._session = session
        self._ids = itertools.count(1)
        storage = cast(RedisStorage, dispatcher.storage)
        self._key_builder = storage.key_builder

    async def turn(self, chat: int, step: Step) -> list[str]:
        before = self._session.sent[chat]
        update = self._press(chat, step.payload) if step.press else self._message(chat, step.text)
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

    def _press(self, chat: int, payload: str | None) -> Update:
        """Press the previous message's button with `payload` (None: its first button)."""
        last = self._session.last.get(chat)
        markup = last.reply_markup if last is not None else None
        if last is None or not isinstance(markup, InlineKeyboardMarkup):
            raise WrongAnswer("the previous reply had no button to press")
        pressed = [
            button.callback_data
            for row in markup.inline_keyboard
            for button in row
            if payload is None or button.callback_data == payload
        ]
        if not pressed:
            raise WrongAnswer(f"the previous reply had no button {payload} to press")
        shown = {
            **self._envelope(chat),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Shouwen"},
            "text": last.text,
        }
        query = {
            "id": str(next(self._ids)),
            "from": _customer(chat),
            "chat_instance": f"ci{chat}",
            "data": pressed[0],
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
async def aiogram_side(
    services: Services, url: str, router: Router | None = None
) -> AsyncIterator[AiogramSide]:
    """The aiogram bot on RedisStorage at `url`: the FAQ dialog's router unless another."""
    storage = RedisStorage(aioredis.Redis.from_url(url))
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(router or baseline_router(Answers(services)))
    session = RecordingSession()
    bot = Bot(token=BOT_TOKEN, session=session)
    try:
        yield AiogramSide(dispatcher, bot, session)
    finally:
        await bot.session.close()
        await dispatcher.storage.close()
