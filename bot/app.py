"""Composition root: the one place that knows flows/ and connectors/ and wires them up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from bot.commands import Commands
from bot.dialog import Services
from bot.engine import Engine
from bot.handoff import HotlineHandoff
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.nlu import Nlu
from bot.services.faq import Faq
from bot.settings import Settings
from bot.store.client import RedisHandles, connect
from bot.store.conversations import ConversationStore
from bot.store.events import EventHub
from connectors import ops
from connectors.errors import error_middleware
from connectors.webchat.api import WebChat
from flows.consultation import ConsultationFlow
from flows.smalltalk import SmalltalkFlow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """Everything a running server holds, opened at start and closed at stop."""

    settings: Settings
    redis: RedisHandles
    store: ConversationStore
    hub: EventHub
    engine: Engine
    metrics: Metrics


RUNTIME = web.AppKey("runtime", Runtime)


def load_services(settings: Settings, metrics: Metrics | None = None) -> Services:
    """Catalogs, NLU models and the FAQ index: loaded once, shared by every turn."""
    return Services(
        settings=settings,
        catalogs=Catalogs.load(settings.locales_dir, settings.timezone),
        nlu=Nlu.load(settings.locales_dir, timezone=settings.timezone),
        faq=Faq.load(settings.locales_dir),
        metrics=metrics,
    )


def build_runtime(
    settings: Settings,
    *,
    services: Services | None = None,
    redis: RedisHandles | None = None,
) -> Runtime:
    """Wire the engine with its flows, store and event hub."""
    metrics = services.metrics if services and services.metrics else Metrics()
    services = services or load_services(settings, metrics)
    redis = redis or connect(settings.redis_url)
    store = ConversationStore(redis.commands, ttl_seconds=settings.conversation_ttl_seconds)
    hub = EventHub(redis.subscriber)
    engine = Engine(
        store=store,
        services=services,
        commands=Commands.load(settings.locales_dir),
        flows=[SmalltalkFlow()],
        fallback=ConsultationFlow(),
        handoff=HotlineHandoff(),
        hub=hub,
    )
    return Runtime(settings, redis, store, hub, engine, metrics)


def build_app(runtime: Runtime) -> web.Application:
    """The aiohttp application serving every edge."""
    settings = runtime.settings
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    app[RUNTIME] = runtime
    app.cleanup_ctx.append(_lifetime)
    webchat = WebChat(runtime.engine, runtime.store, runtime.hub, settings, runtime.metrics)
    app.add_routes(webchat.routes())
    app.on_shutdown.append(webchat.socket.close_all)
    app.add_routes(ops.routes(runtime.redis, runtime.metrics))
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    listener = asyncio.create_task(runtime.hub.run(), name="event-hub")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(runtime.hub.connected.wait(), 5.0)
    yield
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await runtime.redis.close()
