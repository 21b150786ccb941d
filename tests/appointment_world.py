"""A small appointment world for tests: a test catalog, pinned policy, a movable clock.

Times are in the operator zone; the clock starts on Monday 2030-03-04 at 07:00.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.services.appointments import AppointmentDraft, Appointments
from bot.services.catalog import SampleCatalog
from bot.services.outbox import Notice, Outbox
from bot.services.policy import Policy
from bot.services.scheduler import Scheduler
from bot.services.vault import Vault
from bot.settings import DATA_DIR
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.conversations import ConversationStore
from tests.conftest import MovableClock

TIMEZONE = "Asia/Shanghai"
ZONE = ZoneInfo(TIMEZONE)
TODAY = date(2030, 3, 4)
NOW = datetime(2030, 3, 4, 7, 0, tzinfo=ZONE).timestamp()
PHONE = "13800138000"
ID_NUMBER = "11010519491231002X"  # valid GB 11643 check digit
CHAT = "web:chat-1"

CATALOG = """
services:
  broadband_install: {at: home, needs_id: true, minutes: 120, names: {zh: 宽带新装, en: Broadband}}
  onsite_repair: {at: home, needs_id: false, minutes: 90, names: {zh: 上门维修, en: Repair}}
  store_business: {at: store, needs_id: true, minutes: 30, names: {zh: 营业厅业务, en: Store}}
  device_setup: {at: store, needs_id: false, minutes: 45, names: {zh: 设备设置, en: Setup}}
areas:
  - {id: xihu, names: {zh: 西湖区, en: Xihu}}
  - {id: binjiang, names: {zh: 滨江区, en: Binjiang}}
stores:
  - id: wensan
    area: xihu
    names: {zh: 文三路营业厅, en: Wensan Road Store}
    address: {zh: 文三路 100 号, en: 100 Wensan Road}
    windows:
      - {start: "09:00", end: "10:00", capacity: 10}
      - {start: "10:00", end: "11:00", capacity: 2}
      - {start: "11:00", end: "12:00", capacity: 2}
      - {start: "14:00", end: "15:00", capacity: 2}
windows:
  home:
    - {start: "07:00", end: "09:00", capacity: 2}
    - {start: "09:00", end: "11:00", capacity: 2}
    - {start: "11:00", end: "13:00", capacity: 2}
    - {start: "14:00", end: "16:00", capacity: 1}
  store:
    - {start: "09:00", end: "10:00", capacity: 1}
"""


def window(place: str, day: date, hhmm: str) -> str:
    """A window id, e.g. window("wensan", TODAY, "0900")."""
    return f"{place}:{day:%Y%m%d}:{hhmm}"


def at(day: date, hour: int, minute: int = 0) -> float:
    return datetime.combine(day, time(hour, minute), ZONE).timestamp()


def draft(
    window_id: str,
    customer: str = "cust-a",
    service: str = "store_business",
    id_number: str | None = ID_NUMBER,
) -> AppointmentDraft:
    return AppointmentDraft(
        service=service,
        window=window_id,
        customer=customer,
        conversation=CHAT,
        locale="zh",
        contact=PHONE,
        id_number=id_number,
    )


@dataclass
class World:
    redis: aioredis.Redis
    appointments: Appointments
    scheduler: Scheduler
    clock: Clock

    async def notices(self) -> list[Notice]:
        """Everything published to the outbox so far, oldest first."""
        entries = await self.redis.xrange(keys.OUTBOX)
        return [Notice.from_json(fields["n"]) for _id, fields in entries]

    async def kinds(self) -> list[str]:
        return [notice.kind for notice in await self.notices()]


def make_world(redis: aioredis.Redis, tmp_path: Path) -> World:
    path = tmp_path / "appointments.yml"
    path.write_text(CATALOG, encoding="utf-8")
    catalog = SampleCatalog.load(path, TIMEZONE)
    policy = dataclasses.replace(
        Policy.load(DATA_DIR / "policy.yml"),
        service_hours=(time(8, 0), time(20, 0)),
        reminder_lead=timedelta(hours=2),
        booking_horizon_days=14,
    )
    clock = Clock()
    store = ConversationStore(redis, ttl_seconds=86_400)
    batcher = ScriptBatcher(redis)  # shared, as Domain.build shares the store's
    outbox = Outbox(redis, lambda notice: [], {}, store, clock, batcher=batcher)
    scheduler = Scheduler(redis, clock, batcher)
    appointments = Appointments(
        redis,
        catalog,
        policy,
        outbox,
        scheduler,
        Vault.ephemeral(),
        clock,
        timezone=TIMEZONE,
        batcher=batcher,
    )
    return World(redis, appointments, scheduler, clock)


class Clock(MovableClock):
    """The shared movable clock, starting at this file's NOW."""

    def __init__(self, now: float = NOW) -> None:
        super().__init__(now)
