"""What the booking flow shows: reasons a value is refused, the summary and the appointment card."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date

from babel.dates import format_skeleton

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.messages import Card, CardField
from bot.services.appointments import Appointment, Slot
from bot.services.catalog import Window, pick
from bot.services.vault import mask_id, mask_phone

STATE_NAMES: dict[str, Text] = {
    "booked": _("Booked"),
    "cancelled": _("Cancelled"),
    "done": _("Visit done"),
    "no_show": _("Missed"),
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


def time_reason(turn: Turn, reason: str) -> Text:
    """Why a day or time cannot be booked, with the limits that apply."""
    policy = turn.domain.policy
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


@functools.lru_cache(maxsize=1024)  # Babel's skeleton formatting is slow; days repeat
def day_label(day: date, locale: str) -> str:
    """A day as customers read it: "3月3日周二" / "Tue, Mar 3"."""
    return format_skeleton("MMMEd", day, locale="en_US" if locale == "en" else "zh_Hans_CN")


@functools.lru_cache(maxsize=4096)  # strftime of aware times is slow; offers repeat
def window_label(window: Window, locale: str) -> str:
    """A window: "3月3日周二 09:00–11:00" / "Tue, Mar 3 09:00–11:00"."""
    return f"{day_label(window.day, locale)} {window.start:%H:%M}–{window.end:%H:%M}"


def window_buttons(turn: Turn, slots: Sequence[Slot]) -> list[tuple[Text | str, str]]:
    return [(window_label(s.window, turn.state.locale), f"book:win:{s.window.id}") for s in slots]


def place_text(turn: Turn, place_id: str, *, address: bool = False) -> str:
    place = turn.domain.appointments.catalog.place(place_id)
    if place is None:
        return place_id
    name = place.name(turn.state.locale)
    if address and place.address:
        return f"{name} ({pick(place.address, turn.state.locale)})"
    return name


def service_text(turn: Turn, service_id: str) -> str:
    service = turn.domain.appointments.catalog.service(service_id)
    return service.name(turn.state.locale) if service is not None else service_id


def when_text(turn: Turn, window_id: str) -> str:
    window = turn.domain.appointments.catalog.window(window_id)
    return window_label(window, turn.state.locale) if window is not None else window_id


def details(
    turn: Turn,
    *,
    service: str,
    place: str,
    window: str,
    phone: str | None,
    id_number: str | None = None,
    case: str | None = None,
) -> tuple[CardField, ...]:
    """The lines of a summary or card; personal data masked."""
    rows: list[tuple[Text, str]] = [
        (_("Service"), service_text(turn, service)),
        (_("Place"), place_text(turn, place, address=True)),
        (_("Time"), when_text(turn, window)),
    ]
    if phone:
        rows.append((_("Contact phone"), mask_phone(phone)))
    if id_number:
        rows.append((_("ID number"), mask_id(id_number)))
    if case:
        rows.append((_("Repair case"), case))
    return tuple(CardField(turn.render(label), value) for label, value in rows)


def as_lines(fields: Sequence[CardField]) -> str:
    return "\n".join(f"{f.label}: {f.value}" for f in fields)


def appointment_card(turn: Turn, appointment: Appointment) -> Card:
    """The appointment as a card: number, state, service, place, time and masked phone."""
    return Card(
        kind="appointment",
        title=turn.render(_("Appointment")),
        number=appointment.number,
        status=turn.render(STATE_NAMES.get(appointment.state, _("Booked"))),
        fields=details(
            turn,
            service=appointment.service,
            place=appointment.place,
            window=appointment.window,
            phone=appointment.contact,
            case=appointment.case,
        ),
    )


def card_buttons(number: str) -> list[tuple[Text | str, str]]:
    """What can be done with a booked appointment, from its card."""
    return [
        (_("Reschedule"), f"book:move:{number}"),
        (_("Cancel appointment"), f"book:cancel:{number}"),
    ]
