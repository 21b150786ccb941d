"""Booking (预约): a visit from real capacity, and rescheduling or cancelling it in chat.

The flow asks only for what is missing, in this order: service type, place (an area for home
services, a store otherwise), day and time window, contact phone, and the ID number when the
service needs one. A value that is wrong is asked for again with the reason; a full window
offers the nearest free ones. Nothing is booked before the customer confirms a summary.
Rescheduling and cancelling (`book:move:<number>`, `book:cancel:<number>`) are allowed only
for an appointment of this conversation or of its verified customer (DESIGN.md section 4).
"""

from __future__ import annotations

from bot.dialog import Ahead, Early, Turn
from bot.i18n import Text, _
from bot.services.appointments import (
    Appointment,
    AppointmentDraft,
    BookingError,
    NotBookable,
    Overlap,
    WindowFull,
)
from bot.services.booking_rules import Asked
from bot.services.catalog import HOME
from bot.services.visit_texts import ID_REASONS, time_reason
from flows.booking_answers import (
    ASKED,
    CASE,
    GATHERING,
    ID_SLOT,
    NUMBER,
    PHONE_SLOT,
    PLACE,
    SERVICE,
    WINDOW,
    day_slot,
    forget,
    gather,
    set_place,
)
from flows.booking_changes import AppointmentChanges
from flows.booking_slots import read_when
from flows.booking_texts import appointment_card, as_lines, card_buttons, details
from flows.booking_windows import ask_when, choose, now_at, offer_nearest
from flows.contact import owns, verified_phone


