"""Cases: numbers (unique under concurrency), due times, sealed contact, indexes, bad input.

The state machine is tested in test_case_moves.py; its helpers live here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from bot.errors import StoreUnavailable
from bot.services.cases import Case, CaseDraft, CaseNotFound, Cases
from bot.services.complaints import Grade
from bot.services.numbers import parse_number
from bot.services.outbox import Notice, Outbox
from bot.services.policy import Policy
from bot.services.vault import Vault
from bot.settings import Settings
from bot.store import keys
from bot.store.client import RedisHandles
from bot.store.conversations import ConversationStore
from tests.conftest import MovableClock

POLICY = Policy.load(Settings().data_dir / "policy.yml")
HOUR = 3600.0
# 2026-11-23 23:30 UTC is 2026-11-24 07:30 in Shanghai: numbers carry the operator's day.
T0 = 1_795_476_600.0
CHAT = "web:chat-1"
PHONE = "13800138000"
# The path a case takes to each state, from "received".
PATH = {
    "received": [],
    "assigned": ["assigned"],
    "in_progress": ["assigned", "in_progress"],
    "resolved": ["assigned", "in_progress", "resolved"],
    "closed": ["assigned", "in_progress", "resolved", "closed"],
}


def make_cases(
    redis: aioredis.Redis,
    clock: Callable[[], float],
    vault: Vault | None = None,
    timezone: str = "Asia/Shanghai",
) -> Cases:
    """Cases over a real Outbox (its stream is read back by the tests)."""
    store = ConversationStore(redis, ttl_seconds=3600)
    outbox = Outbox(redis, lambda notice: [], {}, store, clock)
    return Cases(redis, POLICY, outbox, vault or Vault.ephemeral(), clock, timezone)


def fault(conversation: str | None = CHAT, customer: str | None = "u1", **more: str) -> CaseDraft:
    more.setdefault("description", "宽带断了")
    return CaseDraft("fault", conversation, customer, "zh", **more)


async def notices(redis: aioredis.Redis) -> list[Notice]:
    return [Notice.from_json(fields["n"]) for _id, fields in await redis.xrange(keys.OUTBOX)]


async def walk(cases: Cases, number: str, state: str) -> Case:
    case = await cases.get(number)
    assert case is not None
    for step in PATH[state]:
        case = await cases.move(number, step, actor="agent:1")
    return case


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cases(handles: RedisHandles, clock: Clock) -> Cases:
    return make_cases(handles.commands, clock)


async def test_open_issues_a_number_due_times_and_the_first_event(cases: Cases) -> None:
    case = await cases.open(fault(area="chaoyang"))
    parsed = parse_number(case.number)
    assert parsed is not None and parsed.valid and parsed.kind == "C"
    assert parsed.day == date(2026, 11, 24)  # the operator's day, not UTC's 23rd
    assert parsed.seq == 1
    assert (case.state, case.kind, case.created, case.updated) == ("received", "fault", T0, T0)
    assert case.due == {"response": T0 + 2 * HOUR, "repair": T0 + 4 * HOUR}
    assert await cases.get(case.number) == case
    [event] = await cases.events(case.number)
    assert (event.ts, event.actor, event.from_state, event.to_state) == (
        T0,
        "customer",
        None,
        "received",
    )


async def test_the_day_follows_the_configured_zone(handles: RedisHandles, clock: Clock) -> None:
    utc = make_cases(handles.commands, clock, timezone="UTC")
    case = await utc.open(fault())
    assert case.number[1:7] == "261123"


async def test_each_day_counts_from_one(cases: Cases, clock: Clock) -> None:
    first = await cases.open(fault())
    second = await cases.open(fault())
    clock.now += 24 * HOUR
    next_day = await cases.open(fault())
    seqs = [parse_number(c.number).seq for c in (first, second, next_day)]  # type: ignore[union-attr]
    assert seqs == [1, 2, 1]
    assert next_day.number[1:7] == "261125"


async def test_a_thousand_concurrent_opens_get_distinct_numbers(cases: Cases) -> None:
    opened = await asyncio.gather(*(cases.open(fault()) for _ in range(1000)))
    numbers = {case.number for case in opened}
    assert len(numbers) == 1000
    assert {parse_number(n).seq for n in numbers} == set(range(1, 1001))  # type: ignore[union-attr]
    mine = await cases.of_customer("u1", limit=2000)
    assert {case.number for case in mine} == numbers


async def test_a_taken_number_is_never_overwritten(cases: Cases, handles: RedisHandles) -> None:
    first = await cases.open(fault())
    await handles.commands.delete(keys.number_counter("C", "261124"))  # the counter was lost
    second = await cases.open(fault(description="another"))
    assert second.number != first.number
    assert await cases.get(first.number) == first


@pytest.mark.parametrize(("grade", "hours"), [("urgent", 4), ("ordinary", 24), ("complex", 72)])
async def test_complaints_are_due_by_grade(cases: Cases, grade: str, hours: int) -> None:
    draft = CaseDraft("complaint", CHAT, "u1", "en", "rude", "attitude", Grade(grade, "x"))
    case = await cases.open(draft)
    assert case.due == {"response": T0 + hours * HOUR}
    assert (case.grade, case.grade_reason, case.category) == (grade, "x", "attitude")


@pytest.mark.parametrize("kind", ["callback", "feedback"])
async def test_callbacks_and_feedback_are_answered_within_a_day(cases: Cases, kind: str) -> None:
    case = await cases.open(CaseDraft(kind, CHAT, None, "zh"))
    assert case.due == {"response": T0 + 24 * HOUR}
    [event] = await cases.events(case.number)
    assert event.actor == ("system" if kind == "callback" else "customer")


async def test_the_contact_is_sealed_at_rest(cases: Cases, handles: RedisHandles) -> None:
    case = await cases.open(fault(contact=PHONE))
    assert case.contact == PHONE
    stored = await handles.commands.hget(keys.case(case.number), "contact")
    assert stored is not None and stored.startswith("v1.") and PHONE not in stored
    assert (await cases.get(case.number)).contact == PHONE  # type: ignore[union-attr]
    # Under another key (e.g. a development key from an earlier start) it is unreadable.
    other = make_cases(handles.commands, Clock(), Vault.ephemeral())
    assert (await other.get(case.number)).contact is None  # type: ignore[union-attr]


async def test_a_long_description_is_stored_whole(cases: Cases) -> None:
    text = ("网络很差，signal drops; " * 200)[:2000]
    assert len(text) == 2000
    case = await cases.open(fault(description=text))
    assert (await cases.get(case.number)).description == text  # type: ignore[union-attr]


async def test_unknown_numbers(cases: Cases) -> None:
    assert await cases.get("C2611240019") is None
    with pytest.raises(CaseNotFound):
        await cases.move("C2611240019", "assigned", actor="agent:1")
    with pytest.raises(CaseNotFound):
        await cases.events("C2611240019")
    with pytest.raises(CaseNotFound):
        await cases.set_fields("C2611240019", comment="hello")


async def test_bad_drafts_are_refused(cases: Cases) -> None:
    with pytest.raises(ValueError, match="unknown case kind 'parcel'"):
        await cases.open(CaseDraft("parcel", CHAT, None, "zh"))
    with pytest.raises(ValueError, match=r"unknown complaint category 'weather'.*billing"):
        await cases.open(
            CaseDraft("complaint", CHAT, None, "zh", "x", "weather", Grade("urgent", ""))
        )
    with pytest.raises(ValueError, match="grade"):
        await cases.open(CaseDraft("complaint", CHAT, None, "zh", "x", "billing"))


async def test_cases_of_a_customer_newest_first(cases: Cases, clock: Clock) -> None:
    opened = []
    for _ in range(3):
        opened.append(await cases.open(fault()))
        clock.now += 60
    await cases.open(fault(customer="u2"))
    mine = await cases.of_customer("u1")
    assert [c.number for c in mine] == [c.number for c in reversed(opened)]
    assert [c.number for c in await cases.of_customer("u1", limit=2)] == [
        opened[2].number,
        opened[1].number,
    ]
    assert await cases.of_customer("nobody") == []


async def test_complaints_since_counts_only_complaints(cases: Cases, clock: Clock) -> None:
    grade = Grade("ordinary", "category:network")
    await cases.open(CaseDraft("complaint", CHAT, "u1", "zh", "差", "network", grade))
    await cases.open(fault())
    clock.now += 10 * 86_400
    await cases.open(CaseDraft("complaint", CHAT, "u1", "zh", "差", "network", grade))
    assert await cases.complaints_since("u1", T0) == 2
    assert await cases.complaints_since("u1", T0 + 1) == 1
    assert await cases.complaints_since("u2", T0) == 0


async def test_set_fields(cases: Cases) -> None:
    number = (await cases.open(fault())).number
    case = await cases.set_fields(number, comment="很好", callback="C2611240027")
    assert (case.comment, case.callback) == ("很好", "C2611240027")
    case = await cases.set_fields(number, callback=None)
    assert case.callback is None and await cases.get(number) == case
    # State, rating and owner each change only through their own rule.
    for field, value in (("state", "closed"), ("rating", 4), ("owner", "agent:3")):
        with pytest.raises(ValueError, match=field):
            await cases.set_fields(number, **{field: value})
    assert (await cases.get(number)) == case


async def test_rate_once_and_only_when_resolved(cases: Cases) -> None:
    number = (await cases.open(fault())).number
    assert await cases.rate(number, 5) == "received"
    await walk(cases, number, "resolved")
    assert await cases.rate(number, 5) == "ok"
    assert await cases.rate(number, 1) == "rated"
    assert (await cases.get(number)).rating == 5  # type: ignore[union-attr]
    assert await cases.rate("C2611240019", 5) == "missing"


async def test_keys_expire_and_share_a_slot(cases: Cases, handles: RedisHandles) -> None:
    number = (await cases.open(fault())).number
    await cases.move(number, "assigned", actor="agent:1")
    redis = handles.commands
    for key in (keys.case(number), keys.case_events(number)):
        assert 0 < await redis.ttl(key) <= keys.CASE_TTL_S
    assert key_slot(keys.case(number).encode()) == key_slot(keys.case_events(number).encode())
    assert await redis.ttl(keys.number_counter("C", number[1:7])) > 0
    assert 0 < await redis.ttl(keys.customer_cases("u1")) <= keys.CUSTOMER_TTL_S


async def test_redis_errors_become_store_unavailable(clock: Clock) -> None:
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    cases = make_cases(redis, clock)
    number = (await cases.open(fault())).number
    server.connected = False  # the store went away
    with pytest.raises(StoreUnavailable):
        await cases.get(number)
    with pytest.raises(StoreUnavailable):
        await cases.open(fault())
    with pytest.raises(StoreUnavailable):
        await cases.move(number, "assigned", actor="agent:1")


class Clock(MovableClock):
    """The shared movable clock, starting at this file's T0."""

    def __init__(self, now: float = T0) -> None:
        super().__init__(now)
