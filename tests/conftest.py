"""Shared fixtures: settings, loaded services, the embedded store and a real Redis.

Real Redis comes from SHOUWEN_TEST_REDIS_URL, else a private `redis-server` started on a
free port for the session. Without either, those tests skip with the reason; with
SHOUWEN_TEST_STRICT=1 (CI) a missing Redis or browser fails instead, and so does any skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fakeredis
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from bot.dialog import Services
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store.client import RedisHandles, connect

# The handoff and desk tests' server (`world`, `either`), a fixture module of its own.
pytest_plugins = ["tests.desk_world"]

STRICT = os.environ.get("SHOUWEN_TEST_STRICT") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail under SHOUWEN_TEST_STRICT=1, because infrastructure is missing."""
    if STRICT:
        pytest.fail(f"required in strict mode: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_private_redis(directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of our own on a free port; the caller stops it."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = sync_redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except sync_redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("private redis-server did not start")
    client.close()
    return process, url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for the session (emptied before each test that uses it)."""
    url = os.environ.get("SHOUWEN_TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        unavailable("no real Redis: set SHOUWEN_TEST_REDIS_URL or install redis-server")
    with tempfile.TemporaryDirectory() as directory:
        process, url = start_private_redis(Path(directory))
        yield url
        process.terminate()
        process.wait(10)


@pytest.fixture
def real_redis(redis_url: str) -> str:
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return redis_url


@pytest.fixture(params=["embedded", "redis"])
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[RedisHandles]:
    """The same tests on the embedded store and on a real Redis."""
    url = request.getfixturevalue("real_redis") if request.param == "redis" else None
    redis_handles = connect(url)
    yield redis_handles
    await redis_handles.close()


@pytest.fixture(params=["embedded", "redis"])
async def two_clients(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    """Two clients of one Redis, as two server processes would have."""
    if request.param == "redis":
        url = request.getfixturevalue("real_redis")
        first, second = connect(url), connect(url)
        yield first.commands, second.commands
        await first.close()
        await second.close()
        return
    server = fakeredis.FakeServer()
    yield (
        fakeredis.FakeAsyncRedis(server=server, decode_responses=True),
        fakeredis.FakeAsyncRedis(server=server, decode_responses=True),
    )


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def services(settings: Settings) -> Services:
    from bot.app import load_services

    return load_services(settings, Metrics())


class RoundTrips:
    """Counts what is sent to Redis: one `send_packed_command` is one round trip."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    from redis.asyncio.connection import AbstractConnection

    counter = RoundTrips()
    original = AbstractConnection.send_packed_command

    async def counting(
        self: AbstractConnection, command: object, check_health: bool = True
    ) -> None:
        counter.count += 1
        await original(self, command, check_health)  # type: ignore[arg-type]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return counter


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if STRICT and skipped and exitstatus == 0:
        if reporter is not None:
            reporter.write_line(f"strict mode: {len(skipped)} test(s) skipped; failing the run")
        session.exitstatus = 1


# Monday 2026-11-23 10:00 in Asia/Shanghai: inside service hours, with a working week ahead.
CLOCK_START = 1_795_399_200.0


class MovableClock:
    """A clock tests move by hand: `clock()` is epoch seconds, `advance(s)` moves it."""

    def __init__(self, now: float = CLOCK_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSms:
    """An SMS sender that keeps what it would send (phone, text), for reading codes back."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self, phone: str = "13800138000") -> str:
        """The newest 6-digit code sent to `phone`."""
        import re

        for to, text in reversed(self.sent):
            found = re.search(r"(?<!\d)\d{6}(?!\d)", text)
            if to == phone and found:
                return found.group()
        raise AssertionError(f"no code was sent to {phone}")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()
