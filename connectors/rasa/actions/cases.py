"""Cases from a Rasa assistant: a complaint, a fault report, where a case stands, a rating.

The rules are the services' own: the grader grades a complaint, the policy gives every due
time, `Surveys` takes a rating (a low one opens a supervisor callback). What a user gave
is checked again here, because a tracker can reach an action without its form; a value
that will not do is cleared and its form started again to ask for it.
"""

from __future__ import annotations

from rasa_sdk.events import FollowupAction, SlotSet

from bot.i18n import Text, _
from bot.services.answer_checks import match_place
from bot.services.case_records import CaseDraft
from bot.services.case_texts import complaint_filed, moment
from connectors.rasa.actions.base import Event, ShouwenAction
from connectors.rasa.actions.handoff import hand_off
from connectors.rasa.answers import category_of, read_description, read_phone
from connectors.rasa.call import CASE_NUMBER, CATEGORY, DESCRIPTION, PHONE, PLACE, Call
from connectors.rasa.texts import SHORT_DESCRIPTION, UNKNOWN_CATEGORY, UNKNOWN_PLACE
from connectors.rasa.windows import payload

COMPLAINT_FORM = "shouwen_complaint_form"
FAULT_FORM = "shouwen_fault_form"
# The service whose areas a fault is reported in (and whose visit it may book).
REPAIR_SERVICE = "onsite_repair"


def ask_again(slot: str, form: str) -> list[Event]:
    """Forget a value that will not do and let the form ask for it again."""
    return [SlotSet(slot, None), FollowupAction(form)]


async def contact_phone(call: Call, form: str) -> str | list[Event]:
    """The phone to reach the user on (a verified one first), or the events that ask again."""
    verified = await call.verified_phone()
    if verified is not None:
        return verified
    read = read_phone(call.slot(PHONE) or "")
    if isinstance(read, str):
        return read
    call.say(read)
    return ask_again(PHONE, form)


async def told_case(call: Call, form: str, ask_description: Text) -> tuple[str, str] | list[Event]:
    """The description and the contact phone a case is opened with, or the events that ask
    again for the one that will not do (saying `ask_description` for a missing description)."""
    description = read_description(call.slot(DESCRIPTION) or "", call.parts.settings.max_text_chars)
    if description is None:
        call.say(ask_description)
        return ask_again(DESCRIPTION, form)
    phone = await contact_phone(call, form)
    if isinstance(phone, list):
        return phone
    return description, phone


class ActionShouwenComplaint(ShouwenAction):
    """Files a complaint from the slots category, description and phone: a graded case with
    its number and promised response time at once; an urgent one goes to a person."""

    action_name = "action_shouwen_complaint"

    async def act(self, call: Call) -> list[Event]:
        category = category_of(call.slot(CATEGORY) or "", call.catalogs)
        if category is None:
            call.say(UNKNOWN_CATEGORY)
            return ask_again(CATEGORY, COMPLAINT_FORM)
        told = await told_case(call, COMPLAINT_FORM, SHORT_DESCRIPTION)
        if isinstance(told, list):
            return told
        description, phone = told
        domain = call.domain
        customer = await call.customer() or domain.customers.id_for(phone)
        grade = await domain.grader.grade(category, description, customer)
        case = await domain.cases.open(
            CaseDraft(
                kind="complaint",
                conversation=call.conversation,
                customer=customer,
                locale=call.language,
                description=description,
                category=category,
                grade=grade,
                contact=phone,
            )
        )
        for text in complaint_filed(domain.policy, case, grade):
            call.say(text)
        events = [SlotSet(CASE_NUMBER, case.number), SlotSet(CATEGORY, None)]
        events.append(SlotSet(DESCRIPTION, None))
        if grade.grade == "urgent":  # urgent complaints go to a person at once
            events += await hand_off(call, "urgent_complaint", case.number, description)
        return events


class ActionShouwenFault(ShouwenAction):
    """Registers a repair case from the slots place (an area), description and phone: an
    engineer responds within 2 h and repairs within 4 h (the policy's due times)."""

    action_name = "action_shouwen_fault"

    async def act(self, call: Call) -> list[Event]:
        domain = call.domain
        areas = domain.appointments.catalog.places(REPAIR_SERVICE)
        area = match_place(call.slot(PLACE) or "", areas)
        if area is None:
            call.say(UNKNOWN_PLACE)
            return ask_again(PLACE, FAULT_FORM)
        told = await told_case(call, FAULT_FORM, _("Please describe the problem in a few words."))
        if isinstance(told, list):
            return told
        description, phone = told
        self._tell_outage(call, area)
        case = await domain.cases.open(
            CaseDraft(
                kind="fault",
                conversation=call.conversation,
                customer=await call.customer() or domain.customers.id_for(phone),
                locale=call.language,
                description=description,
                area=area,
                contact=phone,
            )
        )
        visit = payload("book_appointment", service=REPAIR_SERVICE, place=area)
        call.say(
            _(
                "Your repair case {number} is registered. An engineer will contact you by "
                "{response}, and the repair is due by {repair}. Would you like to book an "
                "on-site visit by a technician?",
                number=case.number,
                response=moment(case.due["response"]),
                repair=moment(case.due["repair"]),
            ),
            buttons=[(_("Book an on-site visit"), visit)],
        )
        return [SlotSet(CASE_NUMBER, case.number), SlotSet(DESCRIPTION, None)]

    @staticmethod
    def _tell_outage(call: Call, area: str) -> None:
        """A known outage in the area is said first: it may well be the cause."""
        outage = call.domain.outages.active(area, call.now())
        place = call.domain.appointments.catalog.place(area)
        if outage is None or place is None:
            return
        call.say(
            _(
                "There is a known outage in {area}: {outage} It is expected to be over by {end}.",
                area=place.name(call.language),
                outage=outage.describe(call.language),
                end=moment(outage.end),
            )
        )
