"""The SLA clock: warnings at 80 %, breaches at 100 %, met dues settled and counted, each
alert exactly once across processes, and where a case stands for the supervisor view."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import date

import pytest
import redis.asyncio as aioredis

from bot.metrics import Metrics
from bot.services.cases import Case, CaseNotFound, Cases
from bot.services.desk_bus import SUPERVISORS, DeskBus, DeskEvent, to_agent
from bot.services.scheduler import Scheduler
from bot.services.sla import SlaClock, due_met, job_id
from bot.services.stats import Stats
from bot.store import keys
from bot.store.client import RedisHandles
from tests.conftest import MovableClock
from tests.test_cases import CHAT, fault, make_cases, walk

HOUR = 3600.0
# 2026-11-23 21:30 UTC (05:30 on the 24th in Shanghai): a fault's response falls due at
# 23:30 UTC, still the 23rd in UTC but the 24th for the operator.
T0 = 1_795_469_400.0
SHANGHAI_DAY = date(2026, 11, 24)
RESPONSE, REPAIR = T0 + 2 * HOUR, T0 + 4 * HOUR


class RecordingBus(DeskBus):
    """A desk bus that keeps what it would publish."""

    def __init__(self, redis: aioredis.Redis) -> None:
        super().__init__(redis)
        self.events: list[DeskEvent] = []

    async def publish(self, event: DeskEvent) -> None:
        self.events.append(event)


@dataclass
class World:
    """One server process's view: its own cases, scheduler, bus, metrics and SLA clock."""

    redis: aioredis.Redis
    clock: MovableClock
    cases: Cases
    scheduler: Scheduler
    bus: RecordingBus
    stats: Stats
    metrics: Metrics
    sla: SlaClock

    async def open(self, owner: str | None = None) -> Case:
        case = await self.cases.open(fault())
        if owner is not None:  # the desk sets owners; here the field is enough
            await self.redis.hset(keys.case(case.number), "owner", owner)  # type: ignore[misc]
        return case

    async def field(self, number: str, name: str) -> str | None:
        value: str | None = await self.redis.hget(keys.case(number), name)  # type: ignore[misc]
        return value

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def make_world(redis: aioredis.Redis, clock: MovableClock) -> World:
    cases = make_cases(redis, clock)
    scheduler = Scheduler(redis, clock)
    bus = RecordingBus(redis)
    stats = Stats(redis, "Asia/Shanghai", clock)
    metrics = Metrics()
    sla = SlaClock(redis, scheduler, cases, bus, stats, metrics, clock)
    return World(redis, clock, cases, scheduler, bus, stats, metrics, sla)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def world(handles: RedisHandles, clock: MovableClock) -> World:
    return make_world(handles.commands, clock)


def alert(case: Case, due: str, level: str, to: str) -> DeskEvent:
    data = {"level": level, "case": case.number, "due": due, "due_at": case.due[due]}
    return DeskEvent("alert", to, {**data, "conversation": CHAT})


async def test_opening_arms_a_warning_and_a_breach_per_due(world: World) -> None:
    case = await world.open()
    for due, span in (("response", 2 * HOUR), ("repair", 4 * HOUR)):
        assert await world.scheduler.when(job_id(case.number, due, "warn")) == T0 + 0.8 * span
        assert await world.scheduler.when(job_id(case.number, due, "breach")) == T0 + span


async def test_a_warning_at_80_percent_goes_to_supervisors_when_nobody_owns_the_case(
    world: World, clock: MovableClock
) -> None:
    case = await world.open()
    clock.now = T0 + 0.79 * 2 * HOUR
    assert await world.scheduler.fire_due() == 0
    assert world.sla.sla_state(case, clock.now) == "on_time"
    clock.now = T0 + 0.8 * 2 * HOUR
    assert await world.scheduler.fire_due() == 1
    assert world.bus.events == [alert(case, "response", "warn", SUPERVISORS)]
    assert world.sla.sla_state(case, clock.now) == "warned"
    assert await world.field(case.number, "sla_warned") == "response"
    last = (await world.cases.events(case.number))[-1]
    assert (last.actor, last.note, last.from_state, last.to_state) == (
        "sla",
        "response warned",
        "received",
        "received",
    )
    assert world.count("shouwen_sla_warnings_total", due="response") == 1


