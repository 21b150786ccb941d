"""What customers are told while booking a visit, on every channel: why a phone, an ID
number or a time is refused, the question for a time, and how days and windows read.

The booking flow and the Rasa actions say these with the very same msgids.
"""

from __future__ import annotations

import functools
from datetime import date

from babel.dates import format_skeleton

from bot.i18n import Text, _
from bot.services.catalog import Window
from bot.services.policy import Policy

PHONE_REASONS: dict[str, Text] = {
    "letters": _("A phone number has only digits, and this one has letters in it."),
    "length": _("A mobile number has 11 digits; please check how many you typed."),
    "invalid": _("That is not a valid phone number."),
}
ID_REASONS: dict[str, Text] = {
    "checksum": _(
        "That ID number's last character (its check digit) does not match the rest, "
        "so a character may be mistyped."
    ),
    "length": _("A resident ID number has 18 characters."),
    "invalid": _("That is not a valid resident ID number."),
    "id_required": _("This service needs your resident ID number."),
    "id_invalid": _("That is not a valid resident ID number."),
}
WHEN = _(
    "When would you like it? Tell me a day and time, for example "
    "“tomorrow 3pm”, or pick one of the nearest free windows."
)
FULL = _("Sorry, that window is full. These are the nearest free windows:")


def time_reason(policy: Policy, reason: str) -> Text:
    """Why a day or time cannot be booked (a `refused_time` reason), with the limits."""
    if reason == "past":
        return _("That time has already passed. Please pick a time in the future.")
    if reason == "too_far":
        return _(
            "We take bookings up to {days} days ahead; that date is too far away.",
            days=policy.booking_horizon_days,
        )
    if reason == "outside_hours":
        opens, closes = policy.service_hours
        return _(
            "That is outside our service hours: visits are between {opens} and {closes}.",
            opens=opens.strftime("%H:%M"),
            closes=closes.strftime("%H:%M"),
        )
    return _("That time cannot be booked.")


def no_window_then(day: str) -> Text:
    """Nothing at the time asked for; the day's free windows follow."""
    return _("There is no visit window at that time on {day}. These are free that day:", day=day)


def no_window_that_day(day: str) -> Text:
    """Nothing free on the day asked for; the nearest free windows follow."""
    return _("There is no free window on {day}. These are the nearest free ones:", day=day)


@functools.lru_cache(maxsize=1024)  # Babel's skeleton formatting is slow; days repeat
def day_label(day: date, locale: str) -> str:
    """A day as customers read it: "3月3日周二" / "Tue, Mar 3"."""
    return format_skeleton("MMMEd", day, locale="en_US" if locale == "en" else "zh_Hans_CN")


@functools.lru_cache(maxsize=4096)  # strftime of aware times is slow; offers repeat
def window_label(window: Window, locale: str) -> str:
    """A window: "3月3日周二 09:00–11:00" / "Tue, Mar 3 09:00–11:00"."""
    return f"{day_label(window.day, locale)} {window.start:%H:%M}–{window.end:%H:%M}"
