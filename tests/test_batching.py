"""Script calls coalesced per loop iteration: each caller gets its own answer, always."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import RedisError, ResponseError

from bot.store.batching import MAX_BATCH, ScriptBatcher
from bot.store.client import RedisHandles

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL_ON_ODD = (
    "if tonumber(ARGV[1]) % 2 == 1 then return redis.error_reply('ODD') end return ARGV[1]"
)


async def test_each_caller_gets_its_own_result_across_batches(handles: RedisHandles) -> None:
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script(ECHO)
    count = MAX_BATCH * 2 + 7
    results = await asyncio.gather(
        *(batcher.run(script, [f"k{{{i}}}"], [str(i)]) for i in range(count))
    )
    assert results == [[f"k{{{i}}}", str(i)] for i in range(count)]


async def test_a_failing_call_fails_only_its_caller(handles: RedisHandles) -> None:
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script(FAIL_ON_ODD)
    results = await asyncio.gather(
        *(batcher.run(script, ["k"], [str(i)]) for i in range(6)), return_exceptions=True
    )
    assert [r for r in results[::2]] == ["0", "2", "4"]
    assert all(isinstance(r, ResponseError) for r in results[1::2])


async def test_scripts_unknown_to_redis_are_loaded_and_run(handles: RedisHandles) -> None:
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script(ECHO)
    await handles.commands.script_flush()
    assert await batcher.run(script, ["k"], ["v"]) == ["k", "v"]


async def test_an_abandoned_batch_answers_every_caller(handles: RedisHandles) -> None:
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script(ECHO)
    callers = [asyncio.create_task(batcher.run(script, ["k"], [str(i)])) for i in range(3)]
    await asyncio.sleep(0)  # the callers queue their calls and the flush is scheduled
    assert batcher._flush_task is not None
    batcher._flush_task.cancel()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RedisError) for r in results)


async def test_redis_away_fails_every_caller_with_a_store_error() -> None:
    from bot.store.client import connect
    from tests.conftest import free_port

    handles = connect(f"redis://127.0.0.1:{free_port()}/0")
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script(ECHO)
    results = await asyncio.gather(
        *(batcher.run(script, ["k"], ["v"]) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, (RedisError, OSError)) for r in results)
    await handles.close()
    with pytest.raises((RedisError, OSError)):
        await batcher.run(script, ["k"], ["v"])


# Keeps Redis busy for about 0.3 s (a script cannot sleep).
SLOW = """
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 300000
return ARGV[1]
"""


async def test_a_batch_past_its_timeout_fails_and_its_late_reply_is_never_read(
    real_redis: str,
) -> None:
    import redis.asyncio as aioredis

    from bot.store.packing import pack_with_hiredis

    client = pack_with_hiredis(
        aioredis.Redis.from_url(real_redis, socket_timeout=0.1, decode_responses=True)
    )
    batcher = ScriptBatcher(client)
    slow, echo = client.register_script(SLOW), client.register_script(ECHO)
    assert await batcher.run(echo, ["k"], ["warm"]) == ["k", "warm"]
    with pytest.raises(RedisError):
        await batcher.run(slow, ["k"], ["late"])
    await asyncio.sleep(0.4)  # the slow script has answered by now, to a closed connection
    assert await batcher.run(echo, ["k"], ["next"]) == ["k", "next"]
    await client.aclose()
