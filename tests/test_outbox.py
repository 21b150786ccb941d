"""The outbox: stream delivery, stop honoured, retries with backoff, dead letters, claiming."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from bot.messages import Button, Card, Reply
from bot.services import outbox as outbox_module
from bot.services.outbox import GROUP, Notice, Outbox, TranscriptChannel
from bot.state import ConversationState
from bot.store import keys
from bot.store.client import RedisHandles, connect
from bot.store.conversations import ConversationStore
from tests.conftest import MovableClock as Clock
from tests.conftest import free_port

TO = "web:chat-1"


class Failing:
    """A channel that is down for its first `failures` deliveries."""

    def __init__(self, failures: int = 10**9) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[tuple[str, list[Reply]]] = []

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("gateway down")
        self.delivered.append((chat, list(replies)))


def render(notice: Notice) -> list[Reply]:
    card = Card("case", "Case", number=notice.subject, status=notice.params.get("state"))
    return [Reply(f"{notice.subject} {notice.kind}", (Button("ok", "rate:x:5"),), card)]


def notice(subject: str = "C2611230047", to: str = TO) -> Notice:
    return Notice(to, "case_state", subject, "en", {"state": "in_progress"})


def make(
    handles: RedisHandles, clock: Clock, channels: dict[str, object] | None = None, **options: int
) -> tuple[Outbox, ConversationStore]:
    store = ConversationStore(handles.commands, ttl_seconds=3600)
    chosen = channels if channels is not None else {"web": TranscriptChannel(store, clock)}
    return Outbox(handles.commands, render, chosen, store, clock, **options), store  # type: ignore[arg-type]


async def begin(store: ConversationStore, conversation: str = TO) -> None:
    """The web conversation exists: a transcript of a gone one is unreachable."""
    assert (await store.claim(conversation, "token", None)).status == "ok"
    await store.save(
        conversation,
        token="token",
        state=ConversationState().to_json(),
        message_id=None,
        entries=[],
    )


async def pending(handles: RedisHandles) -> int:
    summary = await handles.commands.xpending(keys.OUTBOX, GROUP)
    return int(summary["pending"])


async def test_a_notice_reaches_the_web_transcript(handles: RedisHandles) -> None:
    clock = Clock()
    outbox, store = make(handles, clock)
    await begin(store)
    await outbox.publish(notice())  # before any worker: the group starts at the stream's head
    assert await outbox.drain("w1") == 1
    [entry] = await store.read(TO, 0)
    assert entry.role == "bot" and entry.text == "C2611230047 case_state"
    assert entry.card is not None and entry.card.status == "in_progress"
    assert entry.buttons == (Button("ok", "rate:x:5"),) and entry.ts == clock.now
    assert await outbox.drain("w1") == 0  # acknowledged: not delivered twice
    assert await pending(handles) == 0 and await handles.commands.xlen(keys.OUTBOX) == 0


async def test_a_customer_who_said_stop_gets_nothing(handles: RedisHandles) -> None:
    outbox, store = make(handles, Clock())
    claim = await store.claim(TO, "token", None)
    assert claim.status == "ok"
    quiet = ConversationState(notify=False).to_json()
    await store.save(TO, token="token", state=quiet, message_id=None, entries=[])
    await outbox.publish(notice())
    assert await outbox.drain("w1") == 1
    assert await store.read(TO, 0) == []
    assert await pending(handles) == 0 and await outbox.retries() == 0
    assert await outbox.dead() == []


async def test_a_gone_conversation_is_unreachable_and_dead_lettered_at_once(
    handles: RedisHandles,
) -> None:
    outbox, store = make(handles, Clock())
    await outbox.publish(notice())  # its web conversation expired (or never was)
    assert await outbox.drain("w1") == 1
    [(_dead, reason, attempts)] = await outbox.dead()
    assert reason.startswith("unreachable on web") and attempts == 1
    assert await store.read(TO, 0) == [] and await outbox.retries() == 0


async def test_unknown_channel_is_dead_lettered(handles: RedisHandles) -> None:
    outbox, _store = make(handles, Clock())
    await outbox.publish(notice(to="fax:123"))
    assert await outbox.drain("w1") == 1
    [(dead, reason, attempts)] = await outbox.dead()
    assert dead == notice(to="fax:123") and reason == "unknown channel: fax" and attempts == 1
    assert await pending(handles) == 0


async def test_a_malformed_entry_is_dead_lettered(handles: RedisHandles) -> None:
    outbox, _store = make(handles, Clock())
    await handles.commands.xadd(keys.OUTBOX, {"n": "{not json", "a": "1"})
    assert await outbox.drain("w1") == 1
    reasons = await handles.commands.xrange(keys.OUTBOX_DEAD)
    assert [fields["reason"] for _id, fields in reasons] == ["malformed notice"]


async def test_failures_back_off_exponentially_then_dead_letter(handles: RedisHandles) -> None:
    clock = Clock()
    channel = Failing()
    outbox, _store = make(handles, clock, {"web": channel}, max_attempts=4)
    await outbox.publish(notice())
    assert await outbox.drain("w1") == 1 and channel.calls == 1
    for wait in (2, 4, 8):
        clock.now += wait - 0.5
        assert await outbox.drain("w1") == 0  # not due yet
        clock.now += 0.5
        assert await outbox.drain("w1") == 1
    assert channel.calls == 4
    [(dead, reason, attempts)] = await outbox.dead()
    assert dead == notice() and attempts == 4 and reason == "ConnectionError: gateway down"
    assert await outbox.retries() == 0 and await pending(handles) == 0
    clock.now += 3600
    assert await outbox.drain("w1") == 0 and channel.calls == 4


async def test_a_hung_channel_is_retried_instead_of_holding_the_worker(
    handles: RedisHandles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "DELIVERY_TIMEOUT_S", 0.05)
    outbox, _store = make(handles, Clock(), {"web": Hanging()})
    await outbox.publish(notice())
    assert await outbox.drain("w1") == 1
    assert await outbox.retries() == 1 and await pending(handles) == 0


async def test_the_log_never_names_a_conversation(
    handles: RedisHandles, caplog: pytest.LogCaptureFixture
) -> None:
    # A web conversation id opens its transcript: it is as secret as a password.
    caplog.set_level(logging.DEBUG, logger="bot.services.outbox")
    outbox, store = make(handles, Clock(), {"web": Failing()}, max_attempts=1)
    await outbox.publish(notice())
    await outbox.drain("w1")  # given up on
    await store.claim(TO, "token", None)
    quiet = ConversationState(notify=False).to_json()
    await store.save(TO, token="token", state=quiet, message_id=None, entries=[])
    await outbox.publish(notice())
    await outbox.drain("w1")  # skipped
    assert caplog.records and "chat-1" not in caplog.text


async def test_a_worker_without_its_store_says_so_once_and_waits_longer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    outbox, _store = make(gone, Clock())
    stop = asyncio.Event()
    worker = asyncio.create_task(outbox.run("w1", stop))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(worker, 20)
    warnings = [r for r in caplog.records if r.name == "bot.services.outbox"]
    assert [r.levelno for r in warnings] == [logging.WARNING]  # no traceback, no flood
    await gone.close()


async def test_a_retry_that_succeeds_is_delivered_once(handles: RedisHandles) -> None:
    clock = Clock()
    channel = Failing(failures=2)
    outbox, _store = make(handles, clock, {"web": channel})
    await outbox.publish(notice())
    for _ in range(3):
        await outbox.drain("w1")
        clock.now += 60
    await outbox.drain("w1")
    assert [chat for chat, _replies in channel.delivered] == ["chat-1"]
    assert await outbox.dead() == [] and await outbox.retries() == 0


def test_backoff_is_capped() -> None:
    outbox = Outbox(connect(None).commands, render, {}, None, backoff_cap_s=30)  # type: ignore[arg-type]
    assert [outbox.backoff(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


async def test_two_workers_deliver_each_notice_once(handles: RedisHandles) -> None:
    clock = Clock()
    channel = Failing(failures=0)
    first, _store = make(handles, clock, {"web": channel})
    second, _store = make(handles, clock, {"web": channel})
    for n in range(40):
        await first.publish(notice(subject=f"C{n}"))
    counts = await asyncio.gather(first.drain("a"), second.drain("b"))
    assert sum(counts) == 40
    delivered = sorted(replies[0].text for _chat, replies in channel.delivered)
    assert delivered == sorted(f"C{n} case_state" for n in range(40))


class Hanging:
    """A channel whose delivery never returns: the worker dies in the middle of it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        self.started.set()
        await asyncio.Event().wait()


