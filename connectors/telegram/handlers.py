"""Telegram updates as turns: an aiogram Router whose handlers hand the engine an Inbound
and send back what it answers.

Private chats only: a customer's conversation is their chat with the bot, and a button
pressed anywhere else is only acknowledged. The message id (of the message, or of the
button press) is the Inbound's, so an update Telegram delivers twice is one turn. Its
answer is marked sent once it went out in full; a repeat of an update whose answer was
not (sending failed, whatever the reason, and the update was refused for Telegram to
deliver it again) sends what the first delivery produced, from where sending stopped.
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


class AnsweredMessages:
    """Message ids whose answer went out in full: a repeat of one of these sends nothing."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def mark(self, chat: str, message_id: str) -> None:
        await guarded(self._redis.set(keys.answered(chat, message_id), 1, ex=store_keys.SEEN_TTL_S))

    async def marked(self, chat: str, message_id: str) -> bool:
        """Whether the answer to `message_id` was sent."""
        return bool(await guarded(self._redis.exists(keys.answered(chat, message_id))))


class Updates:
    """Messages, button presses and shared contacts, answered through the engine."""

    def __init__(self, engine: Engine, sender: TelegramSender, answered: AnsweredMessages) -> None:
        self._engine = engine
        self._sender = sender
        self._answered = answered

    def router(self) -> Router:
        router = Router(name="shouwen")
        private = F.chat.type == ChatType.PRIVATE
        router.message.register(self.on_start, private, CommandStart())
        router.message.register(self.on_contact, private, F.contact)
        router.message.register(self.on_message, private)
        router.callback_query.register(self.on_button, F.message.chat.type == ChatType.PRIVATE)
        router.callback_query.register(self.on_other_button)  # in a group, inline: no turn
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

    async def on_other_button(self, query: CallbackQuery) -> None:
        """A button pressed outside a private chat (a message forwarded to a group, an
        inline message): acknowledged, so the spinner stops, and nothing more."""
        with contextlib.suppress(TelegramAPIError):
            await query.answer()

    async def _answer(self, inbound: Inbound, *, remove_keyboard: bool = False) -> None:
        result = await self._engine.handle(inbound)
        chat, message_id = inbound.chat, inbound.message_id or ""
        if result.duplicate and (
            not result.replies or await self._answered.marked(chat, message_id)
        ):
            return  # answered the first time (the repeat's replies are the first answer's)
        said = [Said.of(entry) for entry in result.replies]
        try:
            await self._sender.send(chat, said, remove_keyboard=remove_keyboard)
        except Unreachable:
            log.info("telegram: a chat blocked the bot; its answer is dropped")
            return
        except TelegramAPIError as error:
            raise NotSent(str(error)) from error
        # Any other failure (the store's) propagates too: the update is refused, and its
        # repeat sends the answer, as it is not marked.
        if said:
            await self._answered.mark(chat, message_id)


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
