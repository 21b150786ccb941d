"""Rescheduling and cancelling an appointment from a Rasa assistant.

Only the owner's appointment changes (the Rasa conversation that booked it, or its verified
customer); any other number gets the answer an unknown one gets. The new window comes from
real capacity like a booking's; the appointment service moves it in one atomic decision.
"""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from bot.i18n import _
from bot.services.appointments import Appointment, BookingError, Overlap, WindowFull
from bot.services.notices import STATES
from bot.services.visit_texts import FULL, WHEN, window_label
from connectors.rasa.actions.base import Event, ShouwenAction
from connectors.rasa.answers import number_in
from connectors.rasa.call import APPOINTMENT_NUMBER, WINDOW, Call
from connectors.rasa.windows import Choice, choose, offer_buttons

RESCHEDULE_INTENT = "change_appointment"


async def own_booked(call: Call) -> Appointment | None:
    """The booked appointment the user named (or last booked), if it is theirs; else why."""
    named = [call.entity(APPOINTMENT_NUMBER), call.text, call.slot(APPOINTMENT_NUMBER)]
    found = number_in(named, "A")
    if found is None:
        call.say(_("Which appointment? Please send its number (it starts with A)."))
        return None
    number, valid = found
    appointment = await call.domain.appointments.get(number) if valid else None
    if appointment is None or not await call.owns(appointment.conversation, appointment.customer):
        call.say(
            _(
                "I could not find appointment {number} among yours. Please check the number.",
                number=number,
            )
        )
        return None
    if appointment.state != "booked":
        call.say(
            _(
                "Appointment {number} is {state} and can no longer be changed.",
                number=number,
                state=STATES.get(appointment.state, _("updated")),
            )
        )
        return None
    return appointment


class ActionShouwenReschedule(ShouwenAction):
    """Moves the user's appointment to the window they name (slot or entity `window`, or a
    day and time in their message); without one, offers the nearest free windows."""

    action_name = "action_shouwen_reschedule"

    async def act(self, call: Call) -> list[Event]:
        appointment = await own_booked(call)
        if appointment is None:
            return []
        number = appointment.number
        events = [SlotSet(APPOINTMENT_NUMBER, number), SlotSet(WINDOW, None)]
        wanted = call.entity(WINDOW) or call.slot(WINDOW) or call.words
        choice = await choose(call, appointment.service, appointment.place, wanted)
        if choice.window is None:
            self._offer(call, appointment, choice)
            return events
        try:
            moved = await call.domain.appointments.reschedule(
                number, choice.window, customer=appointment.customer
            )
        except WindowFull as full:  # taken in the meantime
            self._offer(call, appointment, Choice(None, FULL, full.nearest))
            return events
        except Overlap as overlap:  # the same customer's other visit: theirs to be told of
            call.say(
                _(
                    "You already have appointment {number} at that time. Please pick another time.",
                    number=overlap.existing,
                )
            )
            return events
        except BookingError:
            call.say(_("That appointment can no longer be changed."))
            return events
        call.say(
            _(
                "Done: appointment {number} is now on {time}.",
                number=number,
                time=self._when(call, moved.window),
            )
        )
        return events

    def _offer(self, call: Call, appointment: Appointment, choice: Choice) -> None:
        """Why that time will not do (or the question, when none was named), with windows."""
        question = choice.reason
        if question == WHEN:
            question = _(
                "Appointment {number} is on {time}. When would you like it instead? "
                "Tell me a day and time, or pick a free window.",
                number=appointment.number,
                time=self._when(call, appointment.window),
            )
        buttons = offer_buttons(
            call, choice.offers, RESCHEDULE_INTENT, appointment_number=appointment.number
        )
        call.say(question or WHEN, buttons=buttons)

    @staticmethod
    def _when(call: Call, window_id: str) -> str:
        window = call.domain.appointments.catalog.window(window_id)
        return window_label(window, call.language) if window is not None else window_id


class ActionShouwenCancelAppointment(ShouwenAction):
    """Cancels the user's appointment; its place is free for others again at once."""

    action_name = "action_shouwen_cancel_appointment"

    async def act(self, call: Call) -> list[Event]:
        appointment = await own_booked(call)
        if appointment is None:
            return []
        number = appointment.number
        try:
            await call.domain.appointments.cancel(number, customer=appointment.customer)
        except BookingError:  # cancelled or done in the meantime
            call.say(_("That appointment can no longer be changed."))
            return []
        call.say(
            _(
                "Appointment {number} is cancelled. Its time is free for others again.",
                number=number,
            )
        )
        return [SlotSet(APPOINTMENT_NUMBER, None)]
