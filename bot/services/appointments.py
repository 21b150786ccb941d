"""Appointments: book, reschedule and cancel visits; reminders, and what follows a visit.

Which services, places and windows exist comes from a `Catalog` (bot/services/catalog.py);
how many places a window has left and whether the customer is free is decided atomically
in Redis (bot/services/capacity.py). Contact phone and ID number are sealed by the vault.
Every Redis call is one script through a `ScriptBatcher`, so independent steps sent together
share a round trip, and under load they share it with other turns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import date
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from stdnum.cn import ric

from bot.services.appointment_records import (
    Appointment,
    AppointmentDraft,
    AppointmentNotFound,
    BookingError,
    NotBookable,
    NotBooked,
    Overlap,
    RatingRefused,
    Records,
    WindowFull,
)
from bot.services.capacity import Capacity, Taken, TakenAhead
from bot.services.catalog import (
    SERVICE_TYPES,
    Catalog,
    Place,
    SampleCatalog,
    ServiceType,
    Slot,
    Window,
)
from bot.services.issuing import NumberIssuer
from bot.services.numbers import APPOINTMENT
from bot.services.outbox import SMS, Notice, Outbox
from bot.services.policy import Policy
from bot.services.scheduler import Scheduler
from bot.services.vault import Vault
from bot.store.batching import ScriptBatcher

__all__ = [
    "SERVICE_TYPES",
    "Appointment",
    "AppointmentDraft",
    "AppointmentNotFound",
    "Appointments",
    "BookingError",
    "Catalog",
    "NotBookable",
    "NotBooked",
    "Overlap",
    "Place",
    "RatingRefused",
    "SampleCatalog",
    "ServiceType",
    "Slot",
    "Taken",
    "TakenAhead",
    "Window",
    "WindowFull",
]

REMINDER = "appointment_reminder"  # the scheduler job kind


class Appointments:
    """The booking rules: capacity, no double booking, limits in time; and the notices."""

    def __init__(
        self,
        redis: aioredis.Redis,
        catalog: Catalog,
        policy: Policy,
        outbox: Outbox,
        scheduler: Scheduler,
        vault: Vault,
        clock: Callable[[], float] = time.time,
        *,
        timezone: str = "Asia/Shanghai",
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self.catalog = catalog
        self._redis = redis
        self._policy = policy
        self._outbox = outbox
        self._scheduler = scheduler
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        # Shared by every step, so that the calls of one step and of concurrent turns
        # leave in one pipeline; the conversation store's own batcher may be passed in.
        self._batch = batcher or ScriptBatcher(redis)
        self._capacity = Capacity(redis, catalog, policy, clock, self._zone, self._batch)
        self._records = Records(redis, vault, self._batch)
        self._numbers = NumberIssuer(redis, self._batch, APPOINTMENT, timezone)
        scheduler.handle(REMINDER, self._on_reminder_job)

    # --- Finding windows ----------------------------------------------------------------

    async def availability(
        self, service: str, place: str, day: date, known: Taken | None = None
    ) -> list[Slot]:
        """The bookable windows of a day (future, in service hours), with places left (may be
        0); what `known` read (see `read_ahead`) is not read again."""
        return await self._capacity.availability(service, place, [day], known)

    async def nearest_free(
        self, service: str, place: str, after: float, limit: int = 3, known: Taken | None = None
    ) -> list[Slot]:
        """Free windows nearest in time to `after` (before or after it, never in the past);
        what `known` read is not read again."""
        return await self._capacity.nearest(service, place, after, limit, known=known)

    def read_ahead(self, place: str, days: Sequence[date]) -> TakenAhead:
        """Send now, with the next pipeline, a read of what every window of `place` on `days`
        has taken (whatever the service), for `availability` and `nearest_free` later."""
        return self._capacity.read_ahead(place, days)

    def read_ahead_near(self, place: str, around: float) -> TakenAhead:
        """`read_ahead` of the days `nearest_free(..., after=around)` looks at first."""
        return self._capacity.read_ahead(place, self._capacity.near_days(around))

    # --- Booking --------------------------------------------------------------------------

    async def book(self, draft: AppointmentDraft) -> Appointment:
        """Book a window for a customer: one atomic decision on capacity, none overlapping."""
        service, window = self._capacity.bookable(draft.service, draft.window)
        if service.needs_id:
            if not draft.id_number:
                raise NotBookable("id_required")
            if not ric.is_valid(draft.id_number):
                raise NotBookable("id_invalid")
        now = self._clock()
        number = await self._numbers.issue(now)
        await self._capacity.take(service.id, draft.customer, window, number, created=now)
        appointment = Appointment(
            number=number,
            service=draft.service,
            place=window.place,
            window=window.id,
            start=window.start.timestamp(),
            end=window.end.timestamp(),
            state="booked",
            customer=draft.customer,
            conversation=draft.conversation,
            locale=draft.locale,
            contact=draft.contact,
            case=draft.case,
            created=now,
            rating=None,
        )
        # Independent once the place is taken: sent together (record and reminder share one
        # pipeline; the notice goes beside them).
        await asyncio.gather(
            # Kept only where the business needs it (real-name registration).
            self._records.create(appointment, draft.id_number if service.needs_id else None),
            self._schedule_reminder(appointment),
            self._notify(appointment, "appointment_booked"),
        )
        return appointment

    async def reschedule(self, number: str, window: str, *, customer: str) -> Appointment:
        """Move a booked appointment to another window of the same service (same rules)."""
        current = await self._own_booked(number, customer)
        service, new = self._capacity.bookable(current.service, window)
        if new.id == current.window:
            return current
        now = self._clock()
        previous = (current.start, current.end)
        await self._capacity.take(
            service.id, customer, new, number, created=current.created, previous=previous
        )
        status = await self._records.move(
            number, customer=customer, expected=current.window, window=new, now=now
        )
        if status != "ok":  # cancelled or moved meanwhile: undo what we took
            latest = await self.get(number)
            if latest is None or latest.window != new.id:  # not moved there by the other
                await self._capacity.release_window(new.id, new.place, number)
            if latest is not None and latest.state == "booked":
                await self._capacity.set_time(customer, number, latest.start, latest.end)
            else:
                await self._capacity.free_time(customer, number)
            raise NotBooked(latest.state if latest else "unknown")
        # The customer's time entry already holds the new window: free only the old place.
        await self._capacity.release_window(current.window, current.place, number)
        moved = await self._require(number)
        await asyncio.gather(
            self._schedule_reminder(moved), self._notify(moved, "appointment_changed")
        )
        return moved

    async def cancel(self, number: str, *, customer: str) -> Appointment:
        """Cancel a booked appointment of `customer`; its place is free again at once."""
        appointment = await self._finish(number, "cancelled", customer=customer, actor="customer")
        await self._capacity.release_window(appointment.window, appointment.place, number)
        await self._notify(appointment, "appointment_cancelled")
        return appointment

    async def mark_done(self, number: str, *, actor: str) -> Appointment:
        """The visit took place: the customer is asked to rate it."""
        appointment = await self._finish(number, "done", customer="", actor=actor)
        await self._notify(appointment, "visit_done")
        return appointment

    async def mark_no_show(self, number: str, *, actor: str) -> Appointment:
        """Nobody was there: the customer is offered to book again."""
        appointment = await self._finish(number, "no_show", customer="", actor=actor)
        await self._notify(appointment, "no_show")
        return appointment

    async def set_rating(self, number: str, rating: int) -> Appointment:
        """Record the customer's 1-5 rating of a done visit, once (RatingRefused otherwise)."""
        if not 1 <= rating <= 5:
            raise ValueError("a rating is 1 to 5")
        status = await self._records.rate(number, rating, self._clock())
        if status != "ok":
            raise RatingRefused(status)
        return await self._require(number)

    async def set_comment(self, number: str, text: str) -> None:
        """Keep the customer's comment with their rating (AppointmentNotFound if unknown)."""
        if not await self._records.comment(number, text):
            raise AppointmentNotFound(number)

    # --- Reading --------------------------------------------------------------------------

    async def get(self, number: str) -> Appointment | None:
        """The appointment with this number, contact in clear (None if unreadable)."""
        return await self._records.get(number)

    async def of_customer(self, customer: str) -> list[Appointment]:
        """The customer's appointments: upcoming booked ones first (soonest first), then the
        rest, latest first."""
        numbers = await self._capacity.appointment_numbers(customer, 50)
        appointments = await self._records.get_many(numbers)
        now = self._clock()
        upcoming = sorted(
            (a for a in appointments if a.state == "booked" and a.end > now), key=lambda a: a.start
        )
        rest = sorted((a for a in appointments if a not in upcoming), key=lambda a: -a.start)
        return [*upcoming, *rest]

    # --- Reminders ------------------------------------------------------------------------

    async def send_reminder(self, number: str, start: float) -> bool:
        """Remind the customer of the visit, if it is still booked for that same start."""
        appointment = await self.get(number)
        if appointment is None or appointment.state != "booked":
            return False
        if abs(appointment.start - start) > 1:
            return False
        await self._notify(appointment, REMINDER)
        return True

    async def _on_reminder_job(self, data: str) -> None:
        number, _sep, start = data.partition(" ")
        await self.send_reminder(number, float(start))

    async def _schedule_reminder(self, appointment: Appointment) -> None:
        job = f"{REMINDER}:{appointment.number}"
        due = appointment.start - self._policy.reminder_lead.total_seconds()
        # Booked closer to the visit than the lead: the confirmation is the reminder.
        if due > self._clock():
            await self._scheduler.at(
                due, job, REMINDER, f"{appointment.number} {appointment.start}"
            )
        else:
            await self._scheduler.cancel(job)

    # --- Steps ----------------------------------------------------------------------------

    async def _finish(self, number: str, state: str, *, customer: str, actor: str) -> Appointment:
        now = self._clock()
        status = await self._records.change_state(
            number, state, customer=customer, actor=actor, now=now
        )
        if status == "unknown":
            raise AppointmentNotFound(number)
        if status != "ok":
            raise NotBooked(status)
        appointment = await self._require(number)
        await self._capacity.free_time(appointment.customer, number)
        await self._scheduler.cancel(f"{REMINDER}:{number}")
        return appointment

    async def _own_booked(self, number: str, customer: str) -> Appointment:
        appointment = await self.get(number)
        if appointment is None or appointment.customer != customer:
            raise AppointmentNotFound(number)
        if appointment.state != "booked":
            raise NotBooked(appointment.state)
        return appointment

    async def _require(self, number: str) -> Appointment:
        appointment = await self.get(number)
        if appointment is None:
            raise AppointmentNotFound(number)
        return appointment

    async def _notify(self, appointment: Appointment, kind: str) -> None:
        params = {
            "service": appointment.service,
            "place": appointment.place,
            "window": appointment.window,
            "start": f"{appointment.start:.0f}",
            "end": f"{appointment.end:.0f}",
        }
        to = appointment.conversation or f"{SMS}:{appointment.customer}"
        notice = Notice(
            to, kind, appointment.number, appointment.locale, params, appointment.customer
        )
        # Outbox.publish, not a script of ours: it also wakes this process's outbox worker.
        await self._outbox.publish(notice)
