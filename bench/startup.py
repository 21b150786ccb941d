"""Memory, and how long `shouwen serve` takes to answer /health on the embedded store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 60.0


def rss_mb(pid: int | None = None) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@dataclass(slots=True)
class StartUp:
    """`shouwen serve` on the embedded store: time until /health says 200, and its RSS."""

    seconds: float | None
    rss_mb: float | None
    error: str | None = None


async def measure_start_up() -> StartUp:
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHOUWEN_")}
    command = [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)]
    started = time.perf_counter()
    server = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        if await _wait_healthy(f"http://127.0.0.1:{port}/health", server):
            return StartUp(time.perf_counter() - started, rss_mb(server.pid))
        stderr = await server.stderr.read() if server.stderr else b""
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        return StartUp(None, None, "no 200 from /health: " + " | ".join(tail))
    finally:
        await _stop(server)


async def _wait_healthy(url: str, server: asyncio.subprocess.Process) -> bool:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while time.monotonic() < deadline and server.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return True
            await asyncio.sleep(0.02)
    return False


async def _stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
