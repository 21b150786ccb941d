"""`shouwen rasa-actions`: the Rasa action server on its own port (5055), for teams whose
endpoints.yml points at a separate action server rather than at `shouwen serve`.

It shares everything with `shouwen serve` through Redis (SHOUWEN_REDIS_URL) and leaves the
outbox and the scheduler to the serve processes, which have every channel; on the embedded
store it is a world of its own, for trying, and does that work itself.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.app import Runtime, build_runtime
from bot.settings import Settings
from connectors import ops
from connectors.errors import error_middleware
from connectors.rasa import mount


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the Rasa actions on args.host:args.port until stopped; an exit code."""
    logging.basicConfig(level=settings.log_level)
    runtime = build_runtime(settings)
    app = actions_app(runtime)
    if runtime.redis.embedded:
        print(
            "Note: embedded in-process store. These actions share nothing with a separate "
            "`shouwen serve` (its agents will not see these handoffs) unless both have "
            "SHOUWEN_REDIS_URL.",
            flush=True,
        )
    if not settings.rasa_token:
        print(
            "Note: SHOUWEN_RASA_TOKEN is not set, so only callers on this machine are served "
            "(and none relayed by a proxy).",
            flush=True,
        )
    where = f"http://{args.host}:{args.port}"

    def announce(_banner: str) -> None:
        print(f"Rasa actions ready: {where}/rasa/webhook (endpoints.yml action_endpoint)")

    # No access log: its request lines would carry `?token=` (as `shouwen serve` has none).
    web.run_app(app, host=args.host, port=args.port, print=announce, access_log=None)
    return 0


def actions_app(runtime: Runtime) -> web.Application:
    """The Rasa routes and /health over `runtime`, with rasa-sdk loaded before the first call."""
    settings = runtime.settings
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    background = runtime.redis.embedded  # else the serve processes deliver and schedule

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        async with runtime.running(background=background):
            yield

    app.cleanup_ctx.append(lifetime)
    endpoint = mount(app, runtime.edge_parts())
    endpoint.executor()
    app.add_routes(ops.routes(runtime.redis, runtime.metrics))
    return app
