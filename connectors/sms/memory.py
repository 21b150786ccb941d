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


def answered_key(chat: str, message_id: str) -> str:
    """String: set when this provider message was answered, so that a redelivery is answered
    only when the first delivery's answer never left (keys.SEEN_TTL_S, as the engine's seen
    ids)."""
    return f"{keys.PREFIX}:{{c:sms:{chat}}}:ans:{message_id}"


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

    async def remember(
        self, chat: str, menu: Sequence[str], full: str, locale: str, answering: str | None = None
    ) -> bool:
        """Keep what was just sent (an empty menu too: a digit then answers nothing). With
        `answering`, a provider message id, also mark it answered; False when it had been."""
        key = menu_key(chat)
        mapping = {"p": json.dumps(list(menu)), "t": full, "l": locale}
        async with self._redis.pipeline(transaction=True) as pipe:
            if answering is not None:
                pipe.set(answered_key(chat, answering), "1", nx=True, ex=keys.SEEN_TTL_S)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self._ttl_s)
            done = await guarded(pipe.execute())
        return answering is None or bool(done[0])

    async def first_answer(self, chat: str, message_id: str) -> bool:
        """Claim the answer to `message_id`: False when it was answered already."""
        key = answered_key(chat, message_id)
        return bool(await guarded(self._redis.set(key, "1", nx=True, ex=keys.SEEN_TTL_S)))

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
            pipe.set(answered_key(chat, message_id), "1", nx=True, ex=keys.SEEN_TTL_S)
            pipe.hmget(menu_key(chat), ["t", "l"])
            first, (text, locale) = await guarded(pipe.execute())
        return Details(bool(first), text or None, locale or None)
