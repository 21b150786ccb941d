"""Choosing a booking window from real capacity: the time asked for, or the nearest free ones.

A day and time the customer asks for is refused with its reason when it is in the past,
beyond the booking horizon or outside service hours (the policy); otherwise the first free
window that holds the time (or starts in the part of the day asked for) is taken. A full
window offers the nearest free windows as buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.services.appointments import Slot, Taken, TakenAhead
from bot.services.booking_rules import Asked, pick_window, refused_time
from bot.services.visit_texts import (
    FULL,
    WHEN,
    day_label,
    no_window_that_day,
    no_window_then,
    time_reason,
)
from flows.booking_answers import DAY, PLACE, SERVICE, WINDOW
from flows.booking_texts import window_buttons

# How many windows a question offers as buttons.
OFFERED = 4


def now_at(turn: Turn) -> datetime:
    """The turn's time in the operator's zone."""
    return datetime.fromtimestamp(turn.now(), ZoneInfo(turn.services.settings.timezone))


async def taken_ahead(turn: Turn) -> Taken | None:
    """What the booking's prefetch read with the claim (BookingFlow.prefetch), if anything:
    the offers may come from it, and what it did not read is read as usual."""
    early = turn.early
    if early is None or not isinstance(early.read, TakenAhead):
        return None
    return await early.read.result()


async def ask_when(turn: Turn, question: Text | None = None) -> None:
    """Ask for a day and time, offering the nearest free windows."""
    turn.state.step = "when"
    slots = turn.state.slots
    nearest = await turn.domain.appointments.nearest_free(
        slots[SERVICE], slots[PLACE], after=turn.now(), limit=OFFERED, known=await taken_ahead(turn)
    )
    turn.say(question or WHEN, buttons=window_buttons(turn, nearest))


async def choose(turn: Turn, asked: Asked) -> bool:
    """Take the window the customer asked for; False when it said why not and offered others."""
    slots = turn.state.slots
    reason = refused_time(turn.domain.policy, now_at(turn), asked)
    if reason is not None:
        await ask_when(turn, time_reason(turn.domain.policy, reason))
        return False
    slots[DAY] = asked.day.strftime("%Y%m%d")
    appointments = turn.domain.appointments
    known = await taken_ahead(turn)
    picked = await pick_window(
        appointments, slots[SERVICE], slots[PLACE], asked, offered=OFFERED, known=known
    )
    if picked.window is not None:
        slots[WINDOW] = picked.window
        return True
    day = day_label(asked.day, turn.state.locale)
    if picked.full_from is not None:
        nearest = await appointments.nearest_free(
            slots[SERVICE], slots[PLACE], after=picked.full_from, limit=OFFERED, known=known
        )
        offer_nearest(turn, nearest)
    elif picked.others:
        turn.state.step = "when"
        turn.say(no_window_then(day), buttons=window_buttons(turn, picked.others))
    else:
        await ask_when(turn, no_window_that_day(day))
    return False


def offer_nearest(turn: Turn, nearest: Sequence[Slot]) -> None:
    """The window asked for is full: offer the nearest free ones."""
    turn.state.step = "when"
    if nearest:
        turn.say(
            FULL,
            buttons=window_buttons(turn, nearest),
        )
    else:
        turn.say(
            _("Sorry, that window is full, and nothing nearby is free. Please try another day.")
        )
