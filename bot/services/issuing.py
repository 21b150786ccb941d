"""Issuing case and appointment numbers: a per-day counter in Redis, one per kind."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.services.numbers import make_number
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

# KEYS: the day's counter.  ARGV: ttl s.  The next sequence of the counter's day; the
# counter expires with its day (keys.COUNTER_TTL_S).
NEXT_SEQ = """
local counter, ttl = KEYS[1], ARGV[1]
local seq = redis.call('INCR', counter)
if seq == 1 then redis.call('EXPIRE', counter, ttl) end
return seq
"""


class NumberIssuer:
    """Numbers of one kind (`C` cases, `A` appointments), each day's counted from 1 in the
    operator's time zone; one atomic INCR each, so concurrent issues never repeat one."""

    def __init__(
        self, redis: aioredis.Redis, batcher: ScriptBatcher, kind: str, timezone: str
    ) -> None:
        self._kind = kind
        self._zone = ZoneInfo(timezone)
        self._batch = batcher
        self._next_seq = redis.register_script(NEXT_SEQ)

    async def issue(self, now: float) -> str:
        """A new number for something created at `now` (epoch seconds)."""
        day = datetime.fromtimestamp(now, self._zone).date()
        counter = keys.number_counter(self._kind, f"{day:%y%m%d}")
        seq = await guarded(self._batch.run(self._next_seq, [counter], [keys.COUNTER_TTL_S]))
        return make_number(self._kind, day, int(seq))
