"""Booking rules: capacity never oversold, no overlapping visits, nearest free windows,
capacity released by cancel and reschedule, and windows that cannot be booked at all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.commands.core import AsyncScript

from bot.services.appointment_records import CREATE
from bot.services.appointments import (
    Appointment,
    AppointmentNotFound,
    NotBookable,
    NotBooked,
    Overlap,
    WindowFull,
)
from bot.services.capacity import TAKEN, TAKEN_ALL
from bot.services.numbers import parse_number
from bot.services.outbox import PUBLISH
from bot.services.scheduler import SET_JOB
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.client import RedisHandles
from tests.appointment_world import (
    CHAT,
    ID_NUMBER,
    PHONE,
    TODAY,
    World,
    at,
    draft,
    make_world,
    window,
)

TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def world(handles: RedisHandles, tmp_path: Path) -> World:
    return make_world(handles.commands, tmp_path)


async def free(world: World, service: str, place: str, window_id: str) -> int:
    slots = await world.appointments.availability(service, place, TOMORROW)
    return next(slot.free for slot in slots if slot.window.id == window_id)


async def test_a_booking_gets_a_number_seals_personal_data_and_tells_the_chat(world: World) -> None:
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "0900")))
    parsed = parse_number(booked.number)
    assert parsed is not None and parsed.valid
    assert (parsed.kind, parsed.day, parsed.seq) == ("A", TODAY, 1)
    assert booked.state == "booked" and booked.place == "wensan"
    assert booked.start == at(TOMORROW, 9) and booked.end == at(TOMORROW, 10)
    assert await world.appointments.get(booked.number) == booked
    assert booked.contact == PHONE
    stored = await world.redis.hgetall(keys.appointment(booked.number))  # type: ignore[misc]
    assert not any(PHONE in value or ID_NUMBER in value for value in stored.values())
    assert stored["id_number"].startswith("v1.")
    [notice] = await world.notices()
    assert (notice.kind, notice.to, notice.subject) == ("appointment_booked", CHAT, booked.number)
    assert notice.params["start"] == f"{booked.start:.0f}"
    second = await world.appointments.book(draft(window("wensan", TOMORROW, "0900"), "cust-b"))
    assert parse_number(second.number).seq == 2  # type: ignore[union-attr]


async def test_fifty_customers_into_a_window_of_ten_exactly_ten_succeed(world: World) -> None:
    wanted = window("wensan", TOMORROW, "0900")
    results = await asyncio.gather(
        *(world.appointments.book(draft(wanted, f"cust-{n}")) for n in range(50)),
        return_exceptions=True,
    )
    booked = [r for r in results if isinstance(r, Appointment)]
    full = [r for r in results if isinstance(r, WindowFull)]
    assert len(booked) == 10 and len(full) == 40
    assert len({a.number for a in booked}) == 10
    for error in full:
        assert error.nearest and all(s.free > 0 and s.window.id != wanted for s in error.nearest)
    assert await free(world, "store_business", "wensan", wanted) == 0
    key = keys.window_bookings("wensan", f"{TOMORROW:%Y%m%d}")
    assert await world.redis.hget(key, wanted) == "10"  # type: ignore[misc]


async def test_one_customer_cannot_hold_two_overlapping_appointments(world: World) -> None:
    first = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    repair_9_to_11 = draft(window("xihu", TOMORROW, "0900"), service="onsite_repair")
    with pytest.raises(Overlap) as caught:
        await world.appointments.book(repair_9_to_11)
    assert caught.value.existing == first.number
    # The refused booking took no place, and other customers are not affected.
    assert await free(world, "onsite_repair", "xihu", repair_9_to_11.window) == 2
    await world.appointments.book(draft(repair_9_to_11.window, "cust-b", "onsite_repair"))
    # Back to back is not an overlap.
    await world.appointments.book(draft(window("xihu", TOMORROW, "1100"), service="onsite_repair"))


async def test_two_concurrent_overlapping_bookings_by_one_customer_one_wins(world: World) -> None:
    store = draft(window("wensan", TOMORROW, "1000"))
    home = draft(window("xihu", TOMORROW, "0900"), service="onsite_repair")
    results = await asyncio.gather(
        world.appointments.book(store),
        world.appointments.book(home),
        world.appointments.book(store),  # a double submit of the same window
        return_exceptions=True,
    )
    assert sum(isinstance(r, Appointment) for r in results) == 1
    assert sum(isinstance(r, Overlap) for r in results) == 2
    taken = 2 - await free(world, "store_business", "wensan", store.window)
    taken += 2 - await free(world, "onsite_repair", "xihu", home.window)
    assert taken == 1


async def test_a_full_window_offers_the_nearest_free_ones_of_that_place(world: World) -> None:
    ten = window("wensan", TOMORROW, "1000")
    for customer in ("cust-a", "cust-b"):
        await world.appointments.book(draft(ten, customer))
    with pytest.raises(WindowFull) as caught:
        await world.appointments.book(draft(ten, "cust-c"))
    offered = [slot.window.id for slot in caught.value.nearest]
    hhmm = ["0900", "1100", "1400"]  # one hour before, one hour after, then four hours after
    assert offered == [window("wensan", TOMORROW, t) for t in hhmm]


async def test_the_nearest_free_windows_are_never_in_the_past(world: World) -> None:
    world.clock.now = at(TODAY, 9, 30)
    ten = window("wensan", TODAY, "1000")
    for customer in ("cust-a", "cust-b"):
        await world.appointments.book(draft(ten, customer))
    with pytest.raises(WindowFull) as caught:
        await world.appointments.book(draft(ten, "cust-c"))
    offered = [slot.window.id for slot in caught.value.nearest]
    assert offered == [window("wensan", TODAY, t) for t in ("1100", "1400")] + [
        window("wensan", TOMORROW, "0900")
    ]
    nearest = await world.appointments.nearest_free("store_business", "wensan", at(TODAY, 9, 30))
    assert nearest[0].window.id == window("wensan", TODAY, "1100")


async def test_cancel_frees_the_place_for_someone_else(world: World) -> None:
    ten = window("wensan", TOMORROW, "1000")
    mine = await world.appointments.book(draft(ten, "cust-a"))
    await world.appointments.book(draft(ten, "cust-b"))
    with pytest.raises(WindowFull):
        await world.appointments.book(draft(ten, "cust-c"))
    with pytest.raises(AppointmentNotFound):
        await world.appointments.cancel(mine.number, customer="cust-b")
    cancelled = await world.appointments.cancel(mine.number, customer="cust-a")
    assert cancelled.state == "cancelled"
    await world.appointments.book(draft(ten, "cust-c"))
    with pytest.raises(NotBooked) as caught:
        await world.appointments.cancel(mine.number, customer="cust-a")
    assert caught.value.state == "cancelled"
    # Cancelled twice, released once: the window is full again, not over-freed.
    assert await free(world, "store_business", "wensan", ten) == 0
    # The customer's time is free again too.
    await world.appointments.book(draft(window("xihu", TOMORROW, "0900"), service="onsite_repair"))
    assert (await world.kinds()).count("appointment_cancelled") == 1


async def test_reschedule_takes_the_new_window_and_frees_the_old(world: World) -> None:
    ten, two = window("wensan", TOMORROW, "1000"), window("wensan", TOMORROW, "1400")
    mine = await world.appointments.book(draft(ten, "cust-a"))
    await world.appointments.book(draft(ten, "cust-b"))
    moved = await world.appointments.reschedule(mine.number, two, customer="cust-a")
    assert (moved.number, moved.window, moved.start) == (mine.number, two, at(TOMORROW, 14))
    await world.appointments.book(draft(ten, "cust-c"))  # the freed place
    assert await free(world, "store_business", "wensan", two) == 1
    # The old time no longer blocks the customer; the new one does.
    await world.appointments.book(draft(window("xihu", TOMORROW, "0900"), service="onsite_repair"))
    with pytest.raises(Overlap):
        await world.appointments.book(
            draft(window("xihu", TOMORROW, "1400"), service="onsite_repair")
        )
    assert "appointment_changed" in await world.kinds()


async def test_reschedule_into_a_full_window_keeps_the_old_one(world: World) -> None:
    ten, eleven = window("wensan", TOMORROW, "1000"), window("wensan", TOMORROW, "1100")
    mine = await world.appointments.book(draft(ten, "cust-a"))
    for customer in ("cust-b", "cust-c"):
        await world.appointments.book(draft(eleven, customer))
    with pytest.raises(WindowFull):
        await world.appointments.reschedule(mine.number, eleven, customer="cust-a")
    kept = await world.appointments.get(mine.number)
    assert kept is not None and kept.window == ten
    assert await free(world, "store_business", "wensan", ten) == 1
    with pytest.raises(Overlap):  # still busy at ten
        await world.appointments.book(
            draft(window("xihu", TOMORROW, "0900"), service="onsite_repair")
        )
    with pytest.raises(AppointmentNotFound):
        await world.appointments.reschedule(mine.number, eleven, customer="cust-b")


async def test_concurrent_reschedules_of_one_appointment_leave_one_place_taken(
    world: World,
) -> None:
    ten = window("wensan", TOMORROW, "1000")
    targets = [window("wensan", TOMORROW, t) for t in ("1100", "1400", "1400")]
    mine = await world.appointments.book(draft(ten))
    await asyncio.gather(
        *(world.appointments.reschedule(mine.number, t, customer="cust-a") for t in targets),
        return_exceptions=True,
    )
    final = await world.appointments.get(mine.number)
    assert final is not None and final.window in targets
    slots = await world.appointments.availability("store_business", "wensan", TOMORROW)
    taken = {s.window.id: s.window.capacity - s.free for s in slots}
    assert taken == {w: int(w == final.window) for w in taken}


@pytest.mark.parametrize(
    ("service", "window_id", "id_number", "reason"),
    [
        ("store_business", window("wensan", TODAY - timedelta(days=1), "0900"), ID_NUMBER, "past"),
        (
            "store_business",
            window("wensan", TODAY + timedelta(days=15), "0900"),
            ID_NUMBER,
            "too_far",
        ),
        (
            "store_business",
            window("wensan", TODAY + timedelta(days=3 * 365), "0900"),
            ID_NUMBER,
            "too_far",
        ),
        ("onsite_repair", window("xihu", TOMORROW, "0700"), None, "outside_hours"),
        ("store_business", window("wensan", TOMORROW, "0930"), ID_NUMBER, "unknown"),
        ("store_business", window("nowhere", TOMORROW, "0900"), ID_NUMBER, "unknown"),
        ("store_business", "not a window", ID_NUMBER, "unknown"),
        ("teleport", window("wensan", TOMORROW, "0900"), ID_NUMBER, "unknown"),
        ("onsite_repair", window("wensan", TOMORROW, "0900"), None, "unknown"),  # a store
        ("store_business", window("wensan", TOMORROW, "0900"), None, "id_required"),
        ("broadband_install", window("xihu", TOMORROW, "0900"), None, "id_required"),
        ("store_business", window("wensan", TOMORROW, "0900"), "110105194912310021", "id_invalid"),
    ],
)
async def test_what_cannot_be_booked_is_refused_with_the_reason(
    world: World, service: str, window_id: str, id_number: str | None, reason: str
) -> None:
    with pytest.raises(NotBookable) as caught:
        await world.appointments.book(draft(window_id, service=service, id_number=id_number))
    assert caught.value.reason == reason
    assert await world.notices() == []


async def test_the_last_day_of_the_horizon_and_no_id_services_are_bookable(world: World) -> None:
    last = TODAY + timedelta(days=14)
    await world.appointments.book(draft(window("wensan", last, "0900")))
    await world.appointments.book(
        draft(window("wensan", TOMORROW, "0900"), service="device_setup", id_number=None)
    )


async def test_availability_lists_only_future_windows_inside_service_hours(world: World) -> None:
    world.clock.now = at(TODAY, 10, 30)
    today = await world.appointments.availability("onsite_repair", "xihu", TODAY)
    assert [s.window.id for s in today] == [window("xihu", TODAY, t) for t in ("1100", "1400")]
    tomorrow = await world.appointments.availability("onsite_repair", "xihu", TOMORROW)
    assert [s.window.start.hour for s in tomorrow] == [9, 11, 14]  # not 07:00
    assert [s.free for s in tomorrow] == [2, 2, 1]
    assert await world.appointments.availability("onsite_repair", "wensan", TOMORROW) == []


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The place-day keys whose places taken are read, in order."""
    seen: list[str] = []
    submit = ScriptBatcher.submit

    def recording(
        self: ScriptBatcher, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        if script.script in (TAKEN, TAKEN_ALL):
            seen.extend(keys)
        return submit(self, script, keys, args)

    monkeypatch.setattr(ScriptBatcher, "submit", recording)
    return seen


async def test_the_nearest_free_windows_read_only_the_days_they_need(
    world: World, reads: list[str]
) -> None:
    nearest = await world.appointments.nearest_free("onsite_repair", "xihu", at(TODAY, 7), 3)
    assert [s.window.id for s in nearest] == [
        window("xihu", TODAY, t) for t in ("0900", "1100", "1400")
    ]
    assert reads == [keys.window_bookings("xihu", f"{TODAY:%Y%m%d}")]  # not the 14 days after


@pytest.mark.parametrize("full_days", [2, 4])
async def test_full_days_send_the_nearest_free_windows_further_out(
    world: World, reads: list[str], full_days: int
) -> None:
    customers = iter(f"cust-{n}" for n in range(1000))
    for n in range(full_days):
        day = TODAY + timedelta(days=n)
        for slot in await world.appointments.availability("onsite_repair", "xihu", day):
            for _place in range(slot.free):
                booking = draft(slot.window.id, next(customers), "onsite_repair")
                await world.appointments.book(booking)
    reads.clear()
    nearest = await world.appointments.nearest_free("onsite_repair", "xihu", at(TODAY, 7), 3)
    later = TODAY + timedelta(days=full_days)
    assert [s.window.id for s in nearest] == [
        window("xihu", later, t) for t in ("0900", "1100", "1400")
    ]
    # The nearest windows' day first; no day twice; the days around the time asked first
    # (two days either side), the rest only when those are full.
    assert reads[0] == keys.window_bookings("xihu", f"{TODAY:%Y%m%d}")
    assert len(set(reads)) == len(reads) == (3 if full_days < 3 else 15)
    # The same as reading every day of the horizon.
    every = [
        slot
        for n in range(15)
        for slot in await world.appointments.availability(
            "onsite_repair", "xihu", TODAY + timedelta(days=n)
        )
        if slot.free > 0
    ]
    every.sort(key=lambda s: (abs(s.window.start.timestamp() - at(TODAY, 7)), s.window.start))
    assert nearest == every[:3]


async def test_a_booking_sends_record_and_reminder_in_one_round_trip(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[set[str]] = []
    execute = ScriptBatcher._execute

    async def recording(self: ScriptBatcher, calls: Sequence[Any]) -> list[Any]:
        batches.append({call[0].script for call in calls})
        return await execute(self, calls)

    await world.appointments.book(draft(window("wensan", TOMORROW, "0900"), "cust-a"))
    monkeypatch.setattr(ScriptBatcher, "_execute", recording)  # scripts loaded by now
    booked = await world.appointments.book(draft(window("wensan", TOMORROW, "1000")))
    assert {CREATE, SET_JOB, PUBLISH} in batches
    assert len(batches) == 4  # number, customer's time, window place, then record,
    # reminder and notice together
    assert await world.kinds() == ["appointment_booked"] * 2
    assert (
        await world.scheduler.when(f"appointment_reminder:{booked.number}") == booked.start - 7200
    )
