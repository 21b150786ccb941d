"""Script calls of many concurrent turns sent to Redis together, pipelined each loop tick.

Under load, hundreds of turns reach their CLAIM or SAVE in the same event-loop iteration.
Sending each on its own costs a pooled connection, a write and a read apiece; queued until
the loop's next iteration they go out as pipelines of up to MAX_BATCH calls. An idle server
pays nothing for it: a lone call waits one iteration, microseconds. Each call is still one
atomic script.

A pipeline is written on a pooled connection and its replies read back under one timeout
for the whole batch: redis-py's own pipeline arms a timer for every reply, which cost twice
what reading the reply does (about 20 us a call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_Call = tuple[AsyncScript, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]
# Calls per pipeline; a burst of more leaves as several pipelines, one right after the
# other. Small enough that Redis is already running the first scripts while the rest are
# sent, and their turns go on while it runs the rest: with all of a burst in one pipeline
# (256 at most, before) every turn of it waited for the last script, and the loop idled
# (a tenth of the time, 200 conversations at once). Large enough that this costs a round
# trip per 32 turns.
MAX_BATCH = 32
# A batch that got no reply because its pooled connection was dead is sent again this often.
RETRIES = 1


class ScriptBatcher:
    """Runs registered scripts, coalescing the calls made within one loop iteration."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._pending: list[_Call] = []
        self._flush_task: asyncio.Task[None] | None = None

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self.submit(script, keys, args)

    def submit(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
    ) -> asyncio.Future[Any]:
        """Queue a call now and return its future, without a coroutine or a task: calls
        submitted before the caller's next await leave in the same pipeline. Await it."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        if self._flush_task is None:
            self._schedule()
        return future

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
        commands = [
            ("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args, _ in calls
        ]
        pool = self._redis.connection_pool
        for attempt in range(1 + RETRIES):
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            results: list[Any] = []
            try:
                await connection.send_packed_command(connection.pack_commands(commands))
                await _read_replies(connection, len(commands), results)
                return results
            except RedisConnectionError:
                # A pooled connection the server closed (it restarted) answers nothing; a
                # batch that got no reply at all is sent again once, as redis-py's pipeline
                # would. One that got some may have run: its callers get the error.
                if results or attempt == RETRIES:
                    raise
            finally:
                await pool.release(connection)
        raise AssertionError("unreachable")


async def _read_replies(connection: AbstractConnection, count: int, results: list[Any]) -> None:
    """Append `count` replies to `results`, an error reply as its exception; one timeout for
    them all."""
    timeout = connection.socket_timeout
    connection.socket_timeout = None  # no timer per reply: the batch has one
    try:
        async with asyncio.timeout(timeout):
            for _ in range(count):
                try:
                    results.append(await connection.read_response())
                except ResponseError as error:  # an error reply: the connection is fine
                    results.append(error)
    except TimeoutError as error:
        await connection.disconnect(nowait=True)  # replies still due: unusable
        raise RedisTimeoutError(f"no reply from Redis within {timeout} s") from error
    finally:
        connection.socket_timeout = timeout


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
