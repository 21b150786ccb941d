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

from bot.i18n import Text
from bot.nlu.results import TIME
from bot.services.appointments import Slot
from bot.services.booking_rules import Asked, pick_window, refused_time
from bot.services.visit_texts import (
    FULL,
    WHEN,
    day_label,
    no_window_that_day,
    no_window_then,
    time_reason,
    window_label,
)
from connectors.rasa.call import Button, Call

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
        return await _at(call, service, place, Asked(window.day, window.start.time()))
    asked = _asked_time(call, value)
    if asked is None:
        return Choice(None, WHEN, tuple(await nearest(call, service, place)))
    return await _at(call, service, place, asked)


def _asked_time(call: Call, value: str) -> Asked | None:
    """The day the words name, and the time if they name an hour."""
    nlu = call.parts.engine.services.nlu
    parse = nlu.parse(value, call.language, now=call.local_now())
    found = next((e for e in parse.entities if e.entity == TIME), None)
    if found is None:
        return None
    at = datetime.fromisoformat(found.value).astimezone(call.local_now().tzinfo)
    return Asked(at.date(), at.time() if at.time() != time(0) else None)


async def _at(call: Call, service: str, place: str, asked: Asked) -> Choice:
    policy = call.domain.policy
    reason = refused_time(policy, call.local_now(), asked)
    if reason is not None:
        return Choice(None, time_reason(policy, reason), tuple(await nearest(call, service, place)))
    appointments = call.domain.appointments
    picked = await pick_window(appointments, service, place, asked, offered=OFFERED)
    if picked.window is not None:
        return Choice(picked.window)
    if picked.full_from is not None:
        return Choice(None, FULL, tuple(await nearest(call, service, place, picked.full_from)))
    day = day_label(asked.day, call.language)
    if picked.others:
        return Choice(None, no_window_then(day), picked.others)
    at = datetime.combine(asked.day, asked.at or time(0), call.local_now().tzinfo)
    offers = await nearest(call, service, place, at.timestamp())
    return Choice(None, no_window_that_day(day), tuple(offers))


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
