"""Where a case or an appointment stands, and a 1-5 rating of one, for a Rasa assistant.

Only the owner sees or rates a record (DESIGN.md section 4): the Rasa conversation that made
it or its verified customer. Anyone else gets exactly the answer an unknown number gets, so
a guessed number reveals nothing; a number whose check digit fails is a typo, said as one.
"""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from bot.i18n import Text, _
from bot.services.appointments import Appointment
from bot.services.case_records import Case
from bot.services.case_texts import (
    ASK_RATING_SUBJECT,
    KIND_NAMES,
    moment,
    next_due,
    rating_question,
    rating_refusal,
    rating_thanks,
)
from bot.services.notices import RATINGS, STATES
from bot.services.numbers import APPOINTMENT, NUMBER_PATTERN
from bot.services.surveys import AlreadyRated, NotRateable
from connectors.rasa.actions.base import Event, ShouwenAction
from connectors.rasa.answers import number_in, read_rating
from connectors.rasa.call import APPOINTMENT_NUMBER, CASE_NUMBER, RATING, Call
from connectors.rasa.windows import payload

# How much of a verified customer's history "my cases" shows.
MY_CASES = 5
MY_APPOINTMENTS = 3


def named_number(call: Call) -> tuple[str, bool] | None:
    """The case or appointment number the message names, else the one last talked about,
    and whether its check digit fits."""
    return number_in(
        [
            call.entity(CASE_NUMBER),
            call.entity(APPOINTMENT_NUMBER),
            call.text,
            call.slot(CASE_NUMBER),
            call.slot(APPOINTMENT_NUMBER),
        ]
    )


def number_slot(number: str) -> str:
    return APPOINTMENT_NUMBER if number.startswith(APPOINTMENT) else CASE_NUMBER


def mistyped(call: Call, number: str) -> None:
    call.say(
        _(
            "{number} looks mistyped: its last digit does not match. "
            "Please check the number and type it again.",
            number=number,
        )
    )


class ActionShouwenProgress(ShouwenAction):
    """A case or appointment by its number; a verified customer's own list without one."""

    action_name = "action_shouwen_progress"

    async def act(self, call: Call) -> list[Event]:
        found = named_number(call)
        if found is not None and not found[1]:
            mistyped(call, found[0])
            return []
        if found is not None:
            return await self._show(call, found[0])
        customer = await call.customer()
        if customer is None:
            call.say(_("Which case or appointment shall I look up?"))
            return []
        await self._mine(call, customer)
        return []

    async def _show(self, call: Call, number: str) -> list[Event]:
        domain = call.domain
        record: Case | Appointment | None
        if number.startswith(APPOINTMENT):
            record = await domain.appointments.get(number)
        else:
            record = await domain.cases.get(number)
        if record is None or not await call.owns(record.conversation, record.customer):
            # Not found and not theirs read the same.
            call.say(
                _(
                    "I found nothing under {number} that I can show you. Please check the number.",
                    number=number,
                )
            )
            return []
        call.say(self._line(call, record))
        return [SlotSet(number_slot(number), number)]

    async def _mine(self, call: Call, customer: str) -> None:
        cases = await call.domain.cases.of_customer(customer, limit=MY_CASES)
        visits = (await call.domain.appointments.of_customer(customer))[:MY_APPOINTMENTS]
        if not cases and not visits:
            call.say(_("I found no cases or appointments for your phone number."))
            return
        call.say(_("Your cases and appointments:"))
        records: list[Case | Appointment] = [*cases, *visits]
        for record in records:
            call.say(self._line(call, record))

    @staticmethod
    def _line(call: Call, record: Case | Appointment) -> Text:
        state = STATES.get(record.state, _("updated"))
        if isinstance(record, Appointment):
            return _(
                "Appointment {number} is {state}: {start}.",
                number=record.number,
                state=state,
                start=moment(record.start),
            )
        kind = KIND_NAMES.get(record.kind, _("Case"))
        due = next_due(record, call.now())
        said = {"kind": kind, "number": record.number, "state": state}
        updated = moment(record.updated)
        if due is None:
            return _("{kind} {number} is {state}. Last update: {updated}.", **said, updated=updated)
        return _(
            "{kind} {number} is {state}. Last update: {updated}. Due by {due}.",
            **said,
            updated=updated,
            due=moment(due),
        )


class ActionShouwenRate(ShouwenAction):
    """A 1-5 rating of a resolved case or a done visit, through `Surveys` (a rating of 1-2
    opens a supervisor callback case, whose number and due time the user is told)."""

    action_name = "action_shouwen_rate"

    async def act(self, call: Call) -> list[Event]:
        found = named_number(call)
        if found is not None and not found[1]:
            mistyped(call, found[0])
            return []
        surveys = call.domain.surveys
        subject = found[0] if found is not None else await surveys.awaiting(await call.customer())
        if subject is None:
            call.say(ASK_RATING_SUBJECT)
            return []
        words = NUMBER_PATTERN.sub(" ", call.text)  # a number's digits are not a rating
        score = read_rating(call.entity(RATING) or call.slot(RATING) or words)
        if score is None:
            self._ask(call, subject)
            return [SlotSet(number_slot(subject), subject)]
        await self._rate(call, subject, score)
        return [SlotSet(RATING, None)]

    async def _rate(self, call: Call, subject: str, score: int) -> None:
        surveys = call.domain.surveys
        customer = await call.customer()
        try:
            outcome = await surveys.rate(
                subject, score, conversation=call.conversation, customer=customer
            )
        except AlreadyRated:
            call.say(_("You have already rated {subject}. Thank you!", subject=subject))
            return
        except NotRateable as refused:
            call.say(rating_refusal(subject, refused.reason))
            return
        call.say(rating_thanks(score, outcome.callback))

    @staticmethod
    def _ask(call: Call, subject: str) -> None:
        slot = number_slot(subject)
        call.say(
            rating_question(subject),
            buttons=[
                ("★" * n, payload("rate_service", **{slot: subject, RATING: str(n)}))
                for n in RATINGS
            ],
        )
