"""Rasa: Shouwen's services as rasa-sdk custom actions, at `/rasa/webhook` and standalone."""

from __future__ import annotations

from aiohttp import web

from connectors.edges import EdgeParts


def mount(app: web.Application, parts: EdgeParts) -> None:
    """Add `/rasa/webhook` and `/rasa/actions`."""
