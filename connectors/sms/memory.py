"""What an SMS conversation remembers of the last message sent to it: its numbered menu (so
that a digit answers it) and its whole text (so that `XQ` can send it unshortened).

Both the reply to an inbound message and the outbox's notices write it, under the
conversation's hash tag, so it lives in the same cluster slot as the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.store import keys
from bot.store.guard import guarded


def menu_key(chat: str) -> str:
    """Hash: `p` the last menu's payloads (JSON list, option 1 first), `t` the last message's
    whole text, `l` its language; expires with the conversation (settings' conversation TTL)."""
    return f"{keys.PREFIX}:{{c:sms:{chat}}}:menu"


def details_key(chat: str, message_id: str) -> str:
    """String: set when the details asked for by this provider message were sent, so a
    redelivered `XQ` is answered once (keys.SEEN_TTL_S, as the engine's seen ids)."""
    return f"{keys.PREFIX}:{{c:sms:{chat}}}:xq:{message_id}"


@dataclass(frozen=True, slots=True)
class Details:
    """The answer to a request for details."""

    first: bool  # False: this message was answered before (a redelivery)
    text: str | None  # the whole last message, or None when nothing is remembered
    locale: str | None


class SmsMemory:
    """The last numbered menu and whole text sent to each SMS conversation."""

    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def remember(self, chat: str, menu: Sequence[str], full: str, locale: str) -> None:
        """Keep what was just sent (an empty menu too: a digit then answers nothing)."""
        key = menu_key(chat)
        mapping = {"p": json.dumps(list(menu)), "t": full, "l": locale}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self._ttl_s)
            await guarded(pipe.execute())

    async def option(self, chat: str, number: int) -> str | None:
        """The payload of option `number` of the last menu, if it had one."""
        raw = await guarded(self._redis.hget(menu_key(chat), "p"))  # type: ignore[arg-type]
        try:
            menu = json.loads(raw) if raw else []
        except ValueError:
            return None
        if not isinstance(menu, list) or not 1 <= number <= len(menu):
            return None
        return str(menu[number - 1])

    async def details(self, chat: str, message_id: str) -> Details:
        """The whole last message, claimed for `message_id` (one round trip, atomic)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(details_key(chat, message_id), "1", nx=True, ex=keys.SEEN_TTL_S)
            pipe.hmget(menu_key(chat), ["t", "l"])
            first, (text, locale) = await guarded(pipe.execute())
        return Details(bool(first), text or None, locale or None)
