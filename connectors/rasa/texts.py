"""What the Rasa actions say: names and reasons, and how times and windows read.

Connectors may not import flows/ (DESIGN.md section 2), so the few names the flows also use
are declared here again with the very same msgids: the catalogs translate both at once.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

from babel.dates import format_skeleton

from bot.i18n import Text, _
from bot.services.case_records import Case
from bot.services.catalog import Window

KIND_NAMES: dict[str, Text] = {
    "fault": _("Fault repair"),
    "complaint": _("Complaint"),
    "callback": _("Supervisor callback"),
    "feedback": _("Feedback"),
    "inquiry": _("Enquiry"),
}
CATEGORY_NAMES: dict[str, Text] = {
    "network": _("Network quality"),
    "billing": _("Billing dispute"),
    "attitude": _("Service attitude"),
    "unfixed": _("Fault not fixed"),
    "marketing": _("Unwanted marketing"),
    "privacy": _("Personal information"),
}
GRADE_NAMES: dict[str, Text] = {
    "urgent": _("urgent"),
    "ordinary": _("ordinary"),
    "complex": _("complex"),
}
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
# Why a form's value is not taken; the form's own question, with its buttons, follows.
UNKNOWN_SERVICE = _("Sorry, I do not know that service.")
UNKNOWN_PLACE = _("Sorry, that is not one of the places for this service.")
UNKNOWN_CATEGORY = _("Sorry, I could not tell what the complaint is about.")
SHORT_DESCRIPTION = _("Please tell me in a few sentences what happened.")
WHEN = _(
    "When would you like it? Tell me a day and time, for example "
    "“tomorrow 3pm”, or pick one of the nearest free windows."
)
FULL = _("Sorry, that window is full. These are the nearest free windows:")
TRY_AGAIN = _("Sorry, something went wrong. Please try again shortly.")
# States in which nothing more is promised.
_DONE = frozenset({"resolved", "closed"})


def moment(epoch: float) -> datetime:
    """An epoch time as an aware datetime, formatted by the catalogs in the operator's zone."""
    return datetime.fromtimestamp(epoch, UTC)


def next_due(case: Case, now: float) -> float | None:
    """The promise the customer waits for: the first still ahead, else the last one missed."""
    if case.state in _DONE or not case.due:
        return None
    times = sorted(case.due.values())
    return next((t for t in times if t >= now), times[-1])


def hours(seconds: float) -> float:
    """Hours as promised: 24, or 1.5 for 90 minutes (never rounded up)."""
    value = seconds / 3600
    return int(value) if value.is_integer() else round(value, 2)


@functools.lru_cache(maxsize=1024)  # Babel's skeleton formatting is slow; days repeat
def day_label(day: date, language: str) -> str:
    """A day as customers read it: "3月3日周二" / "Tue, Mar 3"."""
    return format_skeleton("MMMEd", day, locale="en_US" if language == "en" else "zh_Hans_CN")


def window_label(window: Window, language: str) -> str:
    """A window: "3月3日周二 09:00–11:00" / "Tue, Mar 3 09:00–11:00"."""
    return f"{day_label(window.day, language)} {window.start:%H:%M}–{window.end:%H:%M}"
