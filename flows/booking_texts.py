"""What the booking flow shows: window buttons, the summary and the appointment card (the
reasons a value is refused, shared with the Rasa actions, are in bot/services/visit_texts.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.messages import Card, CardField
from bot.services.appointments import Appointment, Slot
from bot.services.catalog import pick
from bot.services.vault import mask_id, mask_phone
from bot.services.visit_texts import window_label

STATE_NAMES: dict[str, Text] = {
    "booked": _("Booked"),
    "cancelled": _("Cancelled"),
    "done": _("Visit done"),
    "no_show": _("Missed"),
}


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
