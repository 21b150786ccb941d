"""Jobs that run at a given time (appointment reminders; later the SLA clock), in Redis.

A job is an id, a kind and a data string. Due jobs are popped by one Lua script, so any
number of schedulers on one Redis fire each job exactly once: the one that pops it runs it.
A job popped by a process that dies before its handler finishes is lost; reminders and
alerts are worth less than a second copy would cost, and the outbox behind them is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded, stop_if_cancelled

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]

# KEYS: schedule (sorted set), jobs (hash).  ARGV: now, limit.
# Returns a flat list job, "kind data", job, "kind data", ... of the jobs due by now, which
# it removes: whoever gets a job from this script is the only one to run it.
POP_DUE = """
local schedule, jobs = KEYS[1], KEYS[2]
local now, limit = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, limit)
local result = {}
for _, job in ipairs(due) do
  redis.call('ZREM', schedule, job)
  local spec = redis.call('HGET', jobs, job)
  if spec then
    redis.call('HDEL', jobs, job)
    result[#result + 1] = job
    result[#result + 1] = spec
  end
end
return result
"""


# KEYS: schedule, jobs.  ARGV: job, when ("" to drop the job), "kind data".  Sets or
# drops one job atomically.
SET_JOB = """
local schedule, jobs = KEYS[1], KEYS[2]
local job, when, spec = ARGV[1], ARGV[2], ARGV[3]
if when == '' then
  redis.call('ZREM', schedule, job)
  redis.call('HDEL', jobs, job)
  return 0
end
redis.call('ZADD', schedule, when, job)
redis.call('HSET', jobs, job, spec)
return 1
"""


class Scheduler:
    """Run a handler for each job of its kind when the job falls due."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Callable[[], float] = time.time,
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        # Setting a job shares the pipeline of a turn's other writes (the store's, if given).
        self._batch = batcher or ScriptBatcher(redis)
        self._set_job = redis.register_script(SET_JOB)
        self._pop_due = redis.register_script(POP_DUE)
        self._handlers: dict[str, Handler] = {}

    async def at(self, when: float, job: str, kind: str, data: str) -> None:
        """Run `kind`'s handler with `data` at `when`; a job id already scheduled is moved."""
        if not kind or " " in kind:
            raise ValueError("a job kind is one word")
        await self._set(job, [job, when, f"{kind} {data}"])

    async def cancel(self, job: str) -> None:
        """Forget a job (nothing happens if it is unknown or already ran)."""
        await self._set(job, [job, "", ""])

    async def _set(self, job: str, args: list[str | float]) -> None:
        await guarded(self._batch.run(self._set_job, [keys.SCHEDULE, keys.SCHEDULE_JOBS], args))

    async def when(self, job: str) -> float | None:
        """When a job is due, or None if it is not scheduled."""
        score: float | None = await guarded(self._redis.zscore(keys.SCHEDULE, job))
        return score

    async def due(self, limit: int = 100) -> list[tuple[str, str, str]]:
        """The jobs due now as (job, kind, data), removed from the schedule in one step."""
        flat: list[str] = await guarded(
            self._pop_due(keys=[keys.SCHEDULE, keys.SCHEDULE_JOBS], args=[self._clock(), limit])
        )
        result = []
        for job, spec in zip(flat[::2], flat[1::2], strict=True):
            kind, _sep, data = spec.partition(" ")
            result.append((job, kind, data))
        return result

    def handle(self, kind: str, handler: Handler) -> None:
        """Call `handler(data)` for every due job of `kind` (one handler per kind)."""
        self._handlers[kind] = handler

    async def fire_due(self, limit: int = 100) -> int:
        """Pop the jobs due now and run their handlers; how many were popped."""
        jobs = await self.due(limit)
        for job, kind, data in jobs:
            await self._fire(job, kind, data)
        return len(jobs)

    async def run(self, poll_s: float = 1.0, stop: asyncio.Event | None = None) -> None:
        """Fire due jobs until `stop` is set (or the task is cancelled); errors are logged
        and the loop goes on."""
        stop = stop or asyncio.Event()
        limit = 100
        while not stop.is_set():
            stop_if_cancelled()
            try:
                fired = await self.fire_due(limit)
            except StoreUnavailable as error:
                log.warning("scheduler cannot reach the store: %s", type(error).__name__)
                fired = 0
            if fired < limit:  # a full batch means more may be due already
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)

    async def _fire(self, job: str, kind: str, data: str) -> None:
        handler = self._handlers.get(kind)
        if handler is None:
            log.error("scheduler job %s has kind %s that no handler takes; dropped", job, kind)
            return
        try:
            await handler(data)
        except Exception as error:
            # The type only: a message could carry personal data from the job.
            log.error("scheduler job %s (%s) failed: %s", job, kind, type(error).__name__)
