"""Choosing a visit window from real capacity, for the booking form and rescheduling.

A window id (a button's) or words with a day and time ("明天下午3点", "tomorrow 3pm", read
by Shouwen's own time extractor) pick the window; a time in the past, beyond the booking
horizon or outside service hours is refused with its reason (the policy's limits), and a
full window offers the nearest free ones. Capacity is never judged here: the appointment
service counts it in Redis, and decides again when the visit is booked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from bot.i18n import Text, _
from bot.nlu.results import TIME
from bot.services.appointments import Slot
from connectors.rasa.call import Button, Call
from connectors.rasa.texts import FULL, WHEN, day_label, window_label

# How many windows a question offers as buttons.
OFFERED = 4


@dataclass(frozen=True, slots=True)
class Choice:
    """The window taken, or why none was, with the windows to offer instead."""

    window: str | None
    reason: Text | None = None
    offers: tuple[Slot, ...] = ()


async def nearest(call: Call, service: str, place: str, after: float | None = None) -> list[Slot]:
    """The free windows nearest to `after` (default: now)."""
    appointments = call.domain.appointments
    return await appointments.nearest_free(
        service, place, after=call.now() if after is None else after, limit=OFFERED
    )


async def choose(call: Call, service: str, place: str, value: str) -> Choice:
    """The window `value` names (an id or a day and time) if it is bookable now."""
    window = call.domain.appointments.catalog.window(value.strip())
    if window is not None and window.place == place:
        return await _at(call, service, place, window.start, exact=True)
    asked = _asked_time(call, value)
    if asked is None:
        return Choice(None, WHEN, tuple(await nearest(call, service, place)))
    at, exact = asked
    return await _at(call, service, place, at, exact=exact)


def _asked_time(call: Call, value: str) -> tuple[datetime, bool] | None:
    """The time the words name, and whether they name an hour (else only a day)."""
    nlu = call.parts.engine.services.nlu
    parse = nlu.parse(value, call.language, now=call.local_now())
    found = next((e for e in parse.entities if e.entity == TIME), None)
    if found is None:
        return None
    at = datetime.fromisoformat(found.value).astimezone(call.local_now().tzinfo)
    return at, at.time() != time(0)


async def _at(call: Call, service: str, place: str, at: datetime, *, exact: bool) -> Choice:
    reason = _time_reason(call, at, exact=exact)
    if reason is not None:
        return Choice(None, reason, tuple(await nearest(call, service, place)))
    day = await call.domain.appointments.availability(service, place, at.date())
    fitting = [s for s in day if not exact or s.window.start <= at < s.window.end]
    free = [s for s in fitting if s.free > 0]
    if free:
        return Choice(free[0].window.id)
    if fitting:
        offers = await nearest(call, service, place, fitting[0].window.start.timestamp())
        return Choice(None, FULL, tuple(offers))
    others = tuple(s for s in day if s.free > 0)[:OFFERED]
    label = day_label(at.date(), call.language)
    if others:
        text = _(
            "There is no visit window at that time on {day}. These are free that day:", day=label
        )
        return Choice(None, text, others)
    text = _("There is no free window on {day}. These are the nearest free ones:", day=label)
    return Choice(None, text, tuple(await nearest(call, service, place, at.timestamp())))


def _time_reason(call: Call, at: datetime, *, exact: bool) -> Text | None:
    """Why the policy refuses this time: past, too far ahead, outside service hours."""
    policy = call.domain.policy
    now = call.local_now()
    if at.date() < now.date() or (exact and at <= now):
        return _("That time has already passed. Please pick a time in the future.")
    if (at.date() - now.date()).days > policy.booking_horizon_days:
        return _(
            "We take bookings up to {days} days ahead; that date is too far away.",
            days=policy.booking_horizon_days,
        )
    opens, closes = policy.service_hours
    if exact and not opens <= at.time() < closes:
        return _(
            "That is outside our service hours: visits are between {opens} and {closes}.",
            opens=opens.strftime("%H:%M"),
            closes=closes.strftime("%H:%M"),
        )
    return None


def offer_buttons(call: Call, offers: Sequence[Slot], intent: str, **entities: str) -> list[Button]:
    """Windows as buttons that send `intent` with the window (and `entities`) back to Rasa."""
    return [
        (window_label(s.window, call.language), payload(intent, window=s.window.id, **entities))
        for s in offers
    ]


def payload(intent: str, **entities: str) -> str:
    """A Rasa button payload: "/intent{...entities}" (its NLU is skipped for these)."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False, separators=(',', ':'))}"
