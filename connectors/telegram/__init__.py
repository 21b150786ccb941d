"""Telegram (aiogram 3): the webhook, long polling for development, and the outbox channel.

One aiogram Dispatcher with one Router (handlers.py) serves both ways in: the webhook at
`/telegram/webhook` in the server, and `shouwen telegram --polling`. Everything sent to a
chat, a turn's answer or the outbox's notice, goes through one TelegramSender, paced
within Telegram's limits across processes.
"""

from __future__ import annotations

from aiohttp import web

from connectors.edges import EdgeParts


def mount(app: web.Application, parts: EdgeParts) -> None:
    """Add `/telegram/webhook` and the "telegram" outbox channel when a bot token is set.
    aiogram is imported only then: it takes a second of a server's start-up otherwise."""
    token = parts.settings.telegram_token
    if token:
        from connectors.telegram.edge import install, make_bot

        install(app, parts, make_bot(token))
