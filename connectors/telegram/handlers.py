"""Telegram updates as turns: an aiogram Router whose handlers hand the engine an Inbound
and send back what it answers.

Private chats only: a customer's conversation is their chat with the bot. The message id
(of the message, or of the button press) is the Inbound's, so an update Telegram delivers
twice is one turn, answered once. Only when sending that answer failed (and the update was
refused, for Telegram to deliver it again) does the repeat send it.
"""

from __future__ import annotations

import contextlib
import logging

import redis.asyncio as aioredis
from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message

from bot.engine import Engine
from bot.messages import Inbound
from bot.services.outbox import Unreachable
from bot.store import keys as store_keys
from bot.store.guard import guarded
from connectors.telegram import keys
from connectors.telegram.render import CONTACT, Said
from connectors.telegram.sender import TelegramSender

log = logging.getLogger(__name__)

MENU = "cmd:menu"
# The updates the handlers take; the webhook and polling ask Telegram for these only.
ALLOWED_UPDATES = ["message", "callback_query"]


class NotSent(Exception):
    """The turn was taken but its answer could not be sent to Telegram (yet)."""


class UnsentAnswers:
    """Message ids whose answer is owed: a repeat of one of these sends the answer."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def owe(self, chat: str, message_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:  # one slot: the chat's
            pipe.sadd(keys.unsent(chat), message_id)
            pipe.expire(keys.unsent(chat), store_keys.SEEN_TTL_S)
            await guarded(pipe.execute())

    async def settle(self, chat: str, message_id: str) -> bool:
        """Whether the answer to `message_id` was owed (it is not any more)."""
        removed = await guarded(self._redis.srem(keys.unsent(chat), message_id))  # type: ignore[arg-type]
        return bool(removed)


class Updates:
    """Messages, button presses and shared contacts, answered through the engine."""

    def __init__(self, engine: Engine, sender: TelegramSender, unsent: UnsentAnswers) -> None:
        self._engine = engine
        self._sender = sender
        self._unsent = unsent

    def router(self) -> Router:
        router = Router(name="shouwen")
        private = F.chat.type == ChatType.PRIVATE
        router.message.register(self.on_start, private, CommandStart())
        router.message.register(self.on_contact, private, F.contact)
        router.message.register(self.on_message, private)
        router.callback_query.register(self.on_button)
        return router

    async def on_start(self, message: Message) -> None:
        """Telegram's Start button: the main menu, in the language of the customer's app
        (as a button press, so the Latin letters of "/start" do not choose English)."""
        await self._answer(_inbound(message, text=message.text or "", payload=MENU))

    async def on_message(self, message: Message) -> None:
        """Text (a photo's caption; nothing for a sticker, which the engine asks about)."""
        await self._answer(_inbound(message, text=message.text or message.caption or ""))

    async def on_contact(self, message: Message) -> None:
        """A shared contact vouches for the phone only when it is the sender's own."""
        contact = message.contact
        sender = message.from_user
        own = contact is not None and sender is not None and contact.user_id == sender.id
        phone = _international(contact.phone_number) if own and contact is not None else None
        inbound = _inbound(message, payload=CONTACT, phone=phone)
        await self._answer(inbound, remove_keyboard=True)

    async def on_button(self, query: CallbackQuery) -> None:
        """A button pressed: its payload, with its title as the customer's words."""
        # At once and always, or the customer's client shows a spinner on the button.
        with contextlib.suppress(TelegramAPIError):  # a repeat: already answered
            await query.answer()
        chat = str(query.message.chat.id if query.message is not None else query.from_user.id)
        payload = await self._sender.callbacks.decode(chat, query.data)
        inbound = Inbound(
            channel=keys.CHANNEL,
            chat=chat,
            text=_button_title(query),
            payload=payload,
            locale_hint=query.from_user.language_code,
            message_id=f"q{query.id}",
            shares_contact=True,
        )
        await self._answer(inbound)

    async def _answer(self, inbound: Inbound, *, remove_keyboard: bool = False) -> None:
        result = await self._engine.handle(inbound)
        message_id = inbound.message_id or ""
        if result.duplicate and not await self._unsent.settle(inbound.chat, message_id):
            return  # answered the first time
        said = [Said.of(entry) for entry in result.replies]
        try:
            await self._sender.send(inbound.chat, said, remove_keyboard=remove_keyboard)
        except Unreachable:
            log.info("telegram: a chat blocked the bot; its answer is dropped")
        except TelegramAPIError as error:
            await self._unsent.owe(inbound.chat, message_id)
            raise NotSent(str(error)) from error


def _inbound(
    message: Message, *, text: str = "", payload: str | None = None, phone: str | None = None
) -> Inbound:
    sender = message.from_user
    return Inbound(
        channel=keys.CHANNEL,
        chat=str(message.chat.id),
        text=text,
        payload=payload,
        locale_hint=sender.language_code if sender is not None else None,
        message_id=f"m{message.message_id}",
        phone=phone,
        shares_contact=True,
    )


def _international(phone: str) -> str:
    """Telegram gives a contact's number in international form without the "+"."""
    phone = phone.strip()
    return phone if phone.startswith("+") else f"+{phone}"


def _button_title(query: CallbackQuery) -> str:
    """The pressed button's title, found on the message it is under."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return ""
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return ""
