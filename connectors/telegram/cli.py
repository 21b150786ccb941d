"""`shouwen telegram`: long polling for development; setting the webhook once at deploy.

Server processes never touch the webhook at start: with several workers they would race,
and a development machine polling must not have its webhook put back. The operator runs
`shouwen telegram --set-webhook` once per deploy.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramAPIError
from aiohttp import web

from bot.app import Runtime, build_app, build_runtime
from bot.settings import Settings
from connectors.telegram.edge import TELEGRAM, make_bot
from connectors.telegram.handlers import ALLOWED_UPDATES
from connectors.telegram.webhook import PATH, webhook_secret


def main(
    settings: Settings, args: argparse.Namespace, *, session: BaseSession | None = None
) -> int:
    """Run the command; an exit code. `session` replaces Telegram in tests."""
    token = settings.telegram_token
    if not token:
        return _fail("SHOUWEN_TELEGRAM_TOKEN is not set: put the bot token from @BotFather there")
    if args.polling:
        asyncio.run(poll(build_runtime(settings), session=session))
        return 0
    bot = make_bot(token)
    if session is not None:
        bot.session = session
    if args.delete_webhook:
        return asyncio.run(_call(bot, delete=True))
    url = args.set_webhook or (settings.public_url and settings.public_url + PATH)
    if not url:
        return _fail(
            "--set-webhook needs a URL, or SHOUWEN_PUBLIC_URL set to this server's https address"
        )
    return asyncio.run(_call(bot, url=url, secret=webhook_secret(settings, token)))


async def _call(bot: Bot, *, url: str = "", secret: str = "", delete: bool = False) -> int:
    try:
        if delete:
            await bot.delete_webhook()
            print("Telegram webhook deleted.")
        else:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            print(f"Telegram webhook set: {url}")
    except TelegramAPIError as error:
        return _fail(f"Telegram refused: {error}", code=1)
    finally:
        await bot.session.close()
    return 0


async def poll(
    runtime: Runtime, *, session: BaseSession | None = None, handle_signals: bool = True
) -> None:
    """The server's application without its HTTP port, answering Telegram by long polling:
    the same dispatcher and router as the webhook's, and the same background work (the
    outbox workers deliver notices on every channel, as a server's do). Until Ctrl-C."""
    app = build_app(runtime)
    edge = app[TELEGRAM]
    if session is not None:
        edge.bot.session = session
    runner = web.AppRunner(app)
    await runner.setup()  # the runtime's start: event hub, outbox workers, scheduler
    try:
        await edge.bot.delete_webhook()  # Telegram sends no updates to polling otherwise
        await edge.dispatcher.start_polling(
            edge.bot,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=handle_signals,
            close_bot_session=False,  # the application's cleanup closes it
        )
    finally:
        await runner.cleanup()


def _fail(message: str, code: int = 2) -> int:
    print(f"shouwen telegram: {message}", file=sys.stderr)
    return code
