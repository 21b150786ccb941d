"""Booking a visit from a Rasa assistant: the form's slots checked against the catalog and
real capacity, then the booking itself, by the appointment service (which decides capacity
and double bookings again, atomically).

`shouwen_booking_form` asks for service, place, window, phone and, where the business needs
it, the ID number (GB 11643, check digit included). A value that will not do is cleared
(slot None) with a response saying why; a full window offers the nearest free ones as
buttons, and so does a window that filled up between the form and the booking.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.forms import FormValidationAction

from bot.i18n import Text, _
from bot.services.answer_checks import match_place
from bot.services.appointments import (
    AppointmentDraft,
    BookingError,
    NotBookable,
    Overlap,
    WindowFull,
)
from bot.services.visit_texts import FULL, ID_REASONS, WHEN
from connectors.edges import EdgeParts
from connectors.rasa.actions.base import Event, ShouwenAction
from connectors.rasa.answers import read_id, read_phone, service_of
from connectors.rasa.call import (
    APPOINTMENT_NUMBER,
    CASE_NUMBER,
    ID_NUMBER,
    PHONE,
    PLACE,
    SERVICE,
    VERIFIED_PHONE,
    WINDOW,
    Call,
)
from connectors.rasa.texts import UNKNOWN_PLACE, UNKNOWN_SERVICE
from connectors.rasa.windows import Choice, choose, nearest, offer_buttons

BOOKING_FORM = "shouwen_booking_form"
Slots = dict[str, Any]


def say_choice(call: Call, choice: Choice, intent: str = "inform", **entities: str) -> None:
    """Why the window is not taken, with the windows to pick instead."""
    if choice.reason is not None:
        call.say(choice.reason, buttons=offer_buttons(call, choice.offers, intent, **entities))


def chosen(call: Call) -> tuple[str | None, str | None]:
    """The service and place the slots name (ids, or words the form has not checked yet:
    several values in one message are validated one after the other)."""
    catalog = call.domain.appointments.catalog
    service = service_of(call.slot(SERVICE) or "", catalog.service_types())
    place = match_place(call.slot(PLACE) or "", catalog.places(service)) if service else None
    return service, place


class ValidateShouwenBookingForm(FormValidationAction):  # type: ignore[misc]  # untyped rasa-sdk
    """Checks each slot of the booking form as the user gives it."""

    def __init__(self, parts: EdgeParts) -> None:
        self.parts = parts

    def name(self) -> str:
        return f"validate_{BOOKING_FORM}"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: Any, tracker: Any, domain: Any
    ) -> list[str]:
        """The ID number only where the service needs it; no phone once one is verified."""
        call = Call(self.parts, dispatcher, tracker)
        catalog = call.domain.appointments.catalog
        service = catalog.service(chosen(call)[0] or "")
        skip = {PHONE} if call.slot(VERIFIED_PHONE) else set()
        if service is not None and not service.needs_id:
            skip.add(ID_NUMBER)
        return [slot for slot in domain_slots if slot not in skip]

    async def validate_service(
        self, value: Any, dispatcher: Any, tracker: Any, domain: Any
    ) -> Slots:
        call = Call(self.parts, dispatcher, tracker)
        catalog = call.domain.appointments.catalog
        service = service_of(str(value or ""), catalog.service_types())
        if service is None:
            call.say(UNKNOWN_SERVICE)
            return {SERVICE: None}
        slots: Slots = {SERVICE: service}
        place = call.slot(PLACE)
        if place is not None and match_place(place, catalog.places(service)) is None:
            slots.update({PLACE: None, WINDOW: None})  # the place of another kind of service
        return slots

    async def validate_place(self, value: Any, dispatcher: Any, tracker: Any, domain: Any) -> Slots:
        call = Call(self.parts, dispatcher, tracker)
        service = chosen(call)[0]
        if service is None:
            return {PLACE: None}  # asked again once the service is known
        place = match_place(str(value or ""), call.domain.appointments.catalog.places(service))
        if place is None:
            call.say(UNKNOWN_PLACE)
        return {PLACE: place}

    async def validate_window(
        self, value: Any, dispatcher: Any, tracker: Any, domain: Any
    ) -> Slots:
        call = Call(self.parts, dispatcher, tracker)
        service, place = chosen(call)
        if service is None or place is None:
            return {WINDOW: None}
        choice = await choose(call, service, place, str(value or ""))
        say_choice(call, choice)
        return {WINDOW: choice.window}

    async def validate_phone(self, value: Any, dispatcher: Any, tracker: Any, domain: Any) -> Slots:
        return self._read(PHONE, read_phone(str(value or "")), dispatcher, tracker)

    async def validate_id_number(
        self, value: Any, dispatcher: Any, tracker: Any, domain: Any
    ) -> Slots:
        return self._read(ID_NUMBER, read_id(str(value or "")), dispatcher, tracker)

    def _read(self, slot: str, read: str | Text, dispatcher: Any, tracker: Any) -> Slots:
        """The slot set to the value read; or cleared, saying why the value will not do."""
        if isinstance(read, str):
            return {slot: read}
        Call(self.parts, dispatcher, tracker).say(read)
        return {slot: None}


class ActionAskWindow(ShouwenAction):
    """The form's question for the window, with the nearest free windows as buttons; said
    only once a turn (a refused time has just offered its own)."""

    action_name = "action_ask_window"

    async def act(self, call: Call) -> list[Event]:
        service, place = chosen(call)
        if service is None or place is None or _window_just_refused(call.tracker.events):
            return []
        offers = await nearest(call, service, place)
        call.say(WHEN, buttons=offer_buttons(call, offers, "inform"))
        return []


def _window_just_refused(events: Any) -> bool:
    """Whether, since the user last spoke, the window was cleared with a reason said."""
    cleared = said = False
    for event in reversed(events if isinstance(events, list) else []):
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "user":
            break
        cleared |= kind == "slot" and event.get("name") == WINDOW and event.get("value") is None
        said |= kind == "bot"
    return cleared and said


class ActionShouwenBook(ShouwenAction):
    """Books what the form gathered; a window taken meanwhile sends the form back to it."""

    action_name = "action_shouwen_book"

    async def act(self, call: Call) -> list[Event]:
        (service, place), window = chosen(call), call.slot(WINDOW)
        phone = await call.verified_phone() or read_phone(call.slot(PHONE) or "")
        if service is None or place is None or window is None:
            return [FollowupAction(BOOKING_FORM)]
        if not isinstance(phone, str):
            call.say(phone)
            return [SlotSet(PHONE, None), FollowupAction(BOOKING_FORM)]
        domain = call.domain
        draft = AppointmentDraft(
            service=service,
            window=window,
            customer=await call.customer() or domain.customers.id_for(phone),
            conversation=call.conversation,
            locale=call.language,
            contact=phone,
            id_number=call.slot(ID_NUMBER),
            case=await self._repair_case(call, service),
        )
        try:
            booked = await domain.appointments.book(draft)
        except BookingError as refused:
            return await self._refused(call, refused)
        call.say(
            _(
                "Booked! Your appointment number is {number}. We will remind you before the visit.",
                number=booked.number,
            )
        )
        # The ID number is not kept in the assistant once the booking has it (sealed).
        forget = [SlotSet(slot, None) for slot in (SERVICE, PLACE, WINDOW, ID_NUMBER)]
        return [SlotSet(APPOINTMENT_NUMBER, booked.number), *forget]

    @staticmethod
    async def _repair_case(call: Call, service: str) -> str | None:
        """The fault case this conversation reported, for an on-site repair visit."""
        number = call.slot(CASE_NUMBER)
        case = (
            await call.domain.cases.get(number) if number and service == "onsite_repair" else None
        )
        if case is None or case.kind != "fault" or case.conversation != call.conversation:
            return None
        return case.number

    @staticmethod
    async def _refused(call: Call, refused: BookingError) -> list[Event]:
        if isinstance(refused, WindowFull):
            say_choice(call, Choice(None, FULL, refused.nearest))
        elif isinstance(refused, Overlap):
            call.say(
                _("That phone number already has a visit at that time. Please pick another time.")
            )
        elif isinstance(refused, NotBookable) and refused.reason in ID_REASONS:
            call.say(ID_REASONS[refused.reason])
            return [SlotSet(ID_NUMBER, None), FollowupAction(BOOKING_FORM)]
        else:
            call.say(_("That time cannot be booked."))
        return [SlotSet(WINDOW, None), FollowupAction(BOOKING_FORM)]
