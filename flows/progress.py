"""Progress (进度查询): a case or appointment by its number, or "my cases" once verified.

Only the customer a case belongs to sees it (DESIGN.md section 4): the conversation that
opened it, or the verified customer it was opened for. Anyone else gets exactly the answer
an unknown number gets, so a guessed number reveals nothing. A number whose check digit
fails is a typo, and is answered as one.
"""

from __future__ import annotations

import re

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.messages import Card, CardField
from bot.nlu.results import APPOINTMENT_NUMBER, CASE_NUMBER, Entity
from bot.services.appointments import Appointment
from bot.services.case_texts import (
    CATEGORY_NAMES,
    DONE_STATES,
    DUE_NAMES,
    GRADE_NAMES,
    KIND_NAMES,
    moment,
    next_due,
)
from bot.services.cases import Case
from bot.services.notices import STATES
from bot.services.numbers import parse_number
from flows.contact import owns

# "My cases", "我的工单", "all my complaints": the customer's own list rather than one number.
_MINE = re.compile(r"我的|全部|所有|\b(?:my|mine|all)\b", re.IGNORECASE)
# How much of a customer's history "my cases" shows.
MY_CASES = 5
MY_APPOINTMENTS = 3
# Offered after an answer: where to go next.
_NEXT: tuple[tuple[Text | str, str], ...] = (
    (_("Look up another number"), "progress:start"),
    (_("Main menu"), "cmd:menu"),
)


def case_card(turn: Turn, case: Case) -> Card:
    """A case as the customer sees it: kind, state, last update and due times."""
    locale = turn.state.locale
    catalogs = turn.services.catalogs
    fields = [
        CardField(
            turn.render(_("Last update")), catalogs.format_datetime(locale, moment(case.updated))
        )
    ]
    if case.category in CATEGORY_NAMES:
        fields.append(
            CardField(turn.render(_("Category")), turn.render(CATEGORY_NAMES[case.category]))
        )
    if case.grade in GRADE_NAMES:
        fields.append(CardField(turn.render(_("Grade")), turn.render(GRADE_NAMES[case.grade])))
    if case.state not in DONE_STATES:
        for name, at in sorted(case.due.items(), key=lambda item: item[1]):
            if name in DUE_NAMES:
                label = turn.render(DUE_NAMES[name])
                fields.append(CardField(label, catalogs.format_datetime(locale, moment(at))))
    due = next_due(case, turn.now())
    return Card(
        kind="case",
        title=turn.render(KIND_NAMES.get(case.kind, _("Case"))),
        number=case.number,
        status=turn.render(STATES[case.state]) if case.state in STATES else case.state,
        due=catalogs.format_datetime(locale, moment(due)) if due is not None else None,
        fields=tuple(fields),
    )


def appointment_card(turn: Turn, appointment: Appointment) -> Card:
    """An appointment as the customer sees it: service, state, time and place."""
    locale = turn.state.locale
    catalog = turn.domain.appointments.catalog
    service = catalog.service(appointment.service)
    place = catalog.place(appointment.place)
    when = turn.services.catalogs.format_datetime(locale, moment(appointment.start))
    fields = [CardField(turn.render(_("Time")), when)]
    if place is not None:
        fields.append(CardField(turn.render(_("Place")), place.name(locale)))
        if place.address:
            address = place.address.get(locale) or next(iter(place.address.values()))
            fields.append(CardField(turn.render(_("Address")), address))
    state = appointment.state
    return Card(
        kind="appointment",
        title=service.name(locale) if service is not None else turn.render(_("Appointment")),
        number=appointment.number,
        status=turn.render(STATES[state]) if state in STATES else state,
        due=when if state == "booked" else None,
        fields=tuple(fields),
    )


