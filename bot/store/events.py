"""Fan-out of "this conversation has new entries" to every waiting reader in every process.

Each server process holds one Redis subscription to `keys.EVENTS_CHANNEL`; readers (a long
poll, a web socket) register a `Watch` *before* reading the transcript, so an entry that
lands between their read and their wait still wakes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.store import keys

log = logging.getLogger(__name__)


class Watch:
    """A reader's interest in one conversation: `wait` returns when it has news."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.last_seq = 0

    def notify(self, seq: int) -> None:
        self.last_seq = max(self.last_seq, seq)
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when news came within `seconds`; resets for the next wait."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class EventHub:
    """The process's subscription and its local watches, keyed by conversation."""

    def __init__(self, subscriber: aioredis.Redis) -> None:
        self._subscriber = subscriber
        self._watches: dict[str, set[Watch]] = {}
        self.connected = asyncio.Event()

    @contextlib.contextmanager
    def watch(self, conversation_id: str) -> Iterator[Watch]:
        watch = Watch()
        self._watches.setdefault(conversation_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(conversation_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[conversation_id]

    def announce(self, conversation_id: str, seq: int) -> None:
        """Wake local watches at once (the Redis message will follow, harmlessly)."""
        for watch in tuple(self._watches.get(conversation_id, ())):
            watch.notify(seq)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff when Redis goes away."""
        await listen_forever(
            self._subscriber, keys.EVENTS_CHANNEL, self._on_message, self.connected, "event"
        )

    def _on_message(self, data: str) -> None:
        conversation_id, _sep, seq = data.rpartition(" ")
        if seq.isdigit():
            self.announce(conversation_id, int(seq))


async def listen_forever(
    subscriber: aioredis.Redis,
    channel: str,
    on_message: Callable[[str], None],
    connected: asyncio.Event,
    name: str,
) -> None:
    """Hand each message of `channel` to `on_message` until cancelled; `connected` is set
    while subscribed. A lost connection is retried with backoff (0.2 s doubling to 5 s)."""
    delay = 0.2
    while True:
        try:
            await _listen(subscriber, channel, on_message, connected)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as error:
            if connected.is_set():
                delay = 0.2  # it had been working: start the backoff afresh
            connected.clear()
            log.warning("%s subscription lost (%s); retrying in %.1fs", name, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _listen(
    subscriber: aioredis.Redis,
    channel: str,
    on_message: Callable[[str], None],
    connected: asyncio.Event,
) -> None:
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(channel)
        connected.set()
        while True:
            message = await pubsub.get_message(timeout=30.0)
            if message is not None and message.get("type") == "message":
                on_message(str(message["data"]))
    finally:
        with contextlib.suppress(RedisError, OSError):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
