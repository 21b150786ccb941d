"""The case state machine: every legal move applied and archived, illegal ones refused
without a trace, one winner under concurrency, notices, and the callback closing the loop."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.cases import (
    ALLOWED_FROM,
    CASE_STATES,
    Case,
    CaseDraft,
    Cases,
    IllegalTransition,
)
from bot.services.outbox import Notice
from bot.store import keys
from bot.store.client import RedisHandles
from tests.test_cases import CHAT, PATH, Clock, fault, make_cases, notices, walk

LEGAL = [(source, target) for target, sources in ALLOWED_FROM.items() for source in sources]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cases(handles: RedisHandles, clock: Clock) -> Cases:
    return make_cases(handles.commands, clock)


@pytest.mark.parametrize(("source", "target"), LEGAL)
async def test_every_legal_move_is_applied_and_archived(
    cases: Cases, clock: Clock, handles: RedisHandles, source: str, target: str
) -> None:
    case = await walk(cases, (await cases.open(fault())).number, source)
    clock.now += 60
    moved = await cases.move(case.number, target, actor="agent:7", note="checked the line")
    assert (moved.state, moved.updated) == (target, clock.now)
    assert await cases.get(case.number) == moved
    last = (await cases.events(case.number))[-1]
    assert (last.ts, last.actor, last.from_state, last.to_state, last.note) == (
        clock.now,
        "agent:7",
        source,
        target,
        "checked the line",
    )
    notice = (await notices(handles.commands))[-1]
    kind = "case_resolved" if target == "resolved" else "case_state"
    assert notice == Notice(
        CHAT, kind, case.number, "zh", {"state": target, "note": "checked the line"}, "u1"
    )


ILLEGAL = [
    ("received", "in_progress"),
    ("received", "resolved"),
    ("received", "closed"),
    ("assigned", "resolved"),
    ("assigned", "closed"),
    ("in_progress", "closed"),
    ("in_progress", "assigned"),
    ("resolved", "assigned"),
    ("closed", "in_progress"),
    ("closed", "resolved"),
    ("in_progress", "received"),
    ("assigned", "finished"),
]


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
async def test_an_illegal_move_is_refused_and_changes_nothing(
    cases: Cases, clock: Clock, handles: RedisHandles, source: str, target: str
) -> None:
    case = await walk(cases, (await cases.open(fault())).number, source)
    redis = handles.commands
    before = (await redis.hgetall(keys.case(case.number)), await cases.events(case.number))
    published = await redis.xlen(keys.OUTBOX)
    clock.now += 60
    with pytest.raises(IllegalTransition):
        await cases.move(case.number, target, actor="agent:7")
    after = (await redis.hgetall(keys.case(case.number)), await cases.events(case.number))
    assert after == before
    assert await redis.xlen(keys.OUTBOX) == published


async def test_concurrent_moves_apply_once(cases: Cases) -> None:
    number = (await cases.open(fault())).number
    tries = [cases.move(number, "assigned", actor=f"agent:{i}") for i in range(20)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(isinstance(r, Case) for r in results) == 1
    assert all(isinstance(r, Case | IllegalTransition) for r in results)
    assert [e.to_state for e in await cases.events(number)] == ["received", "assigned"]


async def test_a_case_without_a_conversation_tells_its_customer(
    cases: Cases, handles: RedisHandles
) -> None:
    # Opened elsewhere (Rasa, an agent): the customer hears of it where the outbox finds them.
    case = await cases.open(fault(conversation=None))
    await walk(cases, case.number, "closed")
    told = await notices(handles.commands)
    assert {(n.to, n.customer) for n in told} == {("sms:u1", "u1")}
    assert [n.params["state"] for n in told] == PATH["closed"]
    assert [e.to_state for e in await cases.events(case.number)] == ["received", *PATH["closed"]]


async def test_a_resolved_callback_closes_its_parent(cases: Cases) -> None:
    parent = await walk(cases, (await cases.open(fault())).number, "resolved")
    callback = await cases.open(CaseDraft("callback", CHAT, "u1", "zh", parent=parent.number))
    await cases.set_fields(parent.number, callback=callback.number)
    # The loop stays open while the callback is: nobody can close the parent yet.
    with pytest.raises(IllegalTransition, match="callback"):
        await cases.move(parent.number, "closed", actor="agent:1")
    await walk(cases, callback.number, "resolved")
    closed = await cases.get(parent.number)
    assert closed is not None and closed.state == "closed"
    last = (await cases.events(parent.number))[-1]
    assert (last.actor, last.from_state, last.to_state) == ("system", "resolved", "closed")
    assert callback.number in last.note


async def test_a_callback_resolved_while_the_parent_is_reopened(cases: Cases) -> None:
    parent = await walk(cases, (await cases.open(fault())).number, "resolved")
    callback = await cases.open(CaseDraft("callback", CHAT, "u1", "zh", parent=parent.number))
    await cases.set_fields(parent.number, callback=callback.number)
    await cases.move(parent.number, "in_progress", actor="customer", note="not fixed")
    await walk(cases, callback.number, "resolved")
    assert (await cases.get(parent.number)).state == "in_progress"  # type: ignore[union-attr]
    # The callback is done, so the parent closes normally once resolved again.
    await cases.move(parent.number, "resolved", actor="agent:1")
    assert (await cases.move(parent.number, "closed", actor="agent:1")).state == "closed"


def test_states_are_the_issue_states() -> None:
    assert CASE_STATES == ("received", "assigned", "in_progress", "resolved", "closed")
    assert sorted(LEGAL) == sorted(
        [
            ("received", "assigned"),
            ("assigned", "in_progress"),
            ("in_progress", "resolved"),
            ("resolved", "closed"),
            ("resolved", "in_progress"),
        ]
    )
