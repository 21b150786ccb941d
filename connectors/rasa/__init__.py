"""Rasa: Shouwen's services as rasa-sdk custom actions, at `/rasa/webhook` and standalone.

An existing Rasa assistant points its endpoints.yml `action_endpoint` here and gets
complaints, fault reports, bookings, progress, ratings and handoffs to Shouwen's agents
(a sample project is in `sample/`). The conversation "rasa:<sender_id>" is Shouwen's side
of a Rasa conversation: its cases, its appointments, its place in the agents' queue.
"""

from __future__ import annotations

from aiohttp import web

from connectors.edges import EdgeParts
from connectors.rasa.call import CHANNEL
from connectors.rasa.channel import RasaChannel
from connectors.rasa.endpoint import RasaEndpoint


def mount(app: web.Application, parts: EdgeParts) -> RasaEndpoint:
    """Add `/rasa/webhook`, `/rasa/actions` and `/rasa/messages`, and the "rasa" outbox
    channel. Always mounted: without SHOUWEN_RASA_TOKEN only this machine may call them,
    and without SHOUWEN_RASA_URL notices to Rasa users fall back to SMS."""
    channel = RasaChannel(parts.settings, parts.store, parts.handoff.handoffs)
    parts.domain.outbox.add_channel(CHANNEL, channel)
    endpoint = RasaEndpoint(parts, channel)
    app.add_routes(endpoint.routes())

    async def close_channel(_app: web.Application) -> None:
        await channel.close()

    app.on_cleanup.append(close_channel)
    return endpoint
