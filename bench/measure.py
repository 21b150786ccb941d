"""Measuring the sides: warm-up, saturated and paced rounds, and the figures they give."""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import pstats
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bench.dialog import Dialog, Side
from bench.rounds import Phase, run_lockstep, run_round

# Chat ids of each phase start here, so no phase sees another's conversations.
WARM_UP, SATURATED, LOCKSTEP, PACED, PROFILED = (
    1_000_000,
    2_000_000,
    7_000_000,
    8_000_000,
    9_000_000,
)
ALONE = 9_500_000


@dataclass(slots=True)
class SideFigures:
    """One side's results, as printed and written to --json."""

    name: str
    turns: int
    turns_per_s: float
    round_turns_per_s: list[float]
    p50_ms: float
    p99_ms: float
    paced_p50_ms: float
    paced_p99_ms: float
    trips_mean: float  # round trips sent per turn under load (shared ones included)
    trips_max: int  # round trips of a turn running alone, the most of any step
    handshake_trips: int
    idle_bytes: float
    idle_bytes_by_kind: dict[str, float]
    failures: list[str]
    transcript: list[str]
    # By step of the dialog: round trips of the turn alone, and sent per turn under load
    # (every conversation taking that step at once).
    trips_alone_by_step: list[int] = field(default_factory=list)
    trips_load_by_step: list[float] = field(default_factory=list)
    # The same split into turns that change nothing in the domain and turns that book or
    # open a case: the most alone, the mean under load.
    trips_alone_still: int = 0
    trips_alone_changing: int | None = None
    trips_load_still: float = 0.0
    trips_load_changing: float | None = None


@dataclass(slots=True)
class Phases:
    """One side's warm-up (discarded), saturated rounds and paced round."""

    warm_up: Phase = field(default_factory=Phase)
    alone: Phase = field(default_factory=Phase)  # one conversation: its turns' own round trips
    lockstep: Phase = field(default_factory=Phase)
    saturated: Phase = field(default_factory=Phase)
    paced: Phase = field(default_factory=Phase)
    load_by_step: list[float] = field(default_factory=list)


async def measure(
    sides: Sequence[Side], probe: aioredis.Redis, args: argparse.Namespace, dialog: Dialog
) -> list[SideFigures]:
    """Warm up each side, then saturated rounds taking turns between the sides (so a busy
    neighbour on the machine slows both alike), then a paced round of each side alone."""
    await probe.flushdb()
    n, turns = args.conversations, turns_of(dialog, args)
    phases = [Phases() for _ in sides]

    async def play(side: Side, chats: range, think_s: float, phase: Phase, seed: int) -> None:
        if dialog.reset is not None:
            await dialog.reset(probe)
        gc.collect()  # each round starts with no garbage left by the one before
        await run_round(side, dialog, chats, turns, think_s, phase, seed)

    for side, phase in zip(sides, phases, strict=True):
        await play(side, _chats(WARM_UP, n), 0.0, phase.warm_up, seed=1)
        await play(side, _chats(ALONE, 1), 0.0, phase.alone, seed=1)
        if dialog.reset is not None:
            await dialog.reset(probe)
        phase.load_by_step = await run_lockstep(
            side, dialog, _chats(LOCKSTEP, n), turns, phase.lockstep
        )
    for index in range(args.rounds):
        for side, phase in zip(sides, phases, strict=True):
            chats = _chats(SATURATED + index * n, n)
            await play(side, chats, 0.0, phase.saturated, seed=2)
    for side, phase in zip(sides, phases, strict=True):
        await play(side, _chats(PACED, n), args.think_ms / 1000, phase.paced, seed=3)
    measured = _chats(SATURATED, n * args.rounds)
    return [
        await side_figures(side, phase, probe, measured, dialog)
        for side, phase in zip(sides, phases, strict=True)
    ]


