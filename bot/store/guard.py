"""Redis errors translated into ours, in one place for every repository and worker loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError, ResponseError

from bot.errors import ConversationBusy, StoreUnavailable

T = TypeVar("T")


def stop_if_cancelled() -> None:
    """Raise CancelledError in a task that was asked to stop.

    A worker loop calls this every round: redis-py can absorb a cancellation that lands
    while a connection is being opened, and the loop would then run on forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def guarded(call: Awaitable[T]) -> T:
    """Await a Redis call; its failures become StoreUnavailable (or ConversationBusy)."""
    try:
        return await call
    except ResponseError as error:
        if "LOCK_LOST" in str(error):
            raise ConversationBusy("the turn's lock expired before it saved") from error
        raise StoreUnavailable(str(error)) from error
    except (RedisError, OSError) as error:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # redis-py reports a read cut short by cancellation as a connection error;
            # loops that outlive store errors must still stop when they are cancelled.
            raise asyncio.CancelledError from error
        raise StoreUnavailable(str(error)) from error