class BookingFlow:
    """Book a visit; reschedule or cancel one (intent change_appointment or card buttons)."""

    name = "book"
    intents = frozenset({"book_appointment", "change_appointment"})

    def __init__(self) -> None:
        self.changes = AppointmentChanges(self)

    def menu_entry(self) -> tuple[Text, str] | None:
        return (_("Book an appointment"), "book:start")

    async def start(self, turn: Turn) -> None:
        turn.understood()
        turn.state.flow, turn.state.step, turn.state.slots = self.name, None, {}
        if turn.parse().intent.name == "change_appointment":
            await self.changes.start(turn)
            return
        await self._take(turn, None)
        await self.next(turn)

    def prefetch(self, ahead: Ahead) -> Early | None:
        """Read capacity with the claim: the nearest days of a place chosen by button, or the
        day an answer to "when" names (the place as this process last saved it)."""
        appointments = ahead.domain.appointments
        payload = ahead.inbound.payload
        if payload is not None:
            place = _place_in(payload)
            if place is None or appointments.catalog.place(place) is None:
                return None
            return Early(appointments.read_ahead_near(place, ahead.domain.clock()))
        last = ahead.last
        if last is None or last.mode != "bot" or last.flow != self.name or last.step != "when":
            return None
        place = last.slots.get(PLACE)
        early = ahead.parse()  # the turn reads the time from it too
        if place is None or early.parse is None:
            return early
        asked = read_when(ahead.text, early.parse.entities, ahead.now(), day_slot(last.slots))
        if asked is None:
            return early
        return early.with_read(appointments.read_ahead(place, [asked.day]))

    async def step(self, turn: Turn) -> bool:
        step = turn.state.step
        if step in self.changes.steps:
            return await self.changes.step(turn)
        if step == "confirm":
            return await self._confirm_step(turn)
        used, complained = await self._take(turn, step)
        if not used and not complained:
            if not turn.misunderstood():
                await self.ask(turn, step or "svc")
            return False
        turn.understood()
        if not complained:
            await self.next(turn)
        return True

    async def _take(self, turn: Turn, step: str | None) -> tuple[bool, bool]:
        """Take the message's values; (anything used, a value refused and asked again)."""
        taken = gather(turn, step, now_at(turn))
        for reason, again in taken.refused:
            turn.say(reason)
            await self.ask(turn, again)
        return taken.used, bool(taken.refused)

    async def resume(self, turn: Turn) -> None:
        step = turn.state.step or "svc"
        if step in self.changes.steps:
            await self.changes.ask(turn)
        else:
            await self.next(turn) if step == "confirm" else await self.ask(turn, step)

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        kind, _sep, value = argument.partition(":")
        state = turn.state
        running = state.flow == self.name
        if kind == "start":
            state.flow, state.step, state.slots = self.name, None, {}
            await self.next(turn)
        elif kind == "svc":
            await self._preset(turn, value)
        elif kind in self.changes.payloads:
            return await self.changes.on_payload(turn, kind, value)
        elif not running:
            return False  # a button of a booking that is over
        elif kind == "place" and set_place(turn, value):
            await self.next(turn)
        elif kind == "win" and (window := turn.domain.appointments.catalog.window(value)):
            if window.place != state.slots.get(PLACE):
                return False
            state.slots.pop(WINDOW, None)
            state.slots[ASKED] = Asked(window.day, at=window.start.time()).as_slot()
            await self.next(turn)
        elif kind == "ok" and state.step == "confirm":
            await self._confirmed(turn)
        elif kind == "change":
            await self._change_menu(turn)
        elif kind == "redo" and value in GATHERING:
            forget(turn, value)
            await self.next(turn)
        else:
            return False
        turn.understood()
        return True

    async def _preset(self, turn: Turn, value: str) -> None:
        """Start with a service (and maybe an area and a repair case) chosen by a button."""
        service, _sep, rest = value.partition(":")
        place, _sep, case_number = rest.partition(":")
        state = turn.state
        if state.flow != self.name or NUMBER in state.slots:
            state.flow, state.slots = self.name, {}
        if turn.domain.appointments.catalog.service(service) is not None:
            if state.slots.get(SERVICE) != service:
                state.slots = {k: v for k, v in state.slots.items() if k not in (PLACE, WINDOW)}
            state.slots[SERVICE] = service
        if place:
            set_place(turn, place)
        if case_number:
            case = await turn.domain.cases.get(case_number)
            if case is not None and case.conversation == turn.conversation:
                state.slots[CASE] = case.number
                if case.contact and PHONE_SLOT not in state.slots:
                    state.slots[PHONE_SLOT] = turn.domain.vault.seal(case.contact)
        await self.next(turn)

    # --- Asking -------------------------------------------------------------------------

    async def next(self, turn: Turn) -> None:
        """Ask for the first thing still missing, or for confirmation when nothing is."""
        slots = turn.state.slots
        catalog = turn.domain.appointments.catalog
        service = catalog.service(slots.get(SERVICE, ""))
        if service is None:
            await self.ask(turn, "svc")
        elif PLACE not in slots:
            await self.ask(turn, "place")
        elif WINDOW not in slots and ASKED in slots:
            if await choose(turn, Asked.from_slot(slots.pop(ASKED))):
                await self.next(turn)
        elif WINDOW not in slots:
            await self.ask(turn, "when")
        elif NUMBER in slots:
            await self.changes.confirm_move(turn)
        elif PHONE_SLOT not in slots and not await self._customer_phone(turn):
            await self.ask(turn, "phone")
        elif service.needs_id and ID_SLOT not in slots:
            await self.ask(turn, "idn")
        else:
            if not service.needs_id:
                slots.pop(ID_SLOT, None)  # given unasked: not kept for a service without it
            self._summary(turn)

    async def ask(self, turn: Turn, step: str) -> None:
        """Ask the question of `step`, with buttons where there is a choice."""
        turn.state.step = step
        slots = turn.state.slots
        catalog = turn.domain.appointments.catalog
        locale = turn.state.locale
        if step == "svc":
            turn.say(
                _("Which service would you like to book?"),
                buttons=[(s.name(locale), f"book:svc:{s.id}") for s in catalog.service_types()],
            )
        elif step == "place":
            service = catalog.service(slots.get(SERVICE, ""))
            question = (
                _("Which area should the technician come to?")
                if service is not None and service.at == HOME
                else _("Which store would you like to visit?")
            )
            places = catalog.places(slots.get(SERVICE, ""))
            turn.say(question, buttons=[(p.name(locale), f"book:place:{p.id}") for p in places])
        elif step == "when":
            await ask_when(turn)
        elif step == "phone":
            turn.say(_("Which phone number can we reach you on?"))
        elif step == "idn":
            turn.say(
                _("This service needs your resident ID number (18 characters). Please send it.")
            )
        else:
            await self.next(turn)

    def _summary(self, turn: Turn) -> None:
        turn.state.step = "confirm"
        slots = turn.state.slots
        vault = turn.domain.vault
        fields = details(
            turn,
            service=slots[SERVICE],
            place=slots[PLACE],
            window=slots[WINDOW],
            phone=vault.open(slots[PHONE_SLOT]),
            id_number=vault.open(slots[ID_SLOT]) if ID_SLOT in slots else None,
            case=slots.get(CASE),
        )
        turn.say(
            _(
                "Please check your appointment:\n{details}\nShall I book it?",
                details=as_lines(fields),
            ),
            buttons=[(_("Confirm"), "book:ok"), (_("Change something"), "book:change")],
        )

    async def _change_menu(self, turn: Turn) -> None:
        slots = turn.state.slots
        if NUMBER in slots:
            slots.pop(WINDOW, None)
            await ask_when(turn, _("Which time would you like instead?"))
            return
        service = turn.domain.appointments.catalog.service(slots.get(SERVICE, ""))
        buttons: list[tuple[Text | str, str]] = [
            (_("Service"), "book:redo:svc"),
            (_("Place"), "book:redo:place"),
            (_("Time"), "book:redo:when"),
            (_("Contact phone"), "book:redo:phone"),
        ]
        if service is not None and service.needs_id:
            buttons.append((_("ID number"), "book:redo:idn"))
        turn.say(_("What would you like to change?"), buttons=buttons)

    # --- Confirming and booking -----------------------------------------------------------

    async def _confirm_step(self, turn: Turn) -> bool:
        intent = turn.parse().intent
        if intent.name == "affirm":
            turn.understood()
            await self._confirmed(turn)
            return True
        if intent.name == "deny":
            turn.understood()
            await self._change_menu(turn)
            return True
        used, complained = await self._take(turn, "confirm")
        if used and not complained:
            await self.next(turn)
        if not used and not complained:
            await self.next(turn)
            return False
        return True

    async def _confirmed(self, turn: Turn) -> None:
        if NUMBER in turn.state.slots:
            await self.changes.move(turn)
        else:
            await self._finish_booking(turn)

    async def _finish_booking(self, turn: Turn) -> None:
        slots = turn.state.slots
        vault = turn.domain.vault
        phone = vault.open(slots[PHONE_SLOT])
        customer = turn.state.customer or turn.domain.customers.id_for(phone)
        draft = AppointmentDraft(
            service=slots[SERVICE],
            window=slots[WINDOW],
            customer=customer,
            conversation=turn.conversation,
            locale=turn.state.locale,
            contact=phone,
            id_number=vault.open(slots[ID_SLOT]) if ID_SLOT in slots else None,
            case=slots.get(CASE),
        )
        try:
            appointment = await turn.domain.appointments.book(draft)
        except BookingError as refused:
            await self.refused(turn, refused)
            return
        turn.finish()
        self.show(
            turn,
            appointment,
            _(
                "Booked! Your appointment number is {number}. We will remind you before the visit.",
                number=appointment.number,
            ),
        )

    async def _overlap(self, turn: Turn, existing: str) -> Text:
        """Why the time is taken; the other appointment is named only to its own customer
        (a typed phone is not proof of whose it is)."""
        other = await turn.domain.appointments.get(existing)
        if other is not None and owns(turn, other.conversation, other.customer):
            return _(
                "You already have appointment {number} at that time. Please pick another time.",
                number=existing,
            )
        return _("That phone number already has a visit at that time. Please pick another time.")

    async def refused(self, turn: Turn, refused: BookingError) -> None:
        """Say why a booking or a move was refused, and ask again for what has to change."""
        slots = turn.state.slots
        slots.pop(WINDOW, None)
        if isinstance(refused, WindowFull):
            offer_nearest(turn, refused.nearest)
        elif isinstance(refused, Overlap):
            await ask_when(turn, await self._overlap(turn, refused.existing))
        elif isinstance(refused, NotBookable) and refused.reason in ID_REASONS:
            slots.pop(ID_SLOT, None)
            turn.say(ID_REASONS[refused.reason])
            await self.ask(turn, "idn")
        elif isinstance(refused, NotBookable):
            await ask_when(turn, time_reason(turn.domain.policy, refused.reason))
        else:
            await self.changes.gone(turn)

    def show(self, turn: Turn, appointment: Appointment, text: Text) -> None:
        buttons = card_buttons(appointment.number) if appointment.state == "booked" else []
        turn.say(text, card=appointment_card(turn, appointment), buttons=buttons)

    # --- Helpers --------------------------------------------------------------------------

    async def _customer_phone(self, turn: Turn) -> bool:
        """Use the verified customer's phone as the contact, if there is one (the caller
        goes on to what is still missing)."""
        phone = await verified_phone(turn)
        if phone is None:
            return False
        turn.state.slots[PHONE_SLOT] = turn.domain.vault.seal(phone)
        return True


def _place_in(payload: str) -> str | None:
    """The place a booking button names: "book:place:<place>" or
    "book:svc:<service>:<place>[:<case>]"."""
    flow, _sep, argument = payload.partition(":")
    kind, _sep, value = argument.partition(":")
    if flow != "book":
        return None
    if kind == "place":
        return value
    if kind == "svc":
        return value.partition(":")[2].partition(":")[0] or None
    return None
