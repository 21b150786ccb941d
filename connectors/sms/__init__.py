"""SMS: Twilio-compatible and generic-gateway inbound webhooks, providers, the outbox channel."""

from __future__ import annotations

from aiohttp import web

from bot.services.verification import SmsSender
from bot.settings import Settings
from connectors.edges import EdgeParts


def provider(settings: Settings) -> SmsSender | None:
    """The configured provider (SHOUWEN_SMS_PROVIDER), or None for the console sender."""
    return None


def mount(app: web.Application, parts: EdgeParts) -> None:
    """Add `/sms/twilio` or `/sms/inbound` and the "sms" outbox channel when configured."""
