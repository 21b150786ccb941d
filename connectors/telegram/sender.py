"""Sending to a Telegram chat: rendered, paced within Telegram's limits, retried on 429.

Turn replies (from the webhook or polling) and the outbox's notices go the same way.
Telegram's errors are translated here: a chat that can never be reached (the customer
blocked the bot, the chat does not exist) raises the outbox's Unreachable; flood control
(429) is waited out as Telegram says, a bounded number of times; anything else is raised
as it is, for the caller to retry later.

A retry must not repeat what the customer already got: while a list of several messages
goes out, how many have gone is kept in Redis (keys.sent), and the same list sent again
skips them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter

from bot.services.outbox import Unreachable
from bot.store.guard import guarded
from connectors.telegram import keys
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

    def __init__(
        self,
        bot: Bot,
        pace: Pace,
        callbacks: CallbackData,
        sleep: Sleep,
        redis: aioredis.Redis,
    ) -> None:
        self.bot = bot
        self.callbacks = callbacks
        self._pace = pace
        self._sleep = sleep
        self._redis = redis

    async def send(self, chat: str, said: Sequence[Said], *, remove_keyboard: bool = False) -> int:
        """Send the replies in order; returns how many messages went. The same replies sent
        again after a failure part way send only the messages that had not gone yet."""
        if not said:
            return 0
        try:
            chat_id = int(chat)
        except ValueError:
            raise Unreachable("not a Telegram chat id") from None
        callback_data = await self.callbacks.encode(chat, payloads(said))
        outgoing = messages(said, callback_data, remove_keyboard=remove_keyboard)
        if len(outgoing) <= 1:  # nothing can have gone in part
            for message in outgoing:
                await self._send_one(chat, chat_id, message)
            return len(outgoing)
        progress = keys.sent(chat, digest(outgoing))
        gone = int(await guarded(self._redis.get(progress)) or 0)
        for count, message in enumerate(outgoing[gone:], gone + 1):
            await self._send_one(chat, chat_id, message)
            if count < len(outgoing):
                await guarded(self._redis.set(progress, count, ex=keys.SENT_TTL_S))
        await guarded(self._redis.delete(progress))  # all gone: the same list again goes anew
        return max(len(outgoing) - gone, 0)

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


def digest(outgoing: Sequence[Outgoing]) -> str:
    """Names a list of messages by what they say and carry (the same replies rendered
    again give the same one: callback data tokens are stable)."""
    rendered = [
        [message.text, message.markup.model_dump_json(exclude_none=True) if message.markup else ""]
        for message in outgoing
    ]
    return hashlib.sha256(json.dumps(rendered).encode("ascii")).hexdigest()[:32]
