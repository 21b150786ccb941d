"""The report: everything measured, the printed tables, the targets and the JSON file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.measure import SideFigures
from bench.startup import StartUp
from bench.understanding import Understanding

# Appointment and case numbers differ between the sides (one counter serves both), and so
# may the second of a due time.
_NUMBERS = re.compile(r"\b[AC]\d{8,13}\b|\d{1,2}:\d{2}:\d{2}")


@dataclass(slots=True)
class DialogFigures:
    """One dialog's figures: Shouwen first, then its baseline if it has one."""

    name: str
    turns_per_conversation: int
    sides: list[SideFigures]
    targets: dict[str, bool | None] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    """Everything measured, as printed and written to --json."""

    conversations: int
    rounds: int
    think_ms: float
    services_load_s: float
    rss_before_load_mb: float
    rss_after_load_mb: float
    rss_after_run_mb: float
    understanding: Understanding
    start_up: StartUp | None
    dialogs: list[DialogFigures]
    cpus: int
    busy_before_pct: float  # the whole machine's CPU use just before the run
    load_average: float  # one-minute load average at the end


def targets(report: Report) -> None:
    """The issues' targets, judged for each dialog (and the process-wide ones on the first)."""
    for index, dialog in enumerate(report.dialogs):
        shouwen = dialog.sides[0]
        found: dict[str, bool | None] = {}
        if len(dialog.sides) > 1:
            found["Shouwen/aiogram turns/s >= 3.0x"] = (
                shouwen.turns_per_s >= 3.0 * dialog.sides[1].turns_per_s
            )
        found[f"Shouwen p99 < 20 ms at {report.conversations} conversations (paced)"] = (
            shouwen.paced_p99_ms < 20.0
        )
        found["Shouwen Redis round trips per turn that changes nothing <= 2 (alone)"] = (
            shouwen.trips_alone_still <= 2
        )
        if index == 0:
            found["NLU median < 1 ms"] = report.understanding.nlu_p50_ms < 1.0
            rss = report.start_up.rss_mb if report.start_up else None
            found["server RSS after start < 200 MB"] = None if rss is None else rss < 200.0
        dialog.targets = found


def print_report(report: Report) -> None:
    _print_header(report)
    for dialog in report.dialogs:
        _print_dialog(report, dialog)
    _print_resources(report)


def _print_dialog(report: Report, dialog: DialogFigures) -> None:
    sides = dialog.sides
    turns = sides[0].turns
    print(
        f"\n=== {dialog.name} dialog: {report.conversations} concurrent conversations x "
        f"{dialog.turns_per_conversation} turns, {report.rounds} saturated round(s) = "
        f"{turns} turns per side"
    )
    rows: list[tuple[str, Callable[[SideFigures], str]]] = [
        ("turns/s (saturated)", lambda s: f"{s.turns_per_s:,.0f}"),
        ("p50 ms (saturated)", lambda s: f"{s.p50_ms:.2f}"),
        ("p99 ms (saturated)", lambda s: f"{s.p99_ms:.2f}"),
        ("p50 ms (paced)", lambda s: f"{s.paced_p50_ms:.2f}"),
        ("p99 ms (paced)", lambda s: f"{s.paced_p99_ms:.2f}"),
        ("Redis round trips sent/turn, load", lambda s: f"{s.trips_mean:.2f}"),
        ("  turns changing nothing, load", lambda s: f"{s.trips_load_still:.2f}"),
        ("  turns booking/opening, load", lambda s: _opt(s.trips_load_changing, ".2f")),
        ("Redis round trips/turn, alone", lambda s: f"{s.trips_max}"),
        ("  turns changing nothing, alone", lambda s: f"{s.trips_alone_still}"),
        ("  turns booking/opening, alone", lambda s: _opt(s.trips_alone_changing, "d")),
        ("Redis bytes/idle conversation", lambda s: f"{s.idle_bytes:,.0f}"),
    ]
    print(f"{'':36}" + "".join(f"{side.name:>14}" for side in sides))
    for label, cell in rows:
        print(f"{label:36}" + "".join(f"{cell(side):>14}" for side in sides))
    for side in sides:
        alone = " ".join(f"{n}" for n in side.trips_alone_by_step)
        load = " ".join(f"{n:.2f}" for n in side.trips_load_by_step)
        print(f"  {side.name} round trips by step: alone [{alone}], under load [{load}]")
    for side in sides:
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in side.idle_bytes_by_kind.items())
        print(f"  {side.name} bytes by key: {parts}; handshake round trips: {side.handshake_trips}")
    for side in sides:
        rates = " / ".join(f"{rate:,.0f}" for rate in side.round_turns_per_s)
        print(f"  {side.name} turns/s round by round: {rates}")
    if len(sides) > 1:
        ratio = sides[0].turns_per_s / sides[1].turns_per_s if sides[1].turns_per_s else 0.0
        print(f"\n{sides[0].name}/{sides[1].name} turns/s ({dialog.name}): {ratio:.2f}x")
    print(f"Targets ({dialog.name}):")
    for name, met in dialog.targets.items():
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        print(f"  [{verdict}] {name}")


def _opt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_header(report: Report) -> None:
    print(
        f"\n{report.conversations} concurrent conversations, {report.rounds} saturated "
        f"round(s) per dialog (warm-up excluded); paced round: {report.think_ms:.0f} ms "
        "+-50 % between turns"
    )
    print(
        f"Machine: {report.cpus} CPUs, {report.busy_before_pct:.0f} % busy before the run,"
        f" load average {report.load_average:.1f} at the end"
    )
    if report.busy_before_pct > 20 or report.load_average > report.cpus * 0.75:
        print("  other work on this machine makes these figures noisy: compare runs")


def _print_resources(report: Report) -> None:
    print()
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
    if start is None:
        return
    if start.seconds is not None and start.rss_mb is not None:
        print(
            f"Server start-up (embedded store): /health 200 after {start.seconds:.2f} s, "
            f"RSS {start.rss_mb:.0f} MB"
        )
    else:
        print(f"Server start-up: FAILED ({start.error})")


def _same(text: str) -> str:
    """A reply as compared between the sides: numbers and times of day masked, the lines
    after a blank line (what Shouwen sends as a card or a second reply) cut."""
    return _NUMBERS.sub("<n>", text.split("\n\n", 1)[0])


def check_correctness(report: Report) -> list[str]:
    """Failures of either side, and any turn where the two sides said different things."""
    problems = []
    for dialog in report.dialogs:
        problems.extend(failure for side in dialog.sides for failure in side.failures)
        if len(dialog.sides) < 2:
            continue
        shouwen, baseline = dialog.sides[:2]
        for index, (ours, theirs) in enumerate(
            zip(shouwen.transcript, baseline.transcript, strict=False)
        ):
            if _same(ours) != _same(theirs):
                problems.append(
                    f"{dialog.name} turn {index + 1} answered differently: {ours!r} / {theirs!r}"
                )
    if report.start_up is not None and report.start_up.error:
        problems.append(f"server start-up: {report.start_up.error}")
    return problems[:20]


def write_json(report: Report, path: Path) -> None:
    """The report as JSON, for comparing runs."""
    path.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2) + "\n")
