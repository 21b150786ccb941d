"""Which visit window serves the time a customer asks for, by the policy and real capacity.

A day and time in the past, beyond the booking horizon or outside service hours is refused
with its reason; otherwise the first free window that holds the time (or starts in the part
of the day asked for) is taken. The booking flow and the Rasa actions both choose with
this, and each offers the nearest free windows its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from bot.services.appointments import Appointments
from bot.services.capacity import Taken
from bot.services.catalog import Slot, Window
from bot.services.policy import Policy

# Parts of the day, as the windows that start within them (operator time).
PARTS_OF_DAY: dict[str, tuple[time, time]] = {
    "morning": (time(6), time(12)),
    "noon": (time(11), time(14)),
    "afternoon": (time(12), time(18)),
    "evening": (time(18), time(23, 59)),
}


@dataclass(frozen=True, slots=True)
class Asked:
    """When the customer wants the visit: a day, and maybe a time or a part of the day."""

    day: date
    at: time | None = None  # an exact time: the window containing it
    part: str | None = None  # a key of PARTS_OF_DAY: the first free window starting in it

    def as_slot(self) -> dict[str, str]:
        slot = {"d": self.day.strftime("%Y%m%d")}
        if self.at is not None:
            slot["a"] = self.at.strftime("%H%M")
        if self.part is not None:
            slot["p"] = self.part
        return slot

    def fits(self, window: Window) -> bool:
        """Whether `window` is what was asked for: it holds the time, or starts in the part."""
        start, end = window.start.time(), window.end.time()
        if self.at is not None:
            return start <= self.at < end
        if self.part is not None:
            first, last = PARTS_OF_DAY[self.part]
            return first <= start < last
        return True

    @classmethod
    def from_slot(cls, slot: dict[str, str]) -> Asked:
        at = time.fromisoformat(slot["a"]) if "a" in slot else None
        return cls(date.fromisoformat(slot["d"]), at, slot.get("p"))


@dataclass(frozen=True, slots=True)
class Pick:
    """The free window taken; else where to look for others: after the start of the full
    window asked for (`full_from`), or the day's free windows (`others`, maybe none)."""

    window: str | None = None
    full_from: float | None = None
    others: tuple[Slot, ...] = ()


def refused_time(policy: Policy, now: datetime, asked: Asked) -> str | None:
    """Why the policy refuses the time asked for ("past", "too_far", "outside_hours");
    `now` is in the operator's zone."""
    opens, closes = policy.service_hours
    if asked.day < now.date() or (
        asked.at is not None and datetime.combine(asked.day, asked.at, now.tzinfo) <= now
    ):
        return "past"
    if (asked.day - now.date()).days > policy.booking_horizon_days:
        return "too_far"
    if asked.at is not None and not opens <= asked.at < closes:
        return "outside_hours"
    return None


async def pick_window(
    appointments: Appointments,
    service: str,
    place: str,
    asked: Asked,
    *,
    offered: int,
    known: Taken | None = None,
) -> Pick:
    """The first free window that is what was asked for, else where the offers come from
    (at most `offered` of the day's free windows); `known` is what was read ahead."""
    day = await appointments.availability(service, place, asked.day, known)
    fitting = [slot for slot in day if asked.fits(slot.window)]
    free = [slot for slot in fitting if slot.free > 0]
    if free:
        return Pick(window=free[0].window.id)
    if fitting:
        return Pick(full_from=fitting[0].window.start.timestamp())
    return Pick(others=tuple(slot for slot in day if slot.free > 0)[:offered])
