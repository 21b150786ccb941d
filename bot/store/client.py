"""Connecting to Redis: a real server by URL, or the embedded in-process store (fakeredis)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.store.packing import pack_with_hiredis

# Ordinary commands give up after this long, so a hung Redis cannot hang a turn.
COMMAND_TIMEOUT_S = 5.0
# Subscribers block on reads for as long as nothing happens; redis-py 8 would otherwise
# apply a 5 s default and break them.
SUBSCRIBER_TIMEOUT_S: float | None = None


@dataclass(slots=True)
class RedisHandles:
    """The command client and the client for pub/sub, which must not time out on reads."""

    commands: aioredis.Redis
    subscriber: aioredis.Redis
    embedded: bool

    async def close(self) -> None:
        await self.commands.aclose()
        if self.subscriber is not self.commands:
            await self.subscriber.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.commands.ping())  # type: ignore[misc]
        except (RedisError, OSError):
            return False


def connect(url: str | None) -> RedisHandles:
    """Clients for `url`, or for a fresh in-process store when `url` is None."""
    if url is None:
        import fakeredis

        server = fakeredis.FakeServer()
        client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
        return RedisHandles(commands=client, subscriber=client, embedded=True)
    commands = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
    )
    subscriber = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SUBSCRIBER_TIMEOUT_S,
        socket_connect_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
    )
    return RedisHandles(
        commands=pack_with_hiredis(commands),
        subscriber=pack_with_hiredis(subscriber),
        embedded=False,
    )
