"""Counting Redis round trips per turn, with connection handshakes apart.

A round trip is one `send_packed_command` of redis-py's asyncio connection. Two figures:
every round trip sent, in total (under load Shouwen sends the scripts of many turns in one
pipeline, so a shared round trip belongs to no single turn), and those of one turn running
alone, counted against its task (a context variable). Commands sent while a connection is
being set up (SELECT, CLIENT SETINFO) count as handshakes, apart.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from redis.asyncio.connection import AbstractConnection


@dataclass(slots=True)
class TripCount:
    """Round trips of the turn running in this task, and connection handshakes apart."""

    turn: int = 0
    handshake: int = 0


_TRIPS: ContextVar[TripCount | None] = ContextVar("bench_trips", default=None)
_IN_HANDSHAKE: ContextVar[bool] = ContextVar("bench_in_handshake", default=False)
_SENT = [0]  # every round trip but handshakes, whoever sent it


def sent_total() -> int:
    """Round trips sent so far by anyone (handshakes apart)."""
    return _SENT[0]


def count_this_task() -> TripCount:
    """A fresh counter for the round trips of the running task (its context only)."""
    counter = TripCount()
    _TRIPS.set(counter)
    return counter


def count_round_trips() -> None:
    """Count every `send_packed_command` (one round trip) against the running turn."""
    send = AbstractConnection.send_packed_command
    handshake = AbstractConnection.on_connect_check_health

    async def counted_send(
        self: AbstractConnection, command: Any, check_health: bool = True
    ) -> None:
        counter = _TRIPS.get()
        if not _IN_HANDSHAKE.get():
            _SENT[0] += 1
        if counter is not None:
            if _IN_HANDSHAKE.get():
                counter.handshake += 1
            else:
                counter.turn += 1
        await send(self, command, check_health)

    async def marked_handshake(self: AbstractConnection, check_health: bool = True) -> None:
        token = _IN_HANDSHAKE.set(True)
        try:
            await handshake(self, check_health)
        finally:
            _IN_HANDSHAKE.reset(token)

    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    AbstractConnection.on_connect_check_health = marked_handshake  # type: ignore[method-assign]