class ProgressFlow:
    """Where is my case? By number, or the verified customer's own list."""

    name = "progress"
    intents = frozenset({"query_progress"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return (_("Check progress"), "progress:start")

    async def start(self, turn: Turn) -> None:
        turn.understood()
        if await self._by_number(turn):
            return
        if _MINE.search(turn.text):
            await self._mine(turn)
            return
        self._ask_number(turn, _("Which case or appointment shall I look up?"))

    async def step(self, turn: Turn) -> bool:
        if await self._by_number(turn):
            return True
        if _MINE.search(turn.text):
            await self._mine(turn)
            return True
        self._ask_number(
            turn,
            _(
                "I need the case or appointment number, e.g. C2611230047 or A2611240012. "
                "You will find it in our message or SMS."
            ),
        )
        return False

    async def resume(self, turn: Turn) -> None:
        step, slots = turn.state.step, turn.state.slots
        if step == "mine" and turn.state.customer is not None:
            await self._show_mine(turn)
        elif step == "lookup" and turn.state.customer is not None and "number" in slots:
            await self._show(turn, str(slots["number"]))
        elif step in ("mine", "lookup"):
            self._ask_number(
                turn,
                _(
                    "Without a verified phone number I can look up a case or an appointment "
                    "by its number. Which number is it?"
                ),
            )
        else:
            self._ask_number(turn, _("Which case or appointment shall I look up?"))

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        kind, _sep, number = argument.partition(":")
        if kind in ("show", "verify"):
            parsed = parse_number(number)
            if parsed is None or not parsed.valid:
                return False  # not a number we issued: a forged or mangled button
            number = number.strip().upper()
        if kind == "start":
            turn.understood()
            self._ask_number(turn, _("Which case or appointment shall I look up?"))
        elif kind == "mine":
            await self._mine(turn)
        elif kind == "show":
            await self._show(turn, number)
        elif kind == "verify":
            await self._verify_then(turn, "lookup", {"number": number})
        else:
            return False
        return True

    async def _by_number(self, turn: Turn) -> bool:
        """Answer for the number in the message, if it holds one."""
        entity = _first_number(turn.parse().entities)
        if entity is None:
            return False
        if not entity.valid:
            turn.state.flow, turn.state.step, turn.state.slots = self.name, "number", {}
            turn.say(
                _(
                    "{number} looks mistyped: its last digit does not match. "
                    "Please check the number and type it again.",
                    number=entity.value,
                )
            )
            return True
        await self._show(turn, entity.value)
        return True

    async def _show(self, turn: Turn, number: str) -> None:
        turn.understood()
        if number.startswith("A"):
            appointment = await turn.domain.appointments.get(number)
            if appointment is not None and self._owns(turn, appointment):
                self._say_appointment(turn, appointment, more=True)
                self._done(turn)
                return
        else:
            case = await turn.domain.cases.get(number)
            if case is not None and self._owns(turn, case):
                self._say_case(turn, case, more=True)
                self._done(turn)
                return
        self._unknown(turn, number)

    @staticmethod
    def _owns(turn: Turn, record: Case | Appointment) -> bool:
        return owns(turn, record.conversation, record.customer)

    def _unknown(self, turn: Turn, number: str) -> None:
        """Not found and not theirs read the same, so a guessed number reveals nothing."""
        turn.state.flow, turn.state.step, turn.state.slots = self.name, "number", {}
        if turn.state.customer is None:
            turn.say(
                _(
                    "I found nothing under {number} that I can show you. Please check the "
                    "number. If it is yours, verify your phone number and I will look again.",
                    number=number,
                ),
                buttons=[
                    (_("Verify my phone number"), f"progress:verify:{number}"),
                    (_("Main menu"), "cmd:menu"),
                ],
            )
        else:
            turn.say(
                _(
                    "I found nothing under {number} that I can show you. Please check the number.",
                    number=number,
                ),
                buttons=[(_("My cases"), "progress:mine"), (_("Main menu"), "cmd:menu")],
            )

    async def _mine(self, turn: Turn) -> None:
        turn.understood()
        if turn.state.customer is None:
            await self._verify_then(turn, "mine", {})
        else:
            await self._show_mine(turn)

    async def _verify_then(self, turn: Turn, step: str, slots: dict[str, str]) -> None:
        turn.state.flow, turn.state.step, turn.state.slots = self.name, step, slots
        await turn.call("verify", resume_at=step)

    async def _show_mine(self, turn: Turn) -> None:
        customer = turn.state.customer
        assert customer is not None
        cases = await turn.domain.cases.of_customer(customer, limit=MY_CASES)
        appointments = (await turn.domain.appointments.of_customer(customer))[:MY_APPOINTMENTS]
        if not cases and not appointments:
            turn.say(
                _("I found no cases or appointments for your phone number."),
                buttons=[(_("Main menu"), "cmd:menu")],
            )
        else:
            turn.say(_("Your cases and appointments:"), buttons=_NEXT)
            for case in cases:
                self._say_case(turn, case)
            for appointment in appointments:
                self._say_appointment(turn, appointment)
        self._done(turn)

    def _say_case(self, turn: Turn, case: Case, *, more: bool = False) -> None:
        kind = KIND_NAMES.get(case.kind, _("Case"))
        state = STATES.get(case.state, _("updated"))
        updated = moment(case.updated)
        due = next_due(case, turn.now())
        if due is None:
            text = _(
                "{kind} {number} is {state}. Last update: {updated}.",
                kind=kind,
                number=case.number,
                state=state,
                updated=updated,
            )
        else:
            text = _(
                "{kind} {number} is {state}. Last update: {updated}. Due by {due}.",
                kind=kind,
                number=case.number,
                state=state,
                updated=updated,
                due=moment(due),
            )
        turn.say(text, buttons=_NEXT if more else (), card=case_card(turn, case))

    def _say_appointment(self, turn: Turn, appointment: Appointment, *, more: bool = False) -> None:
        state = STATES.get(appointment.state, _("updated"))
        text = _(
            "Appointment {number} is {state}: {start}.",
            number=appointment.number,
            state=state,
            start=moment(appointment.start),
        )
        turn.say(text, buttons=_NEXT if more else (), card=appointment_card(turn, appointment))

    def _done(self, turn: Turn) -> None:
        if turn.state.flow == self.name:
            turn.finish()

    def _ask_number(self, turn: Turn, question: Text) -> None:
        turn.state.flow, turn.state.step, turn.state.slots = self.name, "number", {}
        turn.say(question, buttons=[(_("My cases"), "progress:mine"), (_("Main menu"), "cmd:menu")])


def _first_number(entities: tuple[Entity, ...]) -> Entity | None:
    return next((e for e in entities if e.entity in (CASE_NUMBER, APPOINTMENT_NUMBER)), None)
