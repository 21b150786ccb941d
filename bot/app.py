"""Composition root: the one place that knows flows/ and connectors/ and wires them up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.commands import Commands
from bot.dialog import Services
from bot.domain import Domain
from bot.engine import Engine
from bot.handoff import DeskHandoff
from bot.i18n import Catalogs
from bot.metrics import Metrics
from bot.nlu import Nlu
from bot.nlu.mood import Mood
from bot.services.agents import Agents, Presence, Sessions
from bot.services.desk_bus import DeskBus
from bot.services.faq import Faq
from bot.services.handoff import Handoffs
from bot.services.outbox import TranscriptChannel
from bot.services.sla import SlaClock
from bot.services.verification import SmsSender
from bot.settings import Settings
from bot.store.client import RedisHandles, connect
from bot.store.conversations import ConversationStore
from bot.store.events import EventHub
from connectors import ops, rasa, sms, telegram
from connectors.desk.api import DeskApi, DeskParts
from connectors.desk.auth import DeskAuth
from connectors.desk.pages import DeskPages
from connectors.desk.socket import DeskSocket
from connectors.edges import EdgeParts
from connectors.errors import error_middleware
from connectors.sms import provider as sms_provider
from connectors.webchat.api import WebChat
from flows.booking import BookingFlow
from flows.callback import CallbackFlow
from flows.complaint import ComplaintFlow
from flows.consultation import ConsultationFlow
from flows.fault import FaultFlow
from flows.progress import ProgressFlow
from flows.satisfaction import SatisfactionFlow
from flows.smalltalk import SmalltalkFlow
from flows.verify import VerifyFlow

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
    domain: Domain
    desk: DeskParts

    def edge_parts(self) -> EdgeParts:
        """What a channel connector is given."""
        return EdgeParts(
            settings=self.settings,
            engine=self.engine,
            store=self.store,
            hub=self.hub,
            domain=self.domain,
            handoff=self.desk.handoff,
            metrics=self.metrics,
            redis=self.redis,
        )

    @contextlib.asynccontextmanager
    async def running(self, *, background: bool = True) -> AsyncIterator[None]:
        """The runtime at work: the event hub listening and, with `background`, the outbox
        worker and the scheduler; on the way out all of them stop and Redis is closed."""
        listeners = [
            asyncio.create_task(self.hub.run(), name="event-hub"),
            asyncio.create_task(self.desk.bus.run(), name="desk-bus"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hub.connected.wait(), 5.0)
            await asyncio.wait_for(self.desk.bus.connected.wait(), 5.0)
        workers = Workers.start(self.domain) if background else None
        try:
            yield
        finally:
            if workers is not None:
                await workers.stop()
            for listener in listeners:
                listener.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            await self.redis.close()


RUNTIME = web.AppKey("runtime", Runtime)
BACKGROUND = web.AppKey("background", bool)
# How long stopping waits for a worker to finish its current step before cancelling it.
WORKER_STOP_S = 5.0


def load_services(settings: Settings, metrics: Metrics | None = None) -> Services:
    """Catalogs, NLU models and the FAQ index: loaded once, shared by every turn."""
    return Services(
        settings=settings,
        catalogs=Catalogs.load(settings.locales_dir, settings.timezone),
        nlu=Nlu.load(
            settings.locales_dir, timezone=settings.timezone, cache_dir=settings.cache_dir
        ),
        faq=Faq.load(settings.locales_dir),
        metrics=metrics,
        mood=Mood.load(settings.locales_dir),
    )


def build_runtime(
    settings: Settings,
    *,
    services: Services | None = None,
    redis: RedisHandles | None = None,
    clock: Callable[[], float] = time.time,
    sms: SmsSender | None = None,
) -> Runtime:
    """Wire the engine with its flows, domain services, store and event hub."""
    metrics = services.metrics if services and services.metrics else Metrics()
    if services is None:
        services = load_services(settings, metrics)
    elif services.metrics is None:  # the engine and /metrics must count in the same place
        services = dataclasses.replace(services, metrics=metrics)
    redis = redis or connect(settings.redis_url)
    sms = sms or sms_provider(settings)
    store = ConversationStore(redis.commands, ttl_seconds=settings.conversation_ttl_seconds)
    hub = EventHub(redis.subscriber)
    domain = Domain.build(settings, redis.commands, store, services.catalogs, sms=sms, clock=clock)
    desk = _desk(settings, redis, store, domain, services, metrics, clock)
    engine = Engine(
        store=store,
        services=services,
        commands=Commands.load(settings.locales_dir),
        flows=[
            SmalltalkFlow(),
            FaultFlow(),
            BookingFlow(),
            ComplaintFlow(),
            ProgressFlow(),
            SatisfactionFlow(),
            VerifyFlow(),
            CallbackFlow(),
        ],
        fallback=ConsultationFlow(),
        handoff=desk.handoff,
        domain=domain,
        hub=hub,
        clock=clock,
    )
    desk.handoff.bind(engine)
    return Runtime(settings, redis, store, hub, engine, metrics, domain, desk)


def _desk(
    settings: Settings,
    redis: RedisHandles,
    store: ConversationStore,
    domain: Domain,
    services: Services,
    metrics: Metrics,
    clock: Callable[[], float],
) -> DeskParts:
    """The human side: agents, presence, the queue and handoffs, the SLA clock."""
    commands = redis.commands
    bus = DeskBus(commands, redis.subscriber)
    agents = Agents(commands, clock)
    presence = Presence(commands, bus, clock)
    handoffs = Handoffs(commands, clock, store.batcher)
    domain.cases.observe(handoffs.track)
    sla = SlaClock(commands, domain.scheduler, domain.cases, bus, domain.stats, metrics, clock)
    handoff = DeskHandoff(
        handoffs,
        domain,
        bus,
        store,
        services.catalogs,
        presence,
        domain.stats,
        settings.timezone,
    )
    return DeskParts(
        handoff=handoff,
        agents=agents,
        sessions=Sessions(commands, agents, clock),
        presence=presence,
        cases=domain.cases,
        customers=domain.customers,
        store=store,
        bus=bus,
        sla=sla,
        stats=domain.stats,
        catalogs=services.catalogs,
    )


def build_app(runtime: Runtime, *, background: bool = True) -> web.Application:
    """The aiohttp application serving every edge. `background=False` runs no outbox worker
    or scheduler (tests that deliver notices and fire jobs themselves, on a clock they move)."""
    settings = runtime.settings
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    app[RUNTIME] = runtime
    app[BACKGROUND] = background
    app.cleanup_ctx.append(_lifetime)
    runtime.domain.outbox.add_channel(
        "web", TranscriptChannel(runtime.store, runtime.domain.clock, "web")
    )
    webchat = WebChat(runtime.engine, runtime.store, runtime.hub, settings, runtime.metrics)
    app.add_routes(webchat.routes())
    app.on_shutdown.append(webchat.socket.close_all)
    desk = runtime.desk
    auth = DeskAuth(desk.agents, desk.sessions)
    app.middlewares.append(auth.middleware)
    app.add_routes(auth.routes())
    app.add_routes(DeskApi(desk).routes())
    app.add_routes(DeskPages().routes())
    desk_socket = DeskSocket(desk, runtime.hub)
    app.add_routes(desk_socket.routes())
    app.on_shutdown.append(desk_socket.close_all)
    parts = runtime.edge_parts()
    telegram.mount(app, parts)
    sms.mount(app, parts)
    rasa.mount(app, parts)
    app.add_routes(ops.routes(runtime.redis, runtime.metrics))
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    async with app[RUNTIME].running(background=app[BACKGROUND]):
        yield


@dataclass(slots=True)
class Workers:
    """The background work of a process: delivering notices and firing scheduled jobs.
    Every process runs both; Redis hands each notice and each job to one of them."""

    stopping: asyncio.Event
    tasks: list[asyncio.Task[None]]

    @classmethod
    def start(cls, domain: Domain) -> Workers:
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        stopping = asyncio.Event()
        return cls(
            stopping,
            [
                asyncio.create_task(domain.outbox.run(consumer, stopping), name="outbox"),
                asyncio.create_task(domain.scheduler.run(stop=stopping), name="scheduler"),
            ],
        )

    async def stop(self) -> None:
        """Let each loop finish what it is doing; cancel one that takes too long."""
        self.stopping.set()
        _done, late = await asyncio.wait(self.tasks, timeout=WORKER_STOP_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
