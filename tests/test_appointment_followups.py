"""What follows a booking: the reminder before the visit (moved by a reschedule, dropped by a
cancel), the no-show follow-up, the done visit's rating, and the customer's list."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from bot.services.appointments import AppointmentNotFound, NotBooked, RatingRefused
from bot.store.client import RedisHandles
from tests.appointment_world import CHAT, TODAY, World, at, draft, make_world, window

TOMORROW = TODAY + timedelta(days=1)
LEAD = 2 * 3600


@pytest.fixture
def world(handles: RedisHandles, tmp_path: Path) -> World:
    return make_world(handles.commands, tmp_path)


async def reminders(world: World) -> list[str]:
    return [n.subject for n in await world.notices() if n.kind == "appointment_reminder"]


async def test_the_reminder_comes_once_the_lead_before_the_visit(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    world.clock.now = booked.start - LEAD - 1
    assert await world.scheduler.fire_due() == 0
    world.clock.now = booked.start - LEAD
    assert await world.scheduler.fire_due() == 1
    assert await reminders(world) == [booked.number]
    [notice] = [n for n in await world.notices() if n.kind == "appointment_reminder"]
    assert notice.to == CHAT and notice.params["start"] == f"{booked.start:.0f}"
    world.clock.now = booked.start
    assert await world.scheduler.fire_due() == 0
    assert await reminders(world) == [booked.number]


async def test_a_rescheduled_visit_is_reminded_at_its_new_time_only(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    moved = await world.appointments.reschedule(
        booked.number, window("wensan", TOMORROW, "1400"), customer="cust-a"
    )
    world.clock.now = booked.start - LEAD
    await world.scheduler.fire_due()
    assert await reminders(world) == []
    world.clock.now = moved.start - LEAD
    await world.scheduler.fire_due()
    assert await reminders(world) == [booked.number]
    # A reminder job left over for the old time says nothing.
    assert not await world.appointments.send_reminder(booked.number, booked.start)


async def test_a_cancelled_visit_gets_no_reminder(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    await world.appointments.cancel(booked.number, customer="cust-a")
    world.clock.now = booked.start - LEAD
    assert await world.scheduler.fire_due() == 0
    assert not await world.appointments.send_reminder(booked.number, booked.start)
    assert await reminders(world) == []


async def test_a_visit_booked_within_the_lead_gets_no_separate_reminder(world: World) -> None:
    world.clock.now = at(TODAY, 8, 30)
    booked = await world.appointments.book(draft(window("wensan", TODAY, "1000")))
    assert await world.scheduler.when(f"appointment_reminder:{booked.number}") is None


async def test_a_no_show_is_followed_up(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    world.clock.now = booked.end + 600
    marked = await world.appointments.mark_no_show(booked.number, actor="agent-7")
    assert marked.state == "no_show"
    [*_, notice] = await world.notices()
    assert (notice.kind, notice.to, notice.subject) == ("no_show", CHAT, booked.number)
    with pytest.raises(NotBooked):
        await world.appointments.mark_done(booked.number, actor="agent-7")
    with pytest.raises(RatingRefused) as caught:
        await world.appointments.set_rating(booked.number, 5)
    assert caught.value.reason == "no_show"


async def test_a_done_visit_asks_for_a_rating_which_is_kept_once(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    with pytest.raises(RatingRefused):  # not done yet
        await world.appointments.set_rating(booked.number, 4)
    done = await world.appointments.mark_done(booked.number, actor="tech-3")
    assert done.state == "done" and "visit_done" in await world.kinds()
    world.clock.now = booked.start - LEAD  # marking it done dropped the reminder
    assert await world.scheduler.fire_due() == 0
    rated = await world.appointments.set_rating(booked.number, 4)
    assert rated.rating == 4
    with pytest.raises(RatingRefused) as caught:
        await world.appointments.set_rating(booked.number, 1)
    assert caught.value.reason == "rated"
    assert (await world.appointments.get(booked.number)).rating == 4  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await world.appointments.set_rating(booked.number, 6)
    with pytest.raises(RatingRefused):
        await world.appointments.set_rating("A3003040019", 3)
    with pytest.raises(AppointmentNotFound):
        await world.appointments.mark_done("A3003040019", actor="tech-3")


async def test_the_customers_list_shows_upcoming_visits_first(world: World) -> None:
    later = await world.appointments.book(draft(window("wensan", TOMORROW, "1400")))
    sooner = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    gone = await world.appointments.book(draft(window("wensan", TOMORROW, "0900")))
    await world.appointments.cancel(gone.number, customer="cust-a")
    await world.appointments.book(draft(window("wensan", TOMORROW, "1100"), "cust-b"))
    listed = await world.appointments.of_customer("cust-a")
    assert [a.number for a in listed] == [sooner.number, later.number, gone.number]
    assert await world.appointments.of_customer("nobody") == []


async def test_an_appointment_without_a_conversation_is_told_to_its_customer(
    world: World,
) -> None:
    # Booked elsewhere (a Rasa assistant, an agent): the customer still hears of it, on the
    # channel they last used or by SMS (the outbox picks; the notice names the customer).
    quiet = dataclasses.replace(draft(window("wensan", TOMORROW, "1000")), conversation=None)
    booked = await world.appointments.book(quiet)
    world.clock.now = booked.start - LEAD
    await world.scheduler.fire_due()
    await world.appointments.mark_done(booked.number, actor="tech-3")
    notices = await world.notices()
    assert [n.kind for n in notices] == ["appointment_booked", "appointment_reminder", "visit_done"]
    assert {(n.to, n.customer) for n in notices} == {("sms:cust-a", "cust-a")}
