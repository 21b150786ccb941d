"""The scheduler: jobs fire when due, exactly once across schedulers; errors don't stop it."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from bot.services.scheduler import Scheduler
from bot.store import keys
from bot.store.client import RedisHandles
from tests.conftest import MovableClock

T0 = 1_900_000_000.0


async def test_a_job_fires_once_when_due(handles: RedisHandles) -> None:
    clock = Clock()
    scheduler = Scheduler(handles.commands, clock)
    await scheduler.at(T0 + 60, "job-1", "ping", "payload with spaces")
    assert await scheduler.due() == []
    clock.now = T0 + 60
    assert await scheduler.due() == [("job-1", "ping", "payload with spaces")]
    assert await scheduler.due() == []
    assert await handles.commands.hlen(keys.SCHEDULE_JOBS) == 0  # type: ignore[misc]


async def test_adding_a_job_again_moves_it(handles: RedisHandles) -> None:
    clock = Clock()
    scheduler = Scheduler(handles.commands, clock)
    await scheduler.at(T0 + 60, "job-1", "ping", "first")
    await scheduler.at(T0 + 600, "job-1", "ping", "moved")
    assert await scheduler.when("job-1") == T0 + 600
    clock.now = T0 + 300
    assert await scheduler.due() == []
    clock.now = T0 + 600
    assert await scheduler.due() == [("job-1", "ping", "moved")]


async def test_a_cancelled_job_never_fires(handles: RedisHandles) -> None:
    clock = Clock()
    scheduler = Scheduler(handles.commands, clock)
    await scheduler.at(T0 + 60, "job-1", "ping", "x")
    await scheduler.cancel("job-1")
    await scheduler.cancel("never-added")
    clock.now = T0 + 3600
    assert await scheduler.due() == []
    assert await scheduler.when("job-1") is None


async def test_due_jobs_come_oldest_first_up_to_the_limit(handles: RedisHandles) -> None:
    clock = Clock()
    scheduler = Scheduler(handles.commands, clock)
    for n in (3, 1, 2):
        await scheduler.at(T0 + n, f"job-{n}", "ping", str(n))
    clock.now = T0 + 10
    assert [job for job, _k, _d in await scheduler.due(limit=2)] == ["job-1", "job-2"]
    assert [job for job, _k, _d in await scheduler.due(limit=2)] == ["job-3"]


async def test_two_schedulers_fire_each_job_exactly_once(
    two_clients: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    clock = Clock()
    first, second = (Scheduler(client, clock) for client in two_clients)
    fired: list[str] = []

    async def record(data: str) -> None:
        fired.append(data)
        await asyncio.sleep(0)

    for scheduler in (first, second):
        scheduler.handle("ping", record)
    jobs = [f"job-{n}" for n in range(40)]
    for n, job in enumerate(jobs):
        await first.at(T0 + n % 5, job, "ping", job)
    clock.now = T0 + 10
    await asyncio.gather(*(s.fire_due(limit=3) for _ in range(20) for s in (first, second)))
    assert sorted(fired) == sorted(jobs)


async def test_a_failing_handler_is_logged_without_its_data_and_the_loop_goes_on(
    handles: RedisHandles, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    scheduler = Scheduler(handles.commands, clock)
    done = asyncio.Event()

    async def explode(data: str) -> None:
        raise RuntimeError(f"cannot reach {data}")

    async def finish(data: str) -> None:
        done.set()

    scheduler.handle("explode", explode)
    scheduler.handle("finish", finish)
    await scheduler.at(T0, "bad", "explode", "13800138000")
    await scheduler.at(T0, "unknown", "nobody-handles-this", "x")
    await scheduler.at(T0 + 1, "good", "finish", "ok")
    clock.now = T0 + 5
    with caplog.at_level(logging.ERROR, logger="bot.services.scheduler"):
        task = asyncio.create_task(scheduler.run(poll_s=0.01))
        await asyncio.wait_for(done.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    messages = [record.getMessage() for record in caplog.records]
    assert any("bad" in m and "RuntimeError" in m for m in messages)
    assert any("unknown" in m and "no handler" in m for m in messages)
    assert not any("13800138000" in m for m in messages)


async def test_a_job_kind_is_one_word(handles: RedisHandles) -> None:
    scheduler = Scheduler(handles.commands, Clock())
    with pytest.raises(ValueError):
        await scheduler.at(T0, "job", "two words", "x")


class Clock(MovableClock):
    """The shared movable clock, starting at this file's T0."""

    def __init__(self, now: float = T0) -> None:
        super().__init__(now)
