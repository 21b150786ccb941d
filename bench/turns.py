"""Turns: Shouwen's engine against the same dialog written as an aiogram 3 FSM bot.

    .venv/bin/python bench/turns.py [--dialog faq|booking|complaint|all]
                                    [--conversations 200] [--turns-per-conversation 5]
                                    [--redis-url URL] [--rounds 3] [--think-ms 1000]
                                    [--json PATH] [--profile] [--no-start-up]

Dialogs (`--dialog`, default faq): `faq` (greeting, two questions, a related-question
button, thanks); `booking` (ask for a broadband installation, pick the area by button, a
free-text day and time, phone, ID number, confirm: a real booking); `complaint` (ask to
complain, a category button, the description, a phone: a real graded case). Every
booking and complaint customer has a phone of its own, and the bookings are spread over
the areas, windows and days of the horizon, with capacity given back before each round.

Both sides run in this process on the same real Redis database (emptied first and last;
their keys do not overlap), with the same understanding work: the baseline's handlers call
the same `services.nlu` and `services.faq` to pick the same answers, and for the booking
and the complaint the same readers of answers (flows/booking_slots.py, `category_of`,
`read_mobile`) and the same `Appointments`, `ComplaintGrader` and `Cases` calls of a Domain
wired as the server wires it (`build_runtime`: the desk's SLA clock and open-case index
watch the cases on both sides), so the comparison is of the runtime around them (dispatcher,
storage, serialisation). The domain's own work (Redis calls of capacity, bookings and cases)
is the same on both sides, so it narrows the ratio of a dialog that does much of it. Each side runs:

- a warm-up round (connections, script cache), left out of every figure;
- one conversation alone: the round trips each of its turns costs, its own budget;
- a lockstep round (untimed): every conversation takes step k before any takes step k + 1,
  so the round trips sent for step k divided by the conversations is what that step costs
  under load, shared pipelines included;
- `--rounds` saturated rounds, the sides taking turns round by round: every conversation
  sends its next message as soon as the previous one is answered. This gives turns/s; its
  latency is mostly queueing (Little's law: latency = concurrency / throughput);
- a paced round: new conversations with a customer's pause (`--think-ms`, varied +-50 %)
  between messages. Its latency is what a customer waits for at that concurrency, and the
  p99 target is judged on it.

A Redis round trip is one `send_packed_command` of redis-py's asyncio connection. Round
trips are reported split into turns that change nothing in the domain and turns that book
or open a case; connection handshakes (SELECT, CLIENT SETINFO) are counted apart.
The aiogram bot talks to a recording session instead of Telegram: it records each request
and returns what Telegram would, without serialising the request to JSON as a real session
does (a cost the baseline is spared). Shouwen's two round
trips also lock the conversation, de-duplicate the message id and append both sides of the
turn to the transcript; the aiogram bot, on aiogram's defaults, does none of that.

The pieces live beside this file: `dialog` and `service_dialogs` (the steps and the Side
protocol), `roundtrips`, `shouwen_side`, `baseline_answers`, `baseline_aiogram` and
`baseline_booking` (the sides), `rounds` and `measure` (running and measuring them),
`understanding`, `startup` and `report`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ on sys.path, not the repository that holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Sequence

import psutil
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bench.baseline_aiogram import AiogramSide, aiogram_side
from bench.baseline_booking import booking_router, domain_side
from bench.baseline_complaint import complaint_router
from bench.dialog import FAQ, Dialog, Side
from bench.measure import measure, profile_side
from bench.report import (
    DialogFigures,
    Report,
    check_correctness,
    print_report,
    targets,
    write_json,
)
from bench.roundtrips import count_round_trips
from bench.service_dialogs import BOOKING, COMPLAINT_DIALOG
from bench.shouwen_side import shouwen_side
from bench.startup import measure_start_up, rss_mb
from bench.understanding import time_understanding
from bot.dialog import Services
from bot.metrics import Metrics
from bot.settings import Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DIALOGS = {dialog.name: dialog for dialog in (FAQ, BOOKING, COMPLAINT_DIALOG)}


def baseline(
    dialog: Dialog, services: Services, url: str
) -> contextlib.AbstractAsyncContextManager[AiogramSide]:
    """The aiogram bot that answers `dialog`."""
    if dialog is BOOKING:
        return domain_side(services, url, booking_router)
    if dialog is COMPLAINT_DIALOG:
        return domain_side(services, url, complaint_router)
    return aiogram_side(services, url)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--dialog", choices=[*DIALOGS, "all"], default="faq", help="which dialog (faq)"
    )
    parser.add_argument("--conversations", type=int, default=200, help="concurrent (200)")
    parser.add_argument(
        "--turns-per-conversation",
        type=int,
        default=FAQ.length,
        help="FAQ dialog only (5); the others run their whole dialog once",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SHOUWEN_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="a database this benchmark may empty; not db 0 (SHOUWEN_BENCH_REDIS_URL)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="saturated rounds (3)")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="paced round's pause")
    parser.add_argument("--nlu-calls", type=int, default=2000)
    parser.add_argument(
        "--nlu-cache",
        type=int,
        default=None,
        help="recent rankings the shared NLU keeps (as served when not given; 0: none)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile a round of each side of each dialog"
    )
    parser.add_argument(
        "--no-start-up", action="store_true", help="skip timing `shouwen serve` start-up"
    )
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.turns_per_conversation < 1 or args.rounds < 1:
        parser.error("--conversations, --turns-per-conversation and --rounds must be >= 1")
    return args


async def open_probe(url: str) -> aioredis.Redis:
    """The benchmark's own client; exits with a message if Redis is unusable."""
    db = int(aioredis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0))
    if db == 0:
        raise SystemExit(f"bench: refusing to empty database 0 of {url}; pick another (e.g. /14)")
    probe = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    try:
        await probe.ping()  # type: ignore[misc]
    except (RedisError, OSError) as error:
        raise SystemExit(f"bench: Redis at {url} does not answer ({error})") from None
    return probe


