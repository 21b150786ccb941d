"""Running rounds of conversations against a side, each turn timed and its trips counted."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.dialog import Dialog, Side, Step
from bench.roundtrips import count_this_task, sent_total


@dataclass(slots=True)
class Phase:
    """What the conversations of one phase measured."""

    latencies: list[float] = field(default_factory=list)
    trips: list[int] = field(default_factory=list)
    # Round trips counted against each turn's own task, by the turn's index in the dialog:
    # exact for a conversation alone; under load a shared pipeline counts for its sender.
    trips_by_step: defaultdict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    handshakes: int = 0
    sent: int = 0  # round trips sent during the phase, by all its turns together
    seconds: float = 0.0
    round_rates: list[float] = field(default_factory=list)  # turns/s of each round
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)  # the first chat's first replies


async def run_round(
    side: Side,
    dialog: Dialog,
    chats: range,
    turns: int,
    think_s: float,
    phase: Phase,
    seed: int,
) -> None:
    """Every chat in `chats` talks at once; each waits `think_s` (+-50 %) between turns."""
    rng = random.Random(seed)
    pauses = {chat: _pauses(rng, turns, think_s) for chat in chats}
    scripts = {chat: dialog.script(chat, side.salt) for chat in chats}
    recorded = chats.start if not phase.transcript else None
    done_before = len(phase.latencies)
    sent_before = sent_total()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            converse(side, chat, scripts[chat], turns, pauses[chat], phase, chat == recorded)
            for chat in chats
        )
    )
    seconds = time.perf_counter() - started
    phase.sent += sent_total() - sent_before
    phase.seconds += seconds
    phase.round_rates.append((len(phase.latencies) - done_before) / seconds)


async def run_lockstep(
    side: Side, dialog: Dialog, chats: range, turns: int, phase: Phase
) -> list[float]:
    """Every chat takes its turn k at once, all of them before any takes turn k + 1: the
    round trips sent per turn of each step under load (shared pipelines included)."""
    scripts = {chat: dialog.script(chat, side.salt) for chat in chats}
    per_turn = []
    for index in range(turns):
        sent_before = sent_total()
        await asyncio.gather(
            *(_one_turn(side, chat, scripts[chat], index, phase) for chat in chats)
        )
        per_turn.append((sent_total() - sent_before) / len(chats))
    return per_turn


async def _one_turn(
    side: Side, chat: int, script: Sequence[Step], index: int, phase: Phase
) -> None:
    try:
        await side.turn(chat, script[index % len(script)])
    except Exception as error:  # reported with the others' failures
        phase.failures.append(f"{side.name}, chat {chat}, lockstep turn {index + 1}: {error!r}")


def _pauses(rng: random.Random, turns: int, think_s: float) -> list[float]:
    if think_s <= 0:
        return [0.0] * turns
    # The first pause staggers the start, so customers do not all type at the same instant.
    return [rng.uniform(0, think_s)] + [rng.uniform(0.5, 1.5) * think_s for _ in range(1, turns)]


async def converse(
    side: Side,
    chat: int,
    script: Sequence[Step],
    turns: int,
    pauses: list[float],
    phase: Phase,
    record: bool,
) -> None:
    """One customer's dialog, each turn timed and its round trips counted."""
    counter = count_this_task()
    for index in range(turns):
        if pauses[index]:
            await asyncio.sleep(pauses[index])
        counter.turn = 0
        started = time.perf_counter()
        try:
            replies = await side.turn(chat, script[index % len(script)])
        except Exception as error:  # any failure is reported, none stops the others
            phase.failures.append(f"{side.name}, chat {chat}, turn {index + 1}: {error!r}")
            return
        phase.latencies.append(time.perf_counter() - started)
        phase.trips.append(counter.turn)
        phase.trips_by_step[index].append(counter.turn)
        if record:
            phase.transcript.append(replies[0])
    phase.handshakes += counter.handshake
