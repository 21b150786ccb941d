"""Sending to a Telegram chat: rendered, paced within Telegram's limits, retried on 429.

Turn replies (from the webhook or polling) and the outbox's notices go the same way.
Telegram's errors are translated here: a chat that can never be reached (the customer
blocked the bot, the chat does not exist) raises the outbox's Unreachable; flood control
(429) is waited out as Telegram says, a bounded number of times; anything else is raised
as it is, for the caller to retry later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter

from bot.services.outbox import Unreachable
from connectors.telegram.callbacks import CallbackData
from connectors.telegram.pace import Pace, Sleep
from connectors.telegram.render import Outgoing, Said, messages, payloads

log = logging.getLogger(__name__)

# Tries of one message when Telegram answers 429.
ATTEMPTS = 3
# A longer wait than this is not sat out in a request: the caller retries later instead
# (the outbox with its backoff; Telegram redelivers an update we answered with an error).
MAX_RETRY_AFTER_S = 20
# Telegram's words for a chat that does not exist (400 Bad Request).
_NO_CHAT = ("chat not found", "user not found", "peer_id_invalid")


class TelegramSender:
    """Sends replies to chats through one Bot."""

    def __init__(self, bot: Bot, pace: Pace, callbacks: CallbackData, sleep: Sleep) -> None:
        self.bot = bot
        self.callbacks = callbacks
        self._pace = pace
        self._sleep = sleep

    async def send(self, chat: str, said: Sequence[Said], *, remove_keyboard: bool = False) -> int:
        """Send the replies in order; returns how many messages went."""
        if not said:
            return 0
        try:
            chat_id = int(chat)
        except ValueError:
            raise Unreachable("not a Telegram chat id") from None
        callback_data = await self.callbacks.encode(chat, payloads(said))
        outgoing = messages(said, callback_data, remove_keyboard=remove_keyboard)
        for message in outgoing:
            await self._send_one(chat, chat_id, message)
        return len(outgoing)

    async def _send_one(self, chat: str, chat_id: int, message: Outgoing) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            await self._pace.wait(chat)
            try:
                await self.bot.send_message(
                    chat_id=chat_id,
                    text=message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=message.markup,
                )
                return
            except TelegramRetryAfter as error:
                if attempt == ATTEMPTS or error.retry_after > MAX_RETRY_AFTER_S:
                    raise
                log.info("telegram: flood control, retrying in %d s", error.retry_after)
                await self._sleep(error.retry_after)
            except TelegramForbiddenError as error:  # blocked by the customer, deactivated
                raise Unreachable(error.message) from error
            except TelegramBadRequest as error:
                if any(words in error.message.lower() for words in _NO_CHAT):
                    raise Unreachable(error.message) from error
                raise
