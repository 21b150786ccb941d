"""Satisfaction: 1-5 once, only for a finished case or visit of one's own; a low rating
opens a supervisor callback and the loop closes only when that callback is resolved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.services.cases import Case, CaseDraft, Cases, IllegalTransition
from bot.services.outbox import Notice
from bot.services.surveys import AlreadyRated, NotRateable, RatingOutcome, Surveys
from bot.store import keys
from bot.store.client import RedisHandles
from tests.appointment_world import TODAY, World, draft, make_world, window
from tests.test_cases import make_cases, notices

CHAT = "web:chat-1"
PHONE = "13800138000"
DAY = 86_400.0


@pytest.fixture
def world(handles: RedisHandles, tmp_path: Path) -> World:
    return make_world(handles.commands, tmp_path)


@pytest.fixture
def cases(world: World) -> Cases:
    return make_cases(world.redis, world.clock)


@pytest.fixture
def surveys(cases: Cases, world: World) -> Surveys:
    return Surveys(cases, world.appointments)


async def resolved(cases: Cases, conversation: str = CHAT, customer: str | None = "u1") -> Case:
    draft_ = CaseDraft(
        "fault", conversation, customer, "zh", "宽带断了", contact=PHONE, area="xihu"
    )
    case = await cases.open(draft_)
    for state in ("assigned", "in_progress", "resolved"):
        case = await cases.move(case.number, state, actor="agent:1")
    return case


async def done_visit(world: World) -> str:
    booked = await world.appointments.book(draft(window("wensan", TODAY, "0900"), "u1"))
    await world.appointments.mark_done(booked.number, actor="agent:1")
    return booked.number


async def state(cases: Cases, number: str) -> str:
    case = await cases.get(number)
    assert case is not None
    return case.state


@pytest.mark.parametrize("rating", [3, 4, 5])
async def test_a_good_rating_closes_the_case(
    cases: Cases, surveys: Surveys, world: World, rating: int
) -> None:
    case = await resolved(cases)
    outcome = await surveys.rate(case.number, rating, conversation=CHAT, customer=None)
    assert outcome == RatingOutcome(case.number, rating, None)
    closed = await cases.get(case.number)
    assert closed is not None and (closed.state, closed.rating) == ("closed", rating)
    last = (await cases.events(case.number))[-1]
    assert (last.actor, last.from_state, last.to_state) == ("customer", "resolved", "closed")
    assert last.note == f"rated {rating}"  # kept in the archive, not told to the customer
    closing = (await notices(world.redis))[-1]
    assert closing.params == {"state": "closed", "note": ""}


@pytest.mark.parametrize("rating", [1, 2])
async def test_a_low_rating_opens_a_callback_and_holds_the_case(
    cases: Cases, surveys: Surveys, world: World, rating: int
) -> None:
    case = await resolved(cases)
    outcome = await surveys.rate(case.number, rating, conversation=CHAT, customer="u1")
    callback = outcome.callback
    assert callback is not None and outcome.rating == rating
    assert (callback.kind, callback.parent, callback.state) == ("callback", case.number, "received")
    assert (callback.customer, callback.contact, callback.conversation) == ("u1", PHONE, CHAT)
    assert callback.due == {"response": world.clock.now + DAY}
    rated = await cases.get(case.number)
    assert rated is not None
    assert (rated.state, rated.rating, rated.callback) == ("resolved", rating, callback.number)
    with pytest.raises(IllegalTransition):
        await cases.move(case.number, "closed", actor="agent:1")
    for step in ("assigned", "in_progress"):
        await cases.move(callback.number, step, actor="supervisor:1")
    assert await state(cases, case.number) == "resolved"
    await cases.move(callback.number, "resolved", actor="supervisor:1", note="called back")
    assert await state(cases, case.number) == "closed"
    entries = await world.redis.xrange(keys.OUTBOX)
    kinds = [(n.subject, n.kind) for n in (Notice.from_json(f["n"]) for _i, f in entries)]
    assert kinds[-2:] == [(callback.number, "case_resolved"), (case.number, "case_state")]
    closing = Notice.from_json(entries[-1][1]["n"])
    assert closing.params == {"state": "closed", "note": ""}  # the system's note stays inside


@pytest.mark.parametrize("first", [1, 4])
async def test_a_case_is_rated_once(cases: Cases, surveys: Surveys, first: int) -> None:
    case = await resolved(cases)
    await surveys.rate(case.number, first, conversation=CHAT, customer=None)
    with pytest.raises(AlreadyRated):
        await surveys.rate(case.number, 5, conversation=CHAT, customer=None)
    assert (await cases.get(case.number)).rating == first  # type: ignore[union-attr]


async def test_concurrent_ratings_count_once(cases: Cases, surveys: Surveys) -> None:
    case = await resolved(cases)
    tries = [surveys.rate(case.number, 1, conversation=CHAT, customer=None) for _ in range(10)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(isinstance(r, RatingOutcome) for r in results) == 1
    assert sum(isinstance(r, AlreadyRated) for r in results) == 9
    callbacks = [c for c in await cases.of_customer("u1") if c.kind == "callback"]
    assert len(callbacks) == 1


@pytest.mark.parametrize("rating", [0, 6, -1, True])
async def test_only_one_to_five(cases: Cases, surveys: Surveys, rating: int) -> None:
    case = await resolved(cases)
    with pytest.raises(NotRateable) as raised:
        await surveys.rate(case.number, rating, conversation=CHAT, customer=None)
    assert raised.value.reason == "range"
    assert await cases.get(case.number) == case


@pytest.mark.parametrize("steps", [[], ["assigned"], ["assigned", "in_progress"]])
async def test_only_a_resolved_case(cases: Cases, surveys: Surveys, steps: list[str]) -> None:
    number = (await cases.open(CaseDraft("fault", CHAT, "u1", "zh"))).number
    for step in steps:
        await cases.move(number, step, actor="agent:1")
    with pytest.raises(NotRateable) as raised:
        await surveys.rate(number, 5, conversation=CHAT, customer=None)
    assert raised.value.reason == "not_finished"
    assert (await cases.get(number)).rating is None  # type: ignore[union-attr]


async def test_only_the_owner_rates(cases: Cases, surveys: Surveys) -> None:
    case = await resolved(cases, customer="u1")
    for conversation, customer in (("web:other", None), ("web:other", "u2")):
        with pytest.raises(NotRateable) as raised:
            await surveys.rate(case.number, 5, conversation=conversation, customer=customer)
        assert raised.value.reason == "not_yours"
    # The verified customer may rate from another channel.
    await surveys.rate(case.number, 5, conversation="telegram:42", customer="u1")
    assert await state(cases, case.number) == "closed"


@pytest.mark.parametrize("subject", ["C2611240019", "A3003040015", "X123", ""])
async def test_unknown_subjects(surveys: Surveys, subject: str) -> None:
    with pytest.raises(NotRateable) as raised:
        await surveys.rate(subject, 5, conversation=CHAT, customer="u1")
    assert raised.value.reason == "unknown"
    with pytest.raises(NotRateable):
        await surveys.comment(subject, "whatever")


async def test_a_done_visit_is_rated_once(world: World, surveys: Surveys) -> None:
    number = await done_visit(world)
    outcome = await surveys.rate(number, 5, conversation=CHAT, customer=None)
    assert outcome == RatingOutcome(number, 5, None)
    assert (await world.appointments.get(number)).rating == 5  # type: ignore[union-attr]
    with pytest.raises(AlreadyRated):
        await surveys.rate(number, 4, conversation=CHAT, customer=None)


async def test_a_low_visit_rating_opens_a_callback(
    world: World, cases: Cases, surveys: Surveys
) -> None:
    number = await done_visit(world)
    outcome = await surveys.rate(number, 1, conversation="telegram:42", customer="u1")
    callback = outcome.callback
    assert callback is not None
    assert (callback.parent, callback.appointment, callback.contact) == (number, number, PHONE)
    assert callback.conversation == "telegram:42"
    for step in ("assigned", "in_progress", "resolved"):
        await cases.move(callback.number, step, actor="supervisor:1")
    assert await state(cases, callback.number) == "resolved"


async def test_a_visit_not_done_or_not_yours(world: World, surveys: Surveys) -> None:
    booked = await world.appointments.book(draft(window("wensan", TODAY, "0900"), "u1"))
    with pytest.raises(NotRateable) as raised:
        await surveys.rate(booked.number, 5, conversation=CHAT, customer=None)
    assert raised.value.reason == "not_finished"
    await world.appointments.mark_done(booked.number, actor="agent:1")
    with pytest.raises(NotRateable) as raised:
        await surveys.rate(booked.number, 5, conversation="web:other", customer="u2")
    assert raised.value.reason == "not_yours"


async def test_comments_are_kept_whole(world: World, cases: Cases, surveys: Surveys) -> None:
    case = await resolved(cases)
    await surveys.rate(case.number, 2, conversation=CHAT, customer=None)
    text = ("师傅态度不好，问题也没解决。The technician was late. " * 60)[:2000]
    await surveys.comment(case.number, text)
    assert (await cases.get(case.number)).comment == text  # type: ignore[union-attr]
    visit = await done_visit(world)
    await surveys.rate(visit, 4, conversation=CHAT, customer=None)
    await surveys.comment(visit, "很好 great")
    assert await world.redis.hget(keys.appointment(visit), "comment") == "很好 great"
