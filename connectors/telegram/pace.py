"""Telegram's sending limits, shared by every process through Redis.

Telegram asks bots to send about one message per second to a chat (short bursts are
tolerated) and about 30 per second overall, or it answers 429
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
Each limit is a "next free moment" in Redis (the generic cell rate algorithm): a sender
reserves the earliest moment it may send and sleeps until then, so any number of server
processes together keep within the limit, and nobody polls.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from bot.store.guard import guarded
from connectors.telegram import keys

# One message a second to a chat, with a burst of three (a turn's few replies go at once).
CHAT_INTERVAL_MS = 1000
CHAT_BURST = 3
# Thirty messages a second overall, evenly spaced.
ALL_INTERVAL_MS = math.ceil(1000 / 30)
ALL_BURST = 1

# KEYS: pace.  ARGV: now (ms), interval (ms), burst.
# Reserves the earliest moment at or after now that keeps within `burst` messages at once
# and one per `interval` after; returns how many ms to wait for it.
RESERVE = """
local pace = KEYS[1]
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local free = tonumber(redis.call('GET', pace) or '0')
local at = math.max(now, free - (burst - 1) * interval)
local next_free = math.max(free, at) + interval
redis.call('SET', pace, string.format('%d', next_free), 'PX', next_free - now)
return at - now
"""

Sleep = Callable[[float], Awaitable[None]]


class Pace:
    """Waits until the bot may send to a chat, within the per-chat and the overall limit."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # Wall-clock time, not monotonic: the moments are compared across processes.
        self._clock = clock
        self._sleep = sleep
        self._reserve = redis.register_script(RESERVE)

    async def wait(self, chat: str) -> None:
        """Sleep until a message may go to `chat`. The chat's moment is taken first and the
        overall one only when it has come, so a chat that must wait never holds up others."""
        await self._pause(await self.reserve(keys.pace(chat), CHAT_INTERVAL_MS, CHAT_BURST))
        await self._pause(await self.reserve(keys.PACE_ALL, ALL_INTERVAL_MS, ALL_BURST))

    async def reserve(self, key: str, interval_ms: int, burst: int) -> float:
        """Reserve the next free moment of one limit; seconds until it comes."""
        now_ms = round(self._clock() * 1000)
        waited = await guarded(self._reserve(keys=[key], args=[now_ms, interval_ms, burst]))
        return int(waited) / 1000

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)
