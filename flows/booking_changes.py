"""Rescheduling and cancelling an appointment in chat, for the booking flow.

Only the customer's own appointment can be changed: one booked in this conversation, or one
of the conversation's verified customer. Any other number gets the same answer as a number
that does not exist, so that trying numbers tells nothing about other customers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.nlu.results import APPOINTMENT_NUMBER
from bot.services.appointments import Appointment, BookingError
from bot.services.booking_rules import Asked
from bot.services.numbers import APPOINTMENT as APPOINTMENT_KIND
from bot.services.numbers import parse_number
from flows.booking_answers import ASKED, NUMBER, PLACE, SERVICE, WINDOW
from flows.booking_slots import entity, read_when
from flows.booking_texts import STATE_NAMES, card_buttons, when_text
from flows.booking_windows import ask_when, now_at
from flows.contact import owns

if TYPE_CHECKING:
    from flows.booking import BookingFlow

_CANCEL_WORDS = ("取消", "退约", "不去了", "cancel", "call off")
_MOVE_WORDS = ("改", "换", "推迟", "提前", "调整", "reschedule", "move", "change", "postpone")


class AppointmentChanges:
    """The reschedule and cancel part of the booking flow (steps and buttons)."""

    steps = frozenset({"which", "act", "cancel"})
    payloads = frozenset({"move", "cancel", "drop", "keep", "appt"})

    def __init__(self, flow: BookingFlow) -> None:
        self.flow = flow

    async def start(self, turn: Turn) -> None:
        """The customer asked to change an appointment (intent change_appointment)."""
        if await self._by_number(turn):
            return
        customer = turn.state.customer
        if customer is None:
            self._ask_number(turn)
            return
        upcoming = [
            a
            for a in await turn.domain.appointments.of_customer(customer)
            if a.state == "booked" and a.start > turn.now()
        ]
        if not upcoming:
            turn.finish()
            turn.say(
                _("You have no upcoming appointments."),
                buttons=[(_("Book an appointment"), "book:start")],
            )
            return
        turn.state.step = "which"
        turn.say(
            _("Which appointment would you like to change?"),
            buttons=[
                (f"{a.number} {when_text(turn, a.window)}", f"book:appt:{a.number}")
                for a in upcoming
            ],
        )

    async def step(self, turn: Turn) -> bool:
        step = turn.state.step
        if step == "which":
            if await self._by_number(turn):
                return True
        elif step == "act":
            if await self._by_words(turn, turn.state.slots.get(NUMBER, "")):
                return True
        elif step == "cancel":
            intent = turn.parse().intent.name
            if intent in ("affirm", "deny"):
                turn.understood()
                number = turn.state.slots.get(NUMBER, "")
                await (self._cancel(turn, number) if intent == "affirm" else self._keep(turn))
                return True
        if not turn.misunderstood():
            await self.ask(turn)
        return False

    async def ask(self, turn: Turn) -> None:
        """Ask the current step's question again."""
        number = turn.state.slots.get(NUMBER)
        if turn.state.step == "which" or number is None:
            self._ask_number(turn)
            return
        appointment = await self._own(turn, number)
        if appointment is None:
            return
        if turn.state.step == "cancel":
            self._ask_cancel(turn, appointment)
        else:
            self._ask_action(turn, appointment)

    async def on_payload(self, turn: Turn, kind: str, number: str) -> bool:
        if kind == "keep":
            if turn.state.flow != self.flow.name or NUMBER not in turn.state.slots:
                return False
            await self._keep(turn)
            return True
        parsed = parse_number(number)
        if parsed is None or not parsed.valid or parsed.kind != APPOINTMENT_KIND:
            return False  # not a number we issued: a forged or mangled button
        number = number.strip().upper()
        appointment = await self._own(turn, number)
        if appointment is None:
            return True
        turn.understood()
        if kind == "drop":
            await self._cancel(turn, number)
        elif kind == "cancel":
            self._take_over(turn, {NUMBER: number})
            self._ask_cancel(turn, appointment)
        elif kind == "move":
            await self._start_move(turn, appointment)
        else:
            self._take_over(turn, {NUMBER: number})
            self._ask_action(turn, appointment)
        return True

    # --- Moving ---------------------------------------------------------------------------

    async def _start_move(
        self, turn: Turn, appointment: Appointment, asked: Asked | None = None
    ) -> None:
        self._take_over(
            turn,
            {NUMBER: appointment.number, SERVICE: appointment.service, PLACE: appointment.place},
        )
        if asked is not None:  # "改到后天下午": the new time is already said
            turn.state.slots[ASKED] = asked.as_slot()
            await self.flow.next(turn)
            return
        await ask_when(
            turn,
            _(
                "Appointment {number} is on {time}. When would you like it instead? "
                "Tell me a day and time, or pick a free window.",
                number=appointment.number,
                time=when_text(turn, appointment.window),
            ),
        )

    async def confirm_move(self, turn: Turn) -> None:
        """The new window is chosen: ask before moving."""
        slots = turn.state.slots
        appointment = await self._own(turn, slots[NUMBER])
        if appointment is None:
            turn.finish()
            return
        turn.state.step = "confirm"
        turn.say(
            _(
                "Move appointment {number} from {old} to {new}?",
                number=appointment.number,
                old=when_text(turn, appointment.window),
                new=when_text(turn, slots[WINDOW]),
            ),
            buttons=[(_("Confirm"), "book:ok"), (_("Change something"), "book:change")],
        )

    async def move(self, turn: Turn) -> None:
        """Move the appointment to the chosen window (the customer confirmed)."""
        slots = turn.state.slots
        appointment = await self._own(turn, slots[NUMBER])
        if appointment is None:
            turn.finish()
            return
        try:
            moved = await turn.domain.appointments.reschedule(
                appointment.number, slots[WINDOW], customer=appointment.customer
            )
        except BookingError as refused:
            await self.flow.refused(turn, refused)
            return
        turn.finish()
        self.flow.show(
            turn,
            moved,
            _(
                "Done: appointment {number} is now on {time}.",
                number=moved.number,
                time=when_text(turn, moved.window),
            ),
        )

    async def gone(self, turn: Turn) -> None:
        """The appointment changed meanwhile (cancelled, done): say so and stop."""
        number = turn.state.slots.get(NUMBER, "")
        turn.finish()
        appointment = await turn.domain.appointments.get(number) if number else None
        if appointment is not None:
            self._not_booked(turn, appointment)
        else:
            turn.say(_("That appointment can no longer be changed."))

    # --- Cancelling -----------------------------------------------------------------------

    def _ask_cancel(self, turn: Turn, appointment: Appointment) -> None:
        turn.state.step = "cancel"
        turn.say(
            _(
                "Cancel appointment {number} on {time}?",
                number=appointment.number,
                time=when_text(turn, appointment.window),
            ),
            buttons=[
                (_("Yes, cancel it"), f"book:drop:{appointment.number}"),
                (_("No, keep it"), "book:keep"),
            ],
        )

    async def _cancel(self, turn: Turn, number: str) -> None:
        appointment = await self._own(turn, number)
        if appointment is None:
            return
        try:
            cancelled = await turn.domain.appointments.cancel(number, customer=appointment.customer)
        except BookingError:
            if turn.state.flow == self.flow.name:
                turn.finish()
            self._not_booked(turn, appointment)
            return
        if turn.state.flow == self.flow.name:
            turn.finish()
        self.flow.show(
            turn,
            cancelled,
            _(
                "Appointment {number} is cancelled. Its time is free for others again.",
                number=number,
            ),
        )

    async def _keep(self, turn: Turn) -> None:
        number = turn.state.slots.get(NUMBER, "")
        turn.finish()
        turn.say(_("All right, appointment {number} stays as it is.", number=number))

    # --- Finding the appointment ------------------------------------------------------------

    async def _by_number(self, turn: Turn) -> bool:
        """Act on the appointment number in the message, if there is one."""
        found = entity(turn.parse().entities, APPOINTMENT_NUMBER)
        if found is None:
            return False
        turn.understood()
        if not found.valid:
            turn.state.step = "which"
            turn.say(
                _(
                    "The appointment number {number} does not look right: its check digit "
                    "does not match, so a character may be mistyped. Please check it.",
                    number=found.value,
                )
            )
            return True
        if await self._by_words(turn, found.value):
            return True
        appointment = await self._own(turn, found.value)
        if appointment is None:
            turn.state.step = "which"  # another number may follow
        else:
            self._take_over(turn, {NUMBER: appointment.number})
            self._ask_action(turn, appointment)
        return True

    async def _by_words(self, turn: Turn, number: str) -> bool:
        """Cancel or move `number` if the message says which; False if it says neither."""
        text = turn.text.casefold()
        asked = read_when(turn.text, turn.parse().entities, now_at(turn), None)
        wants_cancel = any(word in text for word in _CANCEL_WORDS)
        wants_move = asked is not None or any(word in text for word in _MOVE_WORDS)
        if not number or wants_cancel == wants_move:
            return False
        turn.understood()
        appointment = await self._own(turn, number)
        if appointment is None:
            return True
        if wants_cancel:
            self._take_over(turn, {NUMBER: number})
            self._ask_cancel(turn, appointment)
        else:
            await self._start_move(turn, appointment, asked)
        return True

    async def _own(self, turn: Turn, number: str) -> Appointment | None:
        """The appointment if it is this customer's and still booked; else say why not."""
        appointment = await turn.domain.appointments.get(number) if number else None
        mine = appointment is not None and owns(
            turn, appointment.conversation, appointment.customer
        )
        if appointment is None or not mine:
            turn.say(
                _(
                    "I could not find appointment {number} among yours. Please check the number.",
                    number=number,
                )
            )
            return None
        if appointment.state != "booked":
            self._not_booked(turn, appointment)
            return None
        return appointment

    def _not_booked(self, turn: Turn, appointment: Appointment) -> None:
        turn.say(
            _(
                "Appointment {number} is {state} and can no longer be changed.",
                number=appointment.number,
                state=STATE_NAMES.get(appointment.state, Text(appointment.state)),
            )
        )

    def _ask_number(self, turn: Turn) -> None:
        turn.state.step = "which"
        turn.say(_("Which appointment? Please send its number (it starts with A)."))

    def _ask_action(self, turn: Turn, appointment: Appointment) -> None:
        turn.state.step = "act"
        turn.say(
            _(
                "What would you like to do with appointment {number} on {time}?",
                number=appointment.number,
                time=when_text(turn, appointment.window),
            ),
            buttons=card_buttons(appointment.number),
        )

    def _take_over(self, turn: Turn, slots: dict[str, str]) -> None:
        """Make this flow the running one, working on one appointment."""
        turn.state.flow, turn.state.slots = self.flow.name, dict(slots)