def turns_of(dialog: Dialog, args: argparse.Namespace) -> int:
    """Turns per conversation: the FAQ dialog may go round again; a service dialog cannot
    (the same customer would book the same window twice)."""
    if dialog.name == "faq" and args.turns_per_conversation:
        return int(args.turns_per_conversation)
    return dialog.length


async def side_figures(
    side: Side, phases: Phases, probe: aioredis.Redis, measured: range, dialog: Dialog
) -> SideFigures:
    """The figures of one side, with Redis bytes of its `measured` conversations, now idle."""
    saturated, paced = phases.saturated, phases.paced
    by_kind = await idle_bytes(probe, [side.idle_keys(chat) for chat in measured])
    failures = (
        phases.warm_up.failures
        + phases.alone.failures
        + phases.lockstep.failures
        + saturated.failures
        + paced.failures
    )
    left = [key for chat in measured for key in side.turn_keys(chat)]
    if left and (count := await probe.exists(*left)):
        failures.append(f"{side.name}: {count} turn keys (locks) left behind")
    alone = [max(phases.alone.trips_by_step.get(i, [0])) for i in range(len(phases.load_by_step))]
    load = phases.load_by_step
    still = [i for i in range(len(alone)) if i % dialog.length not in dialog.changing]
    changing = [i for i in range(len(alone)) if i % dialog.length in dialog.changing]
    return SideFigures(
        name=side.name,
        turns=len(saturated.latencies),
        turns_per_s=len(saturated.latencies) / saturated.seconds if saturated.seconds else 0.0,
        round_turns_per_s=saturated.round_rates,
        p50_ms=percentile(saturated.latencies, 50) * 1000,
        p99_ms=percentile(saturated.latencies, 99) * 1000,
        paced_p50_ms=percentile(paced.latencies, 50) * 1000,
        paced_p99_ms=percentile(paced.latencies, 99) * 1000,
        trips_mean=saturated.sent / max(len(saturated.latencies), 1),
        trips_max=max(phases.alone.trips, default=0),
        handshake_trips=saturated.handshakes + paced.handshakes,
        idle_bytes=sum(by_kind.values()),
        idle_bytes_by_kind=by_kind,
        failures=failures,
        transcript=saturated.transcript,
        trips_alone_by_step=alone,
        trips_load_by_step=load,
        trips_alone_still=max((alone[i] for i in still), default=0),
        trips_alone_changing=max((alone[i] for i in changing), default=None),
        trips_load_still=_mean([load[i] for i in still]),
        trips_load_changing=_mean([load[i] for i in changing]) if changing else None,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _chats(first: int, count: int) -> range:
    return range(first, first + count)


async def idle_bytes(
    probe: aioredis.Redis, conversations: list[dict[str, str]]
) -> dict[str, float]:
    """Mean `MEMORY USAGE` (exact: SAMPLES 0) per conversation, by kind of key."""
    if not conversations:
        return {}
    pipe = probe.pipeline(transaction=False)
    kinds = list(conversations[0])
    for conversation in conversations:
        for kind in kinds:
            pipe.memory_usage(conversation[kind], samples=0)
    sizes = await pipe.execute()
    totals = dict.fromkeys(kinds, 0.0)
    for kind, size in zip(itertools.cycle(kinds), sizes, strict=False):
        totals[kind] += size or 0
    return {kind: total / len(conversations) for kind, total in totals.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def profile_side(
    side: Side, probe: aioredis.Redis, args: argparse.Namespace, dialog: Dialog, top: int = 30
) -> str:
    """One more saturated round of a side under cProfile: the top cumulative entries."""
    if dialog.reset is not None:
        await dialog.reset(probe)
    profiler = cProfile.Profile()
    phase = Phase()
    gc.collect()
    chats = _chats(PROFILED, args.conversations)
    profiler.enable()
    await run_round(side, dialog, chats, turns_of(dialog, args), 0.0, phase, seed=4)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return f"{len(phase.latencies)} turns profiled ({dialog.name}, {side.name})\n{out.getvalue()}"
