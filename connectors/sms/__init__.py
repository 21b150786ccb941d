"""SMS: Twilio-compatible and generic-gateway inbound webhooks, providers, the outbox channel.

`SHOUWEN_SMS_PROVIDER=twilio` opens `POST /sms/twilio`, `gateway` opens `POST /sms/inbound`;
either way the provider also sends notices (the outbox's "sms" channel) and one-time codes.
"""

from __future__ import annotations

from aiohttp import web

from bot.settings import Settings, SettingsError
from connectors.edges import EdgeParts
from connectors.sms.channel import SmsChannel
from connectors.sms.gateway import GatewayWebhook
from connectors.sms.inbound import CHANNEL, SmsInbound
from connectors.sms.keywords import Keywords
from connectors.sms.memory import SmsMemory
from connectors.sms.providers import HttpProvider, provider
from connectors.sms.render import SmsRenderer
from connectors.sms.twilio import TwilioWebhook

__all__ = ["mount", "provider"]


def mount(app: web.Application, parts: EdgeParts) -> None:
    """Add `/sms/twilio` or `/sms/inbound` and the "sms" outbox channel when configured."""
    settings = parts.settings
    codes = parts.domain.verification.sender
    # One provider (one HTTP session) for codes and notices, unless a test records codes.
    sender = codes if isinstance(codes, HttpProvider) else provider(settings)
    if sender is None:
        return
    memory = SmsMemory(parts.redis.commands, settings.conversation_ttl_seconds)
    renderer = SmsRenderer(parts.engine.services.catalogs)
    channel = SmsChannel(parts.domain.customers, sender, renderer, memory)
    parts.domain.outbox.add_channel(CHANNEL, channel)
    inbound = SmsInbound(parts.engine, parts.domain.customers, Keywords.load(), renderer, memory)
    app.add_routes(_webhook(settings, inbound).routes())

    async def close(_app: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(close)


def _webhook(settings: Settings, inbound: SmsInbound) -> TwilioWebhook | GatewayWebhook:
    if settings.sms_provider == "gateway":
        if not settings.sms_gateway_secret:
            raise SettingsError("SHOUWEN_SMS_PROVIDER=gateway needs SHOUWEN_SMS_GATEWAY_SECRET")
        return GatewayWebhook(settings.sms_gateway_secret, inbound)
    if not (settings.public_url and settings.twilio_auth_token):
        # Twilio signs the address it calls: without it no request could be checked.
        raise SettingsError("SHOUWEN_SMS_PROVIDER=twilio needs SHOUWEN_PUBLIC_URL")
    return TwilioWebhook(settings.public_url, settings.twilio_auth_token, inbound)