async def test_a_warning_goes_to_the_owner(world: World, clock: MovableClock) -> None:
    case = await world.open(owner="li")
    clock.now = T0 + 0.8 * 2 * HOUR
    await world.scheduler.fire_due()
    assert world.bus.events == [alert(case, "response", "warn", to_agent("li"))]


async def test_a_breach_alerts_supervisors_and_the_owner_and_counts_on_the_operators_day(
    world: World, clock: MovableClock
) -> None:
    case = await world.open(owner="li")
    clock.now = RESPONSE - 1
    await world.scheduler.fire_due()
    world.bus.events.clear()  # the warning
    assert world.sla.sla_state(case, clock.now) == "warned"
    clock.now = RESPONSE  # 23:30 UTC on the 23rd
    assert await world.scheduler.fire_due() == 1
    assert world.bus.events == [
        alert(case, "response", "breach", SUPERVISORS),
        alert(case, "response", "breach", to_agent("li")),
    ]
    assert world.sla.sla_state(case, clock.now) == "breached"
    assert await world.field(case.number, "sla_breached") == "response"
    assert await world.field(case.number, "sla_warned") == "response"
    assert (await world.stats.day(SHANGHAI_DAY))["sla_breached"] == 1
    assert (await world.stats.day(date(2026, 11, 23)))["sla_breached"] == 0
    assert world.count("shouwen_sla_breaches_total", due="response") == 1


async def test_meeting_a_due_before_its_warning_cancels_both_jobs(
    world: World, clock: MovableClock
) -> None:
    case = await world.open()
    clock.now = T0 + HOUR
    await world.cases.move(case.number, "assigned", actor="agent:li")
    for level in ("warn", "breach"):
        assert await world.scheduler.when(job_id(case.number, "response", level)) is None
        assert await world.scheduler.when(job_id(case.number, "repair", level)) is not None
    assert (await world.stats.day(SHANGHAI_DAY))["sla_met"] == 1
    assert world.count("shouwen_sla_met_total", due="response", on_time="true") == 1
    assert await world.field(case.number, "sla_met") == "response"
    clock.now = REPAIR
    assert await world.scheduler.fire_due() == 2  # the repair's warning and breach only
    assert {event.data["due"] for event in world.bus.events} == {"repair"}


async def test_a_due_met_after_its_time_counts_as_late(world: World, clock: MovableClock) -> None:
    quiet = await world.open()  # its jobs never fire: met late, before anyone looked
    breached = await world.open()
    clock.now = RESPONSE + HOUR
    for job in ("warn", "breach"):
        await world.scheduler.cancel(job_id(quiet.number, "response", job))
    await world.scheduler.fire_due()
    for case in (quiet, breached):
        await world.cases.move(case.number, "assigned", actor="agent:li")
    figures = await world.stats.day(SHANGHAI_DAY)
    assert (figures["sla_met"], figures["sla_late"], figures["sla_breached"]) == (0, 2, 1)
    assert world.count("shouwen_sla_met_total", due="response", on_time="false") == 2


async def test_a_job_for_a_due_met_in_the_meantime_does_nothing(
    world: World, clock: MovableClock
) -> None:
    case = await world.open()
    # Another process met the due after this one popped the job: no observer cancelled it.
    other = make_cases(world.redis, clock)
    await other.move(case.number, "assigned", actor="agent:li")
    clock.now = RESPONSE
    assert await world.scheduler.fire_due() == 2
    assert world.bus.events == []
    assert await world.field(case.number, "sla_warned") is None


async def test_a_reopened_case_counts_each_due_once(world: World, clock: MovableClock) -> None:
    case = await world.open()
    clock.now = T0 + HOUR
    await walk(world.cases, case.number, "resolved")
    assert (await world.stats.day(SHANGHAI_DAY))["sla_met"] == 2
    reopened = await world.cases.move(case.number, "in_progress", actor="customer")
    # Not armed again: the repair shows as open on the desk, but no alert is sent.
    assert world.sla.remaining(reopened, clock.now) == {"repair": 3 * HOUR}
    assert await world.scheduler.when(job_id(case.number, "repair", "breach")) is None
    await world.cases.move(case.number, "resolved", actor="agent:li")
    await world.cases.move(case.number, "closed", actor="agent:li")
    assert (await world.stats.day(SHANGHAI_DAY))["sla_met"] == 2
    assert await world.field(case.number, "sla_met") == "response repair"