def load_timed() -> tuple[Services, float]:
    """`load_services` as the server calls it, and how long it took."""
    from bot.app import load_services  # imported here: the NLU's imports count as loading

    started = time.perf_counter()
    services = load_services(Settings(), Metrics())
    return services, time.perf_counter() - started


async def compare(
    services: Services, probe: aioredis.Redis, args: argparse.Namespace, dialog: Dialog
) -> tuple[DialogFigures, list[str]]:
    """Both sides of `dialog` measured; and profiles of them when --profile asked."""
    async with contextlib.AsyncExitStack() as stack:
        sides: list[Side] = [
            await stack.enter_async_context(shouwen_side(services, args.redis_url))
        ]
        if dialog.has_baseline:
            sides.append(
                await stack.enter_async_context(baseline(dialog, services, args.redis_url))
            )
        figures = await measure(sides, probe, args, dialog)
        profiles = (
            [await profile_side(side, probe, args, dialog) for side in sides]
            if args.profile
            else []
        )
    await probe.flushdb()
    return DialogFigures(dialog.name, len(figures[0].trips_alone_by_step), figures), profiles


async def run(args: argparse.Namespace) -> tuple[Report, list[str]]:
    """Every measurement; the report, and the profiles when --profile asked for them."""
    probe = await open_probe(args.redis_url)
    busy_before = await asyncio.to_thread(psutil.cpu_percent, 0.5)
    rss_before = rss_mb()
    services, load_s = load_timed()
    rss_after_load = rss_mb()
    understanding = time_understanding(services, args.nlu_calls)
    if args.nlu_cache is not None:
        # Both sides call this same NLU, so its rankings cache serves them alike.
        services.nlu.keep_rankings(args.nlu_cache)
    chosen = list(DIALOGS.values()) if args.dialog == "all" else [DIALOGS[args.dialog]]
    dialogs, profiles = [], []
    count_round_trips()
    try:
        for dialog in chosen:
            figures, profiled = await compare(services, probe, args, dialog)
            dialogs.append(figures)
            profiles.extend(profiled)
    finally:
        await probe.aclose()
    rss_after_run = rss_mb()
    report = Report(
        conversations=args.conversations,
        rounds=args.rounds,
        think_ms=args.think_ms,
        services_load_s=load_s,
        rss_before_load_mb=rss_before,
        rss_after_load_mb=rss_after_load,
        rss_after_run_mb=rss_after_run,
        understanding=understanding,
        start_up=None if args.no_start_up else await measure_start_up(),
        dialogs=dialogs,
        cpus=psutil.cpu_count() or 1,
        busy_before_pct=busy_before,
        load_average=os.getloadavg()[0],
    )
    return report, profiles


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report, profiles = asyncio.run(run(args))
    targets(report)
    for profile in profiles:
        print(f"Under cProfile, top entries by cumulative and by own time:\n{profile}")
    print_report(report)
    if args.json:
        write_json(report, args.json)
        print(f"\nFigures written to {args.json}")
    problems = check_correctness(report)
    sys.stdout.flush()
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