async def test_a_dead_workers_notice_is_claimed_by_another(handles: RedisHandles) -> None:
    clock = Clock()
    hanging = Hanging()
    dying, _store = make(handles, clock, {"web": hanging})
    await dying.publish(notice())
    task = asyncio.create_task(dying.drain("a"))
    await hanging.started.wait()
    task.cancel()  # consumer "a" read the notice and died without acknowledging it
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await pending(handles) == 1
    channel = Failing(failures=0)
    patient, _store = make(handles, clock, {"web": channel}, min_idle_ms=60_000)
    assert await patient.drain("b") == 0  # "a" might still be working on it
    claimer, _store = make(handles, clock, {"web": channel}, min_idle_ms=20)
    await asyncio.sleep(0.05)  # let the entry become idle for longer than min_idle_ms
    assert await claimer.drain("b") == 1
    assert [chat for chat, _replies in channel.delivered] == ["chat-1"]
    assert await pending(handles) == 0


async def test_the_worker_loop_delivers_and_stops_when_cancelled(handles: RedisHandles) -> None:
    clock = Clock()
    outbox, store = make(handles, clock)
    await begin(store)
    worker = asyncio.create_task(outbox.run("w1"))
    await outbox.publish(notice())
    for _ in range(200):
        if await store.read(TO, 0):
            break
        await asyncio.sleep(0.02)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert [entry.text for entry in await store.read(TO, 0)] == ["C2611230047 case_state"]


async def test_the_outbox_survives_its_stream_being_deleted(handles: RedisHandles) -> None:
    outbox, store = make(handles, Clock())
    await begin(store)
    assert await outbox.drain("w1") == 0
    await handles.commands.delete(keys.OUTBOX)  # e.g. an operator flushed it
    await outbox.publish(notice())
    await outbox.drain("w1")
    await outbox.drain("w1")
    assert len(await store.read(TO, 0)) == 1


async def test_an_idle_worker_does_not_spin_on_the_embedded_store() -> None:
    handles = connect(None)  # fakeredis answers a blocking read at once
    outbox, _store = make(handles, Clock())
    steps = 0
    step = outbox._step

    async def counted(consumer: str, block_ms: int | None) -> int:
        nonlocal steps
        steps += 1
        return await step(consumer, block_ms)

    outbox._step = counted  # type: ignore[method-assign]
    worker = asyncio.create_task(outbox.run("w1"))
    await asyncio.sleep(0.3)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert 1 <= steps <= 5  # a spinning loop would take thousands of steps
    await handles.close()
