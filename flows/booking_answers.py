"""Taking a customer's booking answers into the flow's slots.

One message may answer several questions at once ("明天下午3点上门维修，电话13800138000"):
every value found is taken, whatever was asked. A value refused (a phone with letters, an ID
number with a wrong check digit) comes back with its reason and the step to ask again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.dialog import Turn
from bot.i18n import Text
from bot.nlu.results import ID_NUMBER, PHONE
from bot.services.answer_checks import match_place
from bot.services.visit_texts import ID_REASONS, PHONE_REASONS
from flows.booking_slots import entity, match_service, read_id, read_phone, read_when

# Slot keys (the state is saved every turn: short keys keep it small). Phone and ID number
# are kept sealed by the vault, never in clear.
SERVICE, PLACE, WINDOW, ASKED, DAY = "svc", "pl", "w", "t", "d"
PHONE_SLOT, ID_SLOT, CASE, NUMBER = "ph", "id", "c", "n"
# The questions of a booking, in the order they are asked; what each one forgets when redone.
GATHERING: dict[str, tuple[str, ...]] = {
    "svc": (SERVICE, PLACE, WINDOW),
    "place": (PLACE, WINDOW),
    "when": (WINDOW, ASKED, DAY),
    "phone": (PHONE_SLOT,),
    "idn": (ID_SLOT,),
}


@dataclass(slots=True)
class Taken:
    """What a message gave: whether any value was used, and each refusal (reason, step)."""

    used: bool = False
    refused: list[tuple[Text, str]] = field(default_factory=list)


def gather(turn: Turn, step: str | None, now: datetime) -> Taken:
    """Take every value the message gives; `step` is the question it answers (None: opening)."""
    slots = turn.state.slots
    taken = Taken()
    if NUMBER not in slots:  # moving an appointment keeps its service and place
        _what_and_where(turn, step, taken)
    asked = read_when(turn.text, turn.parse().entities, now, day_slot(slots))
    if asked is not None:
        slots.pop(WINDOW, None)
        slots[ASKED] = asked.as_slot()
        taken.used = True
    if NUMBER not in slots:
        _phone(turn, step, taken)
        _id_number(turn, step, taken)
    return taken


def _what_and_where(turn: Turn, step: str | None, taken: Taken) -> None:
    slots = turn.state.slots
    catalog = turn.domain.appointments.catalog
    if step in (None, "svc"):
        service = match_service(turn.text, catalog.service_types())
        if service is not None:
            if service != slots.get(SERVICE):
                forget(turn, "svc")
            slots[SERVICE] = service
            taken.used = True
    if step in (None, "svc", "place") and SERVICE in slots:
        place = match_place(turn.text, catalog.places(slots[SERVICE]))
        if place is not None and set_place(turn, place):
            taken.used = True


def _phone(turn: Turn, step: str | None, taken: Taken) -> None:
    entities = turn.parse().entities
    if step == "phone":
        phone = read_phone(turn.text, entities)
    elif (found := entity(entities, PHONE)) is not None:
        phone = read_phone(found.value, ())
    else:
        return
    if phone.value is not None:
        turn.state.slots[PHONE_SLOT] = turn.domain.vault.seal(phone.value)
        taken.used = True
    elif phone.reason is not None:
        taken.refused.append((PHONE_REASONS[phone.reason], "phone"))


def _id_number(turn: Turn, step: str | None, taken: Taken) -> None:
    entities = turn.parse().entities
    if step != "idn" and entity(entities, ID_NUMBER) is None:
        return
    number = read_id(turn.text, entities)
    if number.value is not None:
        turn.state.slots[ID_SLOT] = turn.domain.vault.seal(number.value)
        taken.used = True
    elif number.reason is not None:
        taken.refused.append((ID_REASONS[number.reason], "idn"))


def set_place(turn: Turn, place: str) -> bool:
    """Take `place` if the chosen service is offered there; a new place drops the window."""
    slots = turn.state.slots
    places = turn.domain.appointments.catalog.places(slots.get(SERVICE, ""))
    if all(p.id != place for p in places):
        return False
    if slots.get(PLACE) != place:
        slots.pop(WINDOW, None)
    slots[PLACE] = place
    return True


def forget(turn: Turn, step: str) -> None:
    """Drop the answer to `step` and what depends on it, so that it is asked again."""
    for key in GATHERING[step]:
        turn.state.slots.pop(key, None)


def day_slot(slots: Mapping[str, Any]) -> date | None:
    """The day last asked for, which a time alone ("3pm") refers to."""
    raw = slots.get(DAY)
    return date.fromisoformat(raw) if raw else None
