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
from flows.booking_answers import DAY, PLACE, SERVICE, WINDOW
from flows.booking_slots import Asked
from flows.booking_texts import day_label, time_reason, window_buttons

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
    if question is None:
        question = _(
            "When would you like it? Tell me a day and time, for example "
            "“tomorrow 3pm”, or pick one of the nearest free windows."
        )
    turn.say(question, buttons=window_buttons(turn, nearest))


async def choose(turn: Turn, asked: Asked) -> bool:
    """Take the window the customer asked for; False when it said why not and offered others."""
    slots = turn.state.slots
    now = now_at(turn)
    policy = turn.domain.policy
    opens, closes = policy.service_hours
    reason = None
    if asked.day < now.date() or (
        asked.at is not None and datetime.combine(asked.day, asked.at, now.tzinfo) <= now
    ):
        reason = "past"
    elif (asked.day - now.date()).days > policy.booking_horizon_days:
        reason = "too_far"
    elif asked.at is not None and not opens <= asked.at < closes:
        reason = "outside_hours"
    if reason is not None:
        await ask_when(turn, time_reason(turn, reason))
        return False
    slots[DAY] = asked.day.strftime("%Y%m%d")
    appointments = turn.domain.appointments
    known = await taken_ahead(turn)
    day = await appointments.availability(slots[SERVICE], slots[PLACE], asked.day, known)
    fitting = [slot for slot in day if asked.fits(slot.window)]
    free = [slot for slot in fitting if slot.free > 0]
    if free:
        slots[WINDOW] = free[0].window.id
        return True
    if fitting:
        start = fitting[0].window.start.timestamp()
        nearest = await appointments.nearest_free(
            slots[SERVICE], slots[PLACE], after=start, limit=OFFERED, known=known
        )
        offer_nearest(turn, nearest)
        return False
    others = [slot for slot in day if slot.free > 0][:OFFERED]
    if others:
        turn.state.step = "when"
        turn.say(
            _(
                "There is no visit window at that time on {day}. These are free that day:",
                day=day_label(asked.day, turn.state.locale),
            ),
            buttons=window_buttons(turn, others),
        )
        return False
    await ask_when(
        turn,
        _(
            "There is no free window on {day}. These are the nearest free ones:",
            day=day_label(asked.day, turn.state.locale),
        ),
    )
    return False


def offer_nearest(turn: Turn, nearest: Sequence[Slot]) -> None:
    """The window asked for is full: offer the nearest free ones."""
    turn.state.step = "when"
    if nearest:
        turn.say(
            _("Sorry, that window is full. These are the nearest free windows:"),
            buttons=window_buttons(turn, nearest),
        )
    else:
        turn.say(
            _("Sorry, that window is full, and nothing nearby is free. Please try another day.")
        )
