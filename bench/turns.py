"""Turns: Shouwen's engine against the same dialog written as an aiogram 3 FSM bot.

    .venv/bin/python bench/turns.py [--conversations 200] [--turns-per-conversation 5]
                                    [--redis-url URL] [--rounds 3] [--think-ms 1000]
                                    [--json PATH] [--profile]

Both sides run in this process on the same real Redis database (emptied first and last;
their keys do not overlap), with the same understanding work: the baseline's handlers call
the same `services.nlu` and `services.faq` to pick the same answers, so the comparison is of
the runtime around them (dispatcher, storage, serialisation). Each side runs:

- a warm-up round (connections, script cache), left out of every figure;
- `--rounds` saturated rounds, the sides taking turns round by round: every conversation
  sends its next message as soon as the previous one is answered. This gives turns/s; its
  latency is mostly queueing (Little's law: latency = concurrency / throughput);
- a paced round: new conversations with a customer's pause (`--think-ms`, varied +-50 %)
  between messages. Its latency is what a customer waits for at that concurrency, and the
  p99 target is judged on it.

A Redis round trip is one `send_packed_command` of redis-py's asyncio connection. Two figures:
round trips sent per turn under load (Shouwen pipelines the scripts of turns that reach Redis
in the same loop iteration, so many turns share one), and the round trips of a turn running
alone, its own budget; connection handshakes (SELECT, CLIENT SETINFO) are counted apart.
The aiogram bot talks to a recording session instead of Telegram: it records each request
and returns what Telegram would, without serialising the request to JSON as a real session
does (a cost the baseline is spared). Shouwen's two round
trips also lock the conversation, de-duplicate the message id and append both sides of the
turn to the transcript; the aiogram bot, on aiogram's defaults, does none of that.

The pieces live beside this file: `dialog` (the steps and the Side protocol), `roundtrips`,
`shouwen_side`, `baseline_answers` and `baseline_aiogram` (the two sides), `rounds` and
`measure` (running and measuring them), `understanding`, `startup` and `report`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ on sys.path, not the repository that holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import time
from collections.abc import Sequence

import psutil
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bench.baseline_aiogram import aiogram_side
from bench.dialog import DIALOG
from bench.measure import SideFigures, measure, profile_shouwen
from bench.report import Report, check_correctness, print_report, targets, write_json
from bench.roundtrips import count_round_trips
from bench.shouwen_side import shouwen_side
from bench.startup import measure_start_up, rss_mb
from bench.understanding import time_understanding
from bot.dialog import Services
from bot.metrics import Metrics
from bot.settings import Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=200, help="concurrent (200)")
    parser.add_argument("--turns-per-conversation", type=int, default=len(DIALOG))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SHOUWEN_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="a database this benchmark may empty; not db 0 (SHOUWEN_BENCH_REDIS_URL)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="saturated rounds (3)")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="paced round's pause")
    parser.add_argument("--nlu-calls", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", action="store_true", help="cProfile a Shouwen round")
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
    services: Services, probe: aioredis.Redis, args: argparse.Namespace
) -> tuple[list[SideFigures], str | None]:
    """Both sides measured; and a profile of Shouwen when --profile asked for one."""
    count_round_trips()
    async with (
        shouwen_side(services, args.redis_url) as ours,
        aiogram_side(services, args.redis_url) as theirs,
    ):
        figures = await measure([ours, theirs], probe, args)
        profile = await profile_shouwen(ours, args) if args.profile else None
    await probe.flushdb()
    return figures, profile


async def run(args: argparse.Namespace) -> tuple[Report, str | None]:
    """Every measurement; the report, and the profile when --profile asked for one."""
    probe = await open_probe(args.redis_url)
    busy_before = await asyncio.to_thread(psutil.cpu_percent, 0.5)
    rss_before = rss_mb()
    services, load_s = load_timed()
    rss_after_load = rss_mb()
    understanding = time_understanding(services, args.nlu_calls)
    try:
        figures, profile = await compare(services, probe, args)
    finally:
        await probe.aclose()
    rss_after_run = rss_mb()
    report = Report(
        conversations=args.conversations,
        turns_per_conversation=args.turns_per_conversation,
        rounds=args.rounds,
        think_ms=args.think_ms,
        services_load_s=load_s,
        rss_before_load_mb=rss_before,
        rss_after_load_mb=rss_after_load,
        rss_after_run_mb=rss_after_run,
        understanding=understanding,
        start_up=await measure_start_up(),
        sides=figures,
        cpus=psutil.cpu_count() or 1,
        busy_before_pct=busy_before,
        load_average=os.getloadavg()[0],
    )
    return report, profile


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report, profile = asyncio.run(run(args))
    report.targets = targets(report)
    if profile:
        print(f"Shouwen under cProfile, top entries by cumulative time:\n{profile}")
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
