"""Script calls of many concurrent turns sent to Redis together, one pipeline per loop tick.

Under load, hundreds of turns reach their CLAIM or SAVE in the same event-loop iteration.
Sending each on its own costs a pooled connection, a write and a read apiece; queued until
the loop's next iteration they go out as one pipeline. An idle server pays nothing for it:
a lone call waits one iteration, microseconds. Each call is still one atomic script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

_Call = tuple[AsyncScript, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]
# Calls per pipeline: enough to carry a busy loop iteration, small enough that one reply
# does not hold megabytes; the rest go in the next pipeline at once.
MAX_BATCH = 256


class ScriptBatcher:
    """Runs registered scripts, coalescing the calls made within one loop iteration."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._pending: list[_Call] = []
        self._flush_task: asyncio.Task[None] | None = None

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        if self._flush_task is None:
            self._schedule()
        return await future

    def _schedule(self) -> None:
        task = asyncio.create_task(self._flush())
        task.add_done_callback(self._unstarted)
        self._flush_task = task

    def _unstarted(self, task: asyncio.Task[None]) -> None:
        # A flush cancelled before it ran never took its calls: answer them, and let the
        # next call schedule a new flush.
        if self._flush_task is task:
            self._flush_task = None
            waiting, self._pending = self._pending, []
            _fail(waiting, RedisError("the batch of script calls was abandoned"))

    async def _flush(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        self._flush_task = None
        if self._pending:
            self._schedule()
        try:
            await self._send(batch)
        except (RedisError, OSError) as error:
            _fail(batch, error)
        finally:
            # Cancelled (shutdown) or otherwise cut short: every caller gets an answer, a
            # store error at worst, and nobody waits forever.
            _fail(batch, RedisError("the batch of script calls was abandoned"))

    async def _send(self, batch: list[_Call]) -> None:
        results = await self._execute(batch)
        missing = [c for c, r in zip(batch, results, strict=True) if isinstance(r, NoScriptError)]
        if missing:  # a Redis that restarted or never saw the scripts: load them, go again
            for script in {id(call[0]): call[0] for call in missing}.values():
                await self._redis.script_load(script.script)
            _settle(missing, await self._execute(missing))
        _settle(batch, results)

    async def _execute(self, calls: Sequence[_Call]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for script, keys, args, _future in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        return results


def _settle(calls: Sequence[_Call], results: Sequence[Any]) -> None:
    """Hand each caller its result or its error (a call already answered is skipped)."""
    for (*_call, future), result in zip(calls, results, strict=True):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


def _fail(calls: Sequence[_Call], error: BaseException) -> None:
    for *_call, future in calls:
        if not future.done():
            future.set_exception(error)
