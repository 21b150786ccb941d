"""Telegram (aiogram 3): the webhook, long polling for development, and the outbox channel."""

from __future__ import annotations

from aiohttp import web

from connectors.edges import EdgeParts


def mount(app: web.Application, parts: EdgeParts) -> None:
    """Add `/telegram/webhook` and the "telegram" outbox channel when a bot token is set."""
