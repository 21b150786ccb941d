"""Desk events fanned out to every open desk in every server process (Redis pub/sub).

A desk event says that something an agent or supervisor sees has changed: the queue moved,
a case they own changed, an SLA warning or breach, a colleague's presence. It goes to one
agent (`to="agent:<name>"`), to every supervisor (`to="role:supervisor"`) or to every desk
(`to="all"`). Each process holds one subscription and hands each event to its local
listeners (the desk's WebSocket connections), which keep what is addressed to them.
Events are hints to look again, never the record: a desk that missed one (a reconnect)
reads the current state from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.store import keys
from bot.store.events import listen_forever

log = logging.getLogger(__name__)

EVERYONE = "all"
SUPERVISORS = "role:supervisor"


def to_agent(name: str) -> str:
    """The address of one agent's desks."""
    return f"agent:{name}"


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """`kind`: "queue", "conversation", "entry", "case", "alert", "presence", ...;
    `data`: what a desk needs to show it (never a customer's phone or ID number)."""

    kind: str
    to: str = EVERYONE
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"k": self.kind, "to": self.to, "d": dict(self.data)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> DeskEvent:
        data = json.loads(raw)
        return cls(str(data["k"]), str(data.get("to", EVERYONE)), dict(data.get("d", {})))

    def reaches(self, agent: str, role: str) -> bool:
        """Whether a desk of `agent` with `role` should get this event."""
        return self.to in (EVERYONE, to_agent(agent), f"role:{role}")


Listener = Callable[[DeskEvent], None]


class DeskBus:
    """Publishes desk events to Redis and delivers those of every process to local listeners."""

    def __init__(self, redis: aioredis.Redis, subscriber: aioredis.Redis | None = None) -> None:
        self._redis = redis
        self._subscriber = subscriber or redis
        self._listeners: set[Listener] = set()
        self.connected = asyncio.Event()

    @contextlib.contextmanager
    def listen(self, listener: Listener) -> Iterator[None]:
        """Deliver every event (of every process) to `listener` while inside."""
        self._listeners.add(listener)
        try:
            yield
        finally:
            self._listeners.discard(listener)

    async def publish(self, event: DeskEvent) -> None:
        """Send `event` to every process's desks. Never raises: desks re-read on reconnect."""
        try:
            await self._redis.publish(keys.DESK_CHANNEL, event.to_json())
        except (RedisError, OSError) as error:
            log.warning("desk event %s not published: %s", event.kind, error)

    def _deliver(self, event: DeskEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken desk must not stop the others
                log.exception("desk listener failed on %s", event.kind)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff when Redis goes away."""
        await listen_forever(
            self._subscriber, keys.DESK_CHANNEL, self._on_message, self.connected, "desk"
        )

    def _on_message(self, data: str) -> None:
        try:
            event = DeskEvent.from_json(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed desk event")
            return
        self._deliver(event)
