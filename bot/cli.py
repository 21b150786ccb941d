"""`shouwen` command line: serve, chat, nlu parse|test, agent add, telegram, rasa-actions."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.settings import MAX_WORKERS, Settings, SettingsError

if TYPE_CHECKING:
    from aiohttp import web

    from bot.messages import Entry

log = logging.getLogger("shouwen")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"shouwen: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.run(settings, args)
    except SettingsError as error:  # found while wiring, e.g. an SMS provider not built yet
        print(f"shouwen: {error}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shouwen", description="Shouwen (首问) customer service")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web server (web chat, APIs, metrics)")
    serve.add_argument("--host", help="address to listen on (SHOUWEN_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (SHOUWEN_PORT, 8080)")
    serve.add_argument(
        "--workers", type=_workers, help="processes sharing the port, 1-64 (needs Redis)"
    )
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="talk to the assistant in this terminal")
    chat.add_argument("--locale", default=None, help="zh (default) or en")
    chat.set_defaults(run=_chat)

    nlu = commands.add_parser("nlu", help="the language understanding")
    nlu_commands = nlu.add_subparsers(required=True, metavar="NLU_COMMAND")
    parse = nlu_commands.add_parser("parse", help="parse a message, print Rasa-style JSON")
    parse.add_argument("text")
    parse.add_argument("--locale", default=None, help="zh or en (guessed from the text)")
    parse.set_defaults(run=_nlu_parse)
    test = nlu_commands.add_parser("test", help="cross-validate the intent classifier")
    test.add_argument("--folds", type=int, default=5)
    test.set_defaults(run=_nlu_test)

    agent = commands.add_parser("agent", help="desk accounts of agents and supervisors")
    agent_commands = agent.add_subparsers(required=True, metavar="AGENT_COMMAND")
    add = agent_commands.add_parser(
        "add", help="add a desk account (password from SHOUWEN_AGENT_PASSWORD, else made up)"
    )
    add.add_argument("name", help="sign-in name: 2-32 of a-z 0-9 _ . -")
    add.add_argument("--role", required=True, choices=("agent", "supervisor"))
    add.add_argument("--display", help="the name colleagues see (default: NAME)")
    add.add_argument("--team", default="general", help="team (default: general)")
    add.set_defaults(run=_agent_add)

    telegram = commands.add_parser("telegram", help="the Telegram bot (SHOUWEN_TELEGRAM_TOKEN)")
    what = telegram.add_mutually_exclusive_group(required=True)
    what.add_argument("--polling", action="store_true", help="answer by long polling (development)")
    what.add_argument(
        "--set-webhook",
        nargs="?",
        const="",
        metavar="URL",
        help="register the webhook once, at deploy (default: SHOUWEN_PUBLIC_URL/telegram/webhook)",
    )
    what.add_argument("--delete-webhook", action="store_true", help="unregister the webhook")
    telegram.set_defaults(run=_telegram)

    rasa = commands.add_parser(
        "rasa-actions", help="the Rasa action server on its own (for Rasa's endpoints.yml)"
    )
    rasa.add_argument(
        "--host",
        default="127.0.0.1",
        help="address (default 127.0.0.1; with SHOUWEN_RASA_TOKEN set, 0.0.0.0 serves others)",
    )
    rasa.add_argument("--port", type=int, default=5055, help="port (default 5055)")
    rasa.set_defaults(run=_rasa_actions)
    return parser


def _telegram(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.telegram.cli import main as telegram_main

    return telegram_main(settings, args)


def _rasa_actions(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.rasa.cli import main as rasa_main

    return rasa_main(settings, args)


def _workers(raw: str) -> int:
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_WORKERS}")
    return int(raw)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1 and settings.redis_url is None:
        print(
            "shouwen: --workers above 1 needs a shared Redis; set SHOUWEN_REDIS_URL "
            "(the embedded store lives inside one process).",
            file=sys.stderr,
        )
        return 2
    if workers == 1:
        _serve_one(settings, host, port, reuse_port=False)
        return 0
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_serve_one, args=(settings, host, port, True), daemon=True)
        for _ in range(workers)
    ]
    for child in children:
        child.start()

    def stop(signum: int, _frame: object) -> None:
        # SIGTERM skips atexit, so daemon children would outlive us: end them ourselves.
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    # A worker that failed (at start, say) fails the command; ones we stopped exit < 0.
    return max(0, *(child.exitcode or 0 for child in children))


def _serve_one(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    from aiohttp import web

    from bot.app import build_app, build_runtime

    started = time.perf_counter()
    logging.basicConfig(level=settings.log_level)
    runtime = build_runtime(settings)
    app = build_app(runtime)
    where = f"http://{host}:{port}/"
    if runtime.redis.embedded:
        store = "embedded in-process store (nothing is kept after it stops; set SHOUWEN_REDIS_URL)"
        app.on_startup.append(_demo_agents)
    else:
        store = "Redis"

    def announce(_aiohttp_banner: str) -> None:
        # run_app calls this once the port is bound: "ready" means a client can connect.
        elapsed = time.perf_counter() - started
        print(f"Shouwen is ready in {elapsed:.1f}s on the {store}.", flush=True)
        print(f"Web chat: {where}   Health: {where}health   Metrics: {where}metrics", flush=True)
        print(f"Agent desk: {where}desk", flush=True)

    web.run_app(app, host=host, port=port, reuse_port=reuse_port, print=announce, access_log=None)


async def _demo_agents(app: web.Application) -> None:
    """On the embedded store: a demo agent and supervisor, their passwords shown once."""
    from bot.app import RUNTIME
    from bot.services.agents import create_demo_agents

    for name, role, password in await create_demo_agents(app[RUNTIME].desk.agents):
        print(f"Desk {role}: {name}  one-time password: {password}", flush=True)


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_runtime
    from bot.messages import Inbound
    from bot.services.outbox import TranscriptChannel
    from bot.store.client import connect

    runtime = build_runtime(settings, redis=connect(settings.redis_url))
    chat_id = f"cli-{secrets.token_hex(6)}"
    locale = args.locale or settings.default_locale
    shown = _Screen()

    async def notices() -> None:
        # Notices (a reminder, a case update) arrive in the transcript between turns.
        while True:
            await asyncio.sleep(1.0)
            later = await runtime.store.read(f"cli:{chat_id}", after=shown.seq)
            if later:
                shown.show(later)

    async def run() -> None:
        runtime.domain.outbox.add_channel(
            "cli", TranscriptChannel(runtime.store, runtime.domain.clock, "cli")
        )
        async with runtime.running():
            watcher = asyncio.create_task(notices())
            try:
                await converse()
            finally:
                watcher.cancel()

    async def converse() -> None:
        opened = await runtime.engine.open(Inbound("cli", chat_id, locale_hint=locale))
        shown.show(opened.replies)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, _read_line)
            if line is None or line.strip() in ("/quit", "/exit"):
                break
            text, payload = line.strip(), None
            buttons = shown.buttons
            if text.isdigit() and 1 <= int(text) <= len(buttons):
                text, payload = buttons[int(text) - 1]
            result = await runtime.engine.handle(
                Inbound(
                    "cli",
                    chat_id,
                    text=text,
                    payload=payload,
                    locale_hint=locale,
                    message_id=secrets.token_hex(8),
                )
            )
            if result.echo is not None:
                shown.seq = max(shown.seq, result.echo.seq)
            shown.show(result.replies)

    print("Type a message; a number presses a button; /quit leaves.\n")
    asyncio.run(run())
    return 0


class _Screen:
    """What the terminal shows: the last transcript seq printed and the buttons to press."""

    def __init__(self) -> None:
        self.seq = 0
        self.buttons: list[tuple[str, str]] = []

    def show(self, entries: Sequence[Entry]) -> None:
        self.buttons = _show(entries) or self.buttons
        self.seq = max([self.seq, *(entry.seq for entry in entries)])


def _read_line() -> str | None:
    try:
        return input("> ")
    except EOFError:
        return None


def _show(replies: Sequence[Entry]) -> list[tuple[str, str]]:
    buttons: list[tuple[str, str]] = []
    for entry in replies:
        print(entry.text)
        if entry.card is not None:
            print(f"  [{entry.card.title}] {entry.card.number or ''} {entry.card.status or ''}")
            for field in entry.card.fields:
                print(f"    {field.label}: {field.value}")
        for button in entry.buttons:
            buttons.append((button.title, button.payload))
            print(f"  {len(buttons)}. {button.title}")
    print()
    return buttons


def _nlu_parse(settings: Settings, args: argparse.Namespace) -> int:
    from bot.nlu import Nlu, run_parse

    nlu = Nlu.load(settings.locales_dir, timezone=settings.timezone, cache_dir=settings.cache_dir)
    language = args.locale or nlu.detect_language(args.text) or settings.default_locale
    print(run_parse(nlu, args.text, language))
    return 0


def _nlu_test(settings: Settings, args: argparse.Namespace) -> int:
    from bot.nlu.evaluate import run_test

    report, accuracy = run_test(settings.locales_dir, ("zh", "en"), folds=args.folds)
    print(report)
    return 0 if all(value >= 0.95 for value in accuracy.values()) else 1


def _agent_add(settings: Settings, args: argparse.Namespace) -> int:
    from bot.errors import StoreUnavailable
    from bot.services.agents import Agents, new_password
    from bot.store.client import connect

    if settings.redis_url is None:
        print(
            "shouwen: agent add needs SHOUWEN_REDIS_URL: the embedded store lives inside one "
            "process and would forget the account at once.",
            file=sys.stderr,
        )
        return 2
    given = os.environ.get("SHOUWEN_AGENT_PASSWORD")
    password = given or new_password()

    async def add() -> None:
        handles = connect(settings.redis_url)
        try:
            await Agents(handles.commands).add(
                args.name, password, args.role, display=args.display, team=args.team
            )
        finally:
            await handles.close()

    try:
        asyncio.run(add())
    except (ValueError, StoreUnavailable) as error:  # AgentExists is a ValueError
        print(f"shouwen: {error}", file=sys.stderr)
        return 1
    print(f"Agent {args.name} ({args.role}) added.")
    if not given:
        print(f"one-time password: {password}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
