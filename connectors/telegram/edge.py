"""The Telegram edge as a whole: the bot, one dispatcher and the sender, mounted in an app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.utils.token import TokenValidationError
from aiohttp import web

from bot.settings import SettingsError
from connectors.edges import EdgeParts
from connectors.telegram.callbacks import CallbackData
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.handlers import AnsweredMessages, Updates
from connectors.telegram.keys import CHANNEL
from connectors.telegram.pace import Pace, Sleep
from connectors.telegram.sender import TelegramSender
from connectors.telegram.webhook import TelegramWebhook, webhook_secret


@dataclass(frozen=True, slots=True)
class TelegramEdge:
    """The bot, its dispatcher and the sender every message goes through."""

    bot: Bot
    dispatcher: Dispatcher
    sender: TelegramSender
    secret: str


TELEGRAM = web.AppKey("telegram", TelegramEdge)


def make_bot(token: str) -> Bot:
    """The Bot for a token from the settings; a malformed token is a settings error."""
    try:
        return Bot(token)
    except TokenValidationError:
        raise SettingsError(
            "SHOUWEN_TELEGRAM_TOKEN is not a bot token (it looks like 123456:ABC-DEF…, "
            "as @BotFather gives it)"
        ) from None


def install(
    app: web.Application,
    parts: EdgeParts,
    bot: Bot,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> TelegramEdge:
    """The Telegram edge of `bot` in `app` (tests give a bot with a recording session, and
    a clock and sleep of their own for the sending pace)."""
    redis = parts.redis.commands
    sender = TelegramSender(
        bot,
        Pace(redis, clock, sleep),
        CallbackData(redis, parts.settings.conversation_ttl_seconds),
        sleep,
        redis,
    )
    dispatcher = Dispatcher(disable_fsm=True, name="shouwen")  # the engine keeps the state
    dispatcher.include_router(Updates(parts.engine, sender, AnsweredMessages(redis)).router())
    edge = TelegramEdge(bot, dispatcher, sender, webhook_secret(parts.settings, bot.token))
    app[TELEGRAM] = edge
    app.add_routes(TelegramWebhook(bot, dispatcher, edge.secret).routes())
    parts.domain.outbox.add_channel(CHANNEL, TelegramChannel(sender))

    async def close(_app: web.Application) -> None:
        await bot.session.close()

    app.on_cleanup.append(close)  # after the runtime's workers, which may still send
    return edge
