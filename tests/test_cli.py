"""The commands a newcomer runs: serve on the embedded store, chat, nlu parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import psutil
import pytest

from tests.conftest import free_port

SHOUWEN = [sys.executable, "-m", "bot.cli"]


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWEN_")}
    clean.update(extra)
    return clean


@pytest.fixture
def server() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [*SHOUWEN, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
    )
    try:
        yield port, process
    finally:
        process.terminate()
        process.wait(10)


def wait_ready(process: subprocess.Popen[str]) -> list[str]:
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Web chat:"):
            return lines
    raise AssertionError("server did not say it was ready:\n" + "".join(lines))


def test_serve_starts_on_the_embedded_store_and_chats(
    server: tuple[int, subprocess.Popen[str]],
) -> None:
    port, process = server
    lines = wait_ready(process)
    assert any("embedded" in line for line in lines)
    assert any(f"http://127.0.0.1:{port}/" in line for line in lines)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/chat/messages",
        data=json.dumps({"text": "How do I check my bill?"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["locale"] == "en" and body["replies"][0]["text"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        assert json.load(response)["store"] == "embedded"


def test_workers_need_a_real_redis() -> None:
    result = subprocess.run(
        [*SHOUWEN, "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "SHOUWEN_REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOUWEN_PORT", "eighty"),
        # A configured SMS provider is never replaced by the console sender of development.
        ("SHOUWEN_SMS_PROVIDER", "twilio"),
    ],
)
def test_a_setting_serve_cannot_use_is_named(name: str, value: str) -> None:
    result = subprocess.run(
        [*SHOUWEN, "serve"],
        capture_output=True,
        text=True,
        env=env(**{name: value}),
        timeout=60,
    )
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("locale", "lines", "expected"),
    [
        ("zh", "国际漫游怎么开通\n1\n/quit\n", "漫游"),
        ("en", "How do I turn on roaming abroad?\n/quit\n", "roaming"),
    ],
)
def test_chat_in_the_terminal(locale: str, lines: str, expected: str) -> None:
    result = subprocess.run(
        [*SHOUWEN, "chat", "--locale", locale],
        input=lines,
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout.lower()
    assert "1. " in result.stdout  # buttons are numbered


def test_nlu_parse_prints_rasa_json() -> None:
    result = subprocess.run(
        [*SHOUWEN, "nlu", "parse", "明天下午3点上门修宽带"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["intent"]["name"] in {"book_appointment", "report_fault"}
    assert any(e["entity"] == "time" for e in body["entities"])


def test_workers_share_conversations_through_redis(real_redis: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*SHOUWEN, "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(SHOUWEN_REDIS_URL=real_redis, SHOUWEN_SECRET_KEY="not-a-real-secret-for-tests"),
    )
    try:
        wait_ready(process)
        wait_ready(process)  # both workers say they are ready
        conversation = None
        seqs: list[int] = []
        for i in range(12):  # new connections each time: the kernel spreads them over workers
            body: dict[str, object] = {"text": f"宽带问题 {i}", "id": f"m{i}"}
            if conversation:
                body["conversation"] = conversation
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/chat/messages",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Connection": "close"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = json.load(response)
            conversation = reply["conversation"]
            seqs.append(reply["echo"]["seq"])
        assert seqs == sorted(seqs) and len(set(seqs)) == 12
        workers = psutil.Process(process.pid).children()
        assert len(workers) >= 2
    finally:
        process.terminate()
        process.wait(10)
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "workers outlived the stopped server"


@pytest.mark.parametrize("workers", ["-1", "0", "65", "two"])
def test_a_worker_count_serve_cannot_use_is_refused(workers: str) -> None:
    result = subprocess.run(
        [*SHOUWEN, "serve", "--workers", workers],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr and "Traceback" not in result.stderr
