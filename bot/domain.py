"""The domain services flows work with, bound to one Redis and built once at start."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.i18n import Catalogs
from bot.services.appointments import Appointments
from bot.services.cases import Cases
from bot.services.catalog import SampleCatalog
from bot.services.complaints import ComplaintGrader
from bot.services.customers import Customers
from bot.services.notices import NoticeRenderer
from bot.services.outages import Outages
from bot.services.outbox import NOTICE_JOB, Notice, Outbox
from bot.services.policy import Policy
from bot.services.scheduler import Scheduler
from bot.services.stats import Stats
from bot.services.surveys import Surveys
from bot.services.vault import Vault
from bot.services.verification import ConsoleSmsSender, SmsSender, Verification
from bot.settings import Settings
from bot.store.conversations import ConversationStore


@dataclass(frozen=True, slots=True)
class Domain:
    """Cases, appointments, customers and the rest: what flows use through `turn.domain`."""

    policy: Policy
    cases: Cases
    grader: ComplaintGrader
    surveys: Surveys
    appointments: Appointments
    outages: Outages
    scheduler: Scheduler
    customers: Customers
    verification: Verification
    outbox: Outbox
    vault: Vault
    stats: Stats
    clock: Callable[[], float]

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: aioredis.Redis,
        store: ConversationStore,
        catalogs: Catalogs,
        *,
        sms: SmsSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Domain:
        """Wire the services; `sms` defaults to the console sender of development."""
        data = settings.data_dir
        zone = settings.timezone
        policy = Policy.load(data / "policy.yml")
        # Without a configured key personal data is sealed with a key of this start only:
        # fine for the embedded store, which forgets everything at stop anyway.
        vault = Vault.from_settings(settings.secret_key)
        catalog = SampleCatalog.load(data / "appointments.yml", zone)

        def place_names(place_id: str, language: str) -> str | None:
            place = catalog.place(place_id)
            return place.names.get(language) if place else None

        outbox = Outbox(
            redis,
            NoticeRenderer(catalogs, zone, place_names=place_names),
            {},  # each connector adds its channel (Outbox.add_channel)
            store,
            clock=clock,
            batcher=store.batcher,
        )
        scheduler = Scheduler(redis, clock=clock, batcher=store.batcher)

        async def publish_later(data: str) -> None:
            await outbox.publish(Notice.from_json(data))

        scheduler.handle(NOTICE_JOB, publish_later)
        customers = Customers(redis, vault, clock=clock, batcher=store.batcher)
        cases = Cases(
            redis, policy, outbox, vault, clock=clock, timezone=zone, batcher=store.batcher
        )
        appointments = Appointments(
            redis,
            catalog,
            policy,
            outbox,
            scheduler,
            vault,
            clock=clock,
            timezone=zone,
            batcher=store.batcher,
        )
        stats = Stats(redis, zone, clock)
        return cls(
            policy=policy,
            cases=cases,
            grader=ComplaintGrader(policy, cases),
            surveys=Surveys(cases, appointments, stats),
            appointments=appointments,
            outages=Outages.load(data / "outages.yml", zone),
            scheduler=scheduler,
            customers=customers,
            verification=Verification(
                redis, customers, sms or ConsoleSmsSender(settings), catalogs, clock=clock
            ),
            outbox=outbox,
            vault=vault,
            stats=stats,
            clock=clock,
        )
