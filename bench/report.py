"""The report: everything measured, the printed table, the targets and the JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.measure import SideFigures
from bench.startup import StartUp
from bench.understanding import Understanding


@dataclass(slots=True)
class Report:
    """Everything measured, as printed and written to --json."""

    conversations: int
    turns_per_conversation: int
    rounds: int
    think_ms: float
    services_load_s: float
    rss_before_load_mb: float
    rss_after_load_mb: float
    rss_after_run_mb: float
    understanding: Understanding
    start_up: StartUp
    sides: list[SideFigures]
    cpus: int
    busy_before_pct: float  # the whole machine's CPU use just before the run
    load_average: float  # one-minute load average at the end
    targets: dict[str, bool | None] = field(default_factory=dict)  # None: not measured


def targets(report: Report) -> dict[str, bool | None]:
    shouwen, baseline = report.sides
    rss = report.start_up.rss_mb
    return {
        "Shouwen/aiogram turns/s >= 3.0x": shouwen.turns_per_s >= 3.0 * baseline.turns_per_s,
        f"Shouwen p99 < 20 ms at {report.conversations} conversations (paced)": (
            shouwen.paced_p99_ms < 20.0
        ),
        "Shouwen Redis round trips per ordinary turn <= 2": shouwen.trips_max <= 2,
        "NLU median < 1 ms": report.understanding.nlu_p50_ms < 1.0,
        "server RSS after start < 200 MB": None if rss is None else rss < 200.0,
    }


def print_report(report: Report) -> None:
    _print_header(report)
    shouwen, baseline = report.sides
    rows: list[tuple[str, Callable[[SideFigures], str]]] = [
        ("turns/s (saturated)", lambda s: f"{s.turns_per_s:,.0f}"),
        ("p50 ms (saturated)", lambda s: f"{s.p50_ms:.2f}"),
        ("p99 ms (saturated)", lambda s: f"{s.p99_ms:.2f}"),
        ("p50 ms (paced)", lambda s: f"{s.paced_p50_ms:.2f}"),
        ("p99 ms (paced)", lambda s: f"{s.paced_p99_ms:.2f}"),
        ("Redis round trips sent/turn, load", lambda s: f"{s.trips_mean:.2f}"),
        ("Redis round trips/turn, alone", lambda s: f"{s.trips_max}"),
        ("Redis bytes/idle conversation", lambda s: f"{s.idle_bytes:,.0f}"),
    ]
    print(f"{'':32}{shouwen.name:>14}{baseline.name:>14}")
    for label, cell in rows:
        print(f"{label:32}{cell(shouwen):>14}{cell(baseline):>14}")
    for side in report.sides:
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in side.idle_bytes_by_kind.items())
        print(f"  {side.name} bytes by key: {parts}; handshake round trips: {side.handshake_trips}")
    for side in report.sides:
        rates = " / ".join(f"{rate:,.0f}" for rate in side.round_turns_per_s)
        print(f"  {side.name} turns/s round by round: {rates}")
    ratio = shouwen.turns_per_s / baseline.turns_per_s if baseline.turns_per_s else 0.0
    print(f"\nShouwen/aiogram turns/s: {ratio:.2f}x")
    _print_resources(report)
    print("\nTargets:")
    for name, met in report.targets.items():
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        print(f"  [{verdict}] {name}")


def _print_header(report: Report) -> None:
    turns = report.sides[0].turns
    print(
        f"\n{report.conversations} concurrent conversations x {report.turns_per_conversation}"
        f" turns, {report.rounds} saturated round(s) = {turns} turns per side"
        f" (warm-up excluded); paced round: {report.think_ms:.0f} ms +-50 % between turns"
    )
    print(
        f"Machine: {report.cpus} CPUs, {report.busy_before_pct:.0f} % busy before the run,"
        f" load average {report.load_average:.1f} at the end"
    )
    if report.busy_before_pct > 20 or report.load_average > report.cpus * 0.75:
        print("  other work on this machine makes these figures noisy: compare runs")
    print()


def _print_resources(report: Report) -> None:
    u = report.understanding
    for name, first, p50, p99 in (
        ("NLU parse", u.nlu_first_ms, u.nlu_p50_ms, u.nlu_p99_ms),
        ("FAQ match", u.faq_first_ms, u.faq_p50_ms, u.faq_p99_ms),
    ):
        print(
            f"{name} ({u.calls} calls): median {p50:.3f} ms, p99 {p99:.3f} ms"
            f" (first pass, slowest call: {first:.2f} ms)"
        )
    print(
        f"This process (aiogram imported): RSS {report.rss_before_load_mb:.0f} MB before "
        f"importing bot.app, {report.rss_after_load_mb:.0f} MB after it and load_services "
        f"(which took {report.services_load_s:.2f} s), {report.rss_after_run_mb:.0f} MB "
        "after the run"
    )
    start = report.start_up
    if start.seconds is not None and start.rss_mb is not None:
        print(
            f"Server start-up (embedded store): /health 200 after {start.seconds:.2f} s, "
            f"RSS {start.rss_mb:.0f} MB"
        )
    else:
        print(f"Server start-up: FAILED ({start.error})")


def check_correctness(report: Report) -> list[str]:
    """Failures of either side, and any turn where the two sides said different things."""
    problems = [failure for side in report.sides for failure in side.failures]
    shouwen, baseline = report.sides
    for index, (ours, theirs) in enumerate(
        zip(shouwen.transcript, baseline.transcript, strict=False)
    ):
        if ours != theirs:
            problems.append(f"turn {index + 1} answered differently: {ours!r} / {theirs!r}")
    if report.start_up.error:
        problems.append(f"server start-up: {report.start_up.error}")
    return problems[:20]


def write_json(report: Report, path: Path) -> None:
    """The report as JSON, for comparing runs."""
    path.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2) + "\n")
