"""Button payloads as Telegram callback data, which holds at most 64 bytes.

Payloads are ids ("rate:C2611230042:5", "cmd:language:zh") and nearly always fit: they go
as they are. A longer one is kept in Redis under a short token for as long as the
conversation lives, and its button carries `~<token>`. A token that is unknown (expired,
or never ours) comes back as EXPIRED, a payload no flow knows, so the engine says that the
button is no longer valid.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

import redis.asyncio as aioredis

from bot.store.guard import guarded
from connectors.telegram import keys

MAX_CALLBACK_BYTES = 64
STORED_MARK = "~"
# What an unresolvable button press becomes: no flow is named "~".
EXPIRED = "~expired"


def fits(payload: str) -> bool:
    """Whether the payload can be the callback data itself."""
    return (
        not payload.startswith(STORED_MARK)
        and 0 < len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES
    )


def token_for(payload: str) -> str:
    """The payload's token: the same payload always gets the same one, so showing a button
    again refreshes its key rather than adding another."""
    digest = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode("ascii")


class CallbackData:
    """Turns payloads into callback data and back, for one Redis."""

    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def encode(self, chat: str, payloads: Iterable[str]) -> dict[str, str]:
        """Callback data for each payload (one round trip when some are too long)."""
        data: dict[str, str] = {}
        stored: dict[str, str] = {}
        for payload in payloads:
            if fits(payload):
                data[payload] = payload
            else:
                token = token_for(payload)
                data[payload] = STORED_MARK + token
                stored[keys.callback(chat, token)] = payload
        if stored:
            # Keys of one chat share its hash tag: the pipeline stays on one slot.
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, payload in stored.items():
                    pipe.set(key, payload, ex=self._ttl_s)
                await guarded(pipe.execute())
        return data

    async def decode(self, chat: str, data: str | None) -> str:
        """The payload a pressed button stands for; EXPIRED when it cannot be found."""
        if not data:
            return EXPIRED
        if not data.startswith(STORED_MARK):
            return data
        payload = await guarded(self._redis.get(keys.callback(chat, data[len(STORED_MARK) :])))
        return str(payload) if payload else EXPIRED