async def test_state_and_remaining_follow_the_unmet_dues(world: World, clock: MovableClock) -> None:
    case = await world.open()
    sla = world.sla
    assert sla.remaining(case, T0) == {"response": 2 * HOUR, "repair": 4 * HOUR}
    assert sla.sla_state(case, T0) == "on_time"
    clock.now = T0 + 1.6 * HOUR  # `now` defaults to the clock's
    assert (sla.sla_state(case), sla.remaining(case)["response"]) == ("warned", 0.4 * HOUR)
    assert sla.sla_state(case, T0 + 1.6 * HOUR) == "warned"
    assert sla.remaining(case, RESPONSE + 60) == {"response": -60, "repair": 2 * HOUR - 60}
    assert sla.sla_state(case, RESPONSE) == "breached"
    assigned = await world.cases.move(case.number, "assigned", actor="agent:li")
    assert sla.remaining(assigned, RESPONSE) == {"repair": 2 * HOUR}
    assert sla.sla_state(assigned, RESPONSE) == "on_time"  # the response is met, late or not
    assert sla.sla_state(assigned, T0 + 3.2 * HOUR) == "warned"
    for step in ("in_progress", "resolved", "closed"):
        closed = await world.cases.move(case.number, step, actor="agent:li")
    assert sla.remaining(closed, REPAIR + HOUR) == {}
    assert sla.sla_state(closed, REPAIR + HOUR) == "on_time"


def test_which_states_meet_which_dues() -> None:
    for state, answered, settled in (
        ("received", False, False),
        ("assigned", True, False),
        ("in_progress", True, False),
        ("resolved", True, True),
        ("closed", True, True),
    ):
        assert due_met("response", state) is answered
        assert due_met("repair", state) is settled


async def test_mark_sla_marks_each_due_once_with_an_archive_event(world: World) -> None:
    case = await world.open()
    assert await world.cases.mark_sla(case.number, "sla_breached", "response")
    assert not await world.cases.mark_sla(case.number, "sla_breached", "response")
    assert await world.cases.mark_sla(case.number, "sla_breached", "repair")
    assert await world.field(case.number, "sla_breached") == "response repair"
    notes = [event.note for event in await world.cases.events(case.number) if event.actor == "sla"]
    assert notes == ["response breached", "repair breached"]
    with pytest.raises(CaseNotFound):
        await world.cases.mark_sla("C2611240019", "sla_warned", "response")
    with pytest.raises(ValueError, match="owner"):
        await world.cases.mark_sla(case.number, "owner", "response")


async def test_an_alert_armed_again_after_it_fired_is_not_sent_again(
    world: World, clock: MovableClock
) -> None:
    case = await world.open()
    clock.now = RESPONSE
    await world.scheduler.fire_due()
    sent = list(world.bus.events)
    data = f'{{"case": "{case.number}", "due": "response", "level": "breach"}}'
    await world.scheduler.at(RESPONSE, job_id(case.number, "response", "breach"), "sla", data)
    assert await world.scheduler.fire_due() == 1
    assert world.bus.events == sent
    assert (await world.stats.day(SHANGHAI_DAY))["sla_breached"] == 1


async def test_two_clocks_on_one_redis_send_each_alert_exactly_once(
    two_clients: tuple[aioredis.Redis, aioredis.Redis], clock: MovableClock
) -> None:
    worlds = [make_world(client, clock) for client in two_clients]
    opened = [await worlds[n % 2].open(owner="li" if n % 3 else None) for n in range(10)]
    clock.now = REPAIR
    await asyncio.gather(*(w.scheduler.fire_due(limit=3) for _ in range(20) for w in worlds))

    sent = Counter(
        (e.data["case"], e.data["due"], e.data["level"], e.to) for w in worlds for e in w.bus.events
    )
    expected = set()
    for case in opened:
        owner = await worlds[0].field(case.number, "owner")
        for due in case.due:
            expected.add((case.number, due, "warn", to_agent(owner) if owner else SUPERVISORS))
            expected.add((case.number, due, "breach", SUPERVISORS))
            if owner:
                expected.add((case.number, due, "breach", to_agent(owner)))
    assert set(sent) == expected
    assert set(sent.values()) == {1}
    dues = sum(len(case.due) for case in opened)
    for name in ("shouwen_sla_warnings_total", "shouwen_sla_breaches_total"):
        counted = sum(w.count(name, due=due) for w in worlds for due in ("response", "repair"))
        assert counted == dues
    assert (await worlds[0].stats.day(SHANGHAI_DAY))["sla_breached"] == dues
