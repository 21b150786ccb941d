"""Fault report (故障报修): quick checks first, then a repair case and an on-site visit offer.

The quick checks come from DESIGN.md section 4: a known outage in the customer's area is
told with its expected end (and the customer may ask to be told when it is over); without
one, restarting the modem or phone fixes many faults. What is left becomes a repair case
whose due times come from the policy (respond within 2 h, repair within 4 h), shown on a
card with a button that starts booking an on-site repair visit for that case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.messages import Card, CardField
from bot.services.answer_checks import match_place
from bot.services.cases import Case, CaseDraft
from bot.services.catalog import Place
from bot.services.outbox import NOTICE_JOB, Notice
from bot.services.vault import mask_phone
from bot.services.visit_texts import PHONE_REASONS
from flows.booking_slots import read_phone
from flows.contact import verified_phone

# The service whose areas the customer picks from, and which the visit offer books.
REPAIR_SERVICE = "onsite_repair"
# Intents that mean the customer wants something else, not describing the fault.
_ELSEWHERE = frozenset(
    {"file_complaint", "query_progress", "rate_service", "book_appointment", "change_appointment"}
)
# Answers to "did the restart help?" besides a plain yes or no (checked "no" first: 没好).
_NOT_FIXED = (
    "没用",
    "没好",
    "不行",
    "还是",
    "没有用",
    "still",
    "not working",
    "didn't help",
    "no luck",
)
_FIXED = ("好了", "可以了", "恢复了", "fixed", "works now", "working now")
# A description this sure to be another request is not taken as one.
_ELSEWHERE_CONFIDENCE = 0.9
# Button payloads are capped by Telegram at 64 bytes.
MAX_PAYLOAD_BYTES = 64
AREA, DESCRIPTION, PHONE = "ar", "d", "ph"


class FaultFlow:
    """Report a fault: outage check, restart advice, repair case, visit offer."""

    name = "fault"
    intents = frozenset({"report_fault"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return (_("Report a fault"), "fault:start")

    async def start(self, turn: Turn) -> None:
        turn.understood()
        state = turn.state
        state.flow, state.step, state.slots = self.name, None, {}
        if turn.text and turn.inbound.payload is None:
            state.slots[DESCRIPTION] = turn.text
            area = match_place(turn.text, self._areas(turn))
            if area is not None:
                await self._check_area(turn, area)
                return
        self._ask(turn, "area")

    async def step(self, turn: Turn) -> bool:
        step = turn.state.step
        used = False
        if step == "area":
            area = match_place(turn.text, self._areas(turn))
            if area is not None:
                await self._check_area(turn, area)
                used = True
        elif step in ("outage", "restart"):
            yes = _yes_or_no(turn, step)
            if yes is not None:
                await self._yes_or_no(turn, step, yes=yes)
                used = True
        elif step == "desc":
            used = self._take_description(turn)
            if used:
                await self._next(turn)
        elif step == "phone":
            used = await self._take_phone(turn)
        if used:
            turn.understood()
        elif not turn.misunderstood():
            self._ask(turn, step or "area")
        return used

    async def resume(self, turn: Turn) -> None:
        step = turn.state.step or "area"
        if step == "outage":
            await self._check_area(turn, turn.state.slots.get(AREA, ""))
        else:
            self._ask(turn, step)

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        kind, _sep, value = argument.partition(":")
        state = turn.state
        running = state.flow == self.name
        if kind == "start":
            state.flow, state.step, state.slots = self.name, None, {}
            self._ask(turn, "area")
        elif kind == "area" and any(a.id == value for a in self._areas(turn)):
            if not running:
                state.flow, state.slots = self.name, {}
            await self._check_area(turn, value)
        elif not running or AREA not in state.slots:
            return False  # a button of a report that is over
        elif kind == "notify" and state.step == "outage":
            await self._notify_when_over(turn)
        elif kind in ("report", "broken"):
            await self._still_broken(turn)
        elif kind == "fixed":
            await self._fixed(turn)
        else:
            return False
        turn.understood()
        return True

    # --- Quick checks ---------------------------------------------------------------------

    async def _check_area(self, turn: Turn, area: str) -> None:
        turn.state.slots[AREA] = area
        outage = turn.domain.outages.active(area, turn.now())
        if outage is None:
            self._ask(turn, "restart")
            return
        turn.state.step = "outage"
        turn.say(
            _(
                "There is a known outage in {area}: {outage} It is expected to be over by {end}.",
                area=self._area_name(turn, area),
                outage=outage.describe(turn.state.locale),
                end=self._moment(turn, outage.end),
            ),
            buttons=[
                (_("Tell me when it is over"), "fault:notify"),
                (_("Report my fault anyway"), "fault:report"),
            ],
        )

    async def _notify_when_over(self, turn: Turn) -> None:
        """Schedule a notice for the outage's end (the scheduler's "notice" job publishes it)."""
        area = turn.state.slots[AREA]
        outage = turn.domain.outages.active(area, turn.now())
        turn.finish()
        if outage is None:
            turn.say(_("The outage in {area} is already over.", area=self._area_name(turn, area)))
            return
        notice = Notice(
            to=turn.conversation,
            kind="outage_over",
            subject=area,
            locale=turn.state.locale,
            params={"place_name": self._area_name(turn, area)},
        )
        job = f"outage:{area}:{turn.conversation}"
        await turn.domain.scheduler.at(outage.end, job, NOTICE_JOB, notice.to_json())
        turn.say(
            _(
                "I will message you here when the outage in {area} is over. "
                "If your service still does not work then, report the fault again.",
                area=self._area_name(turn, area),
            )
        )

    async def _yes_or_no(self, turn: Turn, step: str, *, yes: bool) -> None:
        """ "Yes" to the outage question is "tell me", to the restart advice "it helped"."""
        if step == "outage":
            await (self._notify_when_over(turn) if yes else self._still_broken(turn))
        else:
            await (self._fixed(turn) if yes else self._still_broken(turn))

    async def _fixed(self, turn: Turn) -> None:
        turn.finish()
        turn.say(_("Glad it works again! Is there anything else I can do for you?"))

    async def _still_broken(self, turn: Turn) -> None:
        await self._next(turn)

    # --- The repair case --------------------------------------------------------------------

    async def _next(self, turn: Turn) -> None:
        slots = turn.state.slots
        if not slots.get(DESCRIPTION):
            self._ask(turn, "desc")
        elif PHONE not in slots and not await self._customer_phone(turn):
            self._ask(turn, "phone")
        else:
            await self._open_case(turn)

    def _take_description(self, turn: Turn) -> bool:
        intent = turn.parse().intent
        if not turn.text or (
            intent.name in _ELSEWHERE and intent.confidence >= _ELSEWHERE_CONFIDENCE
        ):
            return False
        turn.state.slots[DESCRIPTION] = turn.text
        return True

    async def _take_phone(self, turn: Turn) -> bool:
        phone = read_phone(turn.text, turn.parse().entities)
        if phone.reason is not None:
            turn.say(PHONE_REASONS[phone.reason])
            self._ask(turn, "phone")
            return True
        if phone.value is None:
            return False
        turn.state.slots[PHONE] = turn.domain.vault.seal(phone.value)
        await self._next(turn)
        return True

    async def _customer_phone(self, turn: Turn) -> bool:
        """Use the verified customer's phone as the contact, if there is one."""
        phone = await verified_phone(turn)
        if phone is None:
            return False
        turn.state.slots[PHONE] = turn.domain.vault.seal(phone)
        return True

    async def _open_case(self, turn: Turn) -> None:
        slots = turn.state.slots
        domain = turn.domain
        phone = domain.vault.open(slots[PHONE])
        case = await domain.cases.open(
            CaseDraft(
                kind="fault",
                conversation=turn.conversation,
                customer=turn.state.customer or domain.customers.id_for(phone),
                locale=turn.state.locale,
                description=slots[DESCRIPTION],
                area=slots[AREA],
                contact=phone,
            )
        )
        turn.finish()
        response, repair = case.due["response"], case.due["repair"]
        turn.say(
            _(
                "Your repair case {number} is registered. An engineer will contact you by "
                "{response}, and the repair is due by {repair}. Would you like to book an "
                "on-site visit by a technician?",
                number=case.number,
                response=self._moment(turn, response),
                repair=self._moment(turn, repair),
            ),
            card=self._card(turn, case),
            buttons=[
                (_("Book an on-site visit"), self._visit_payload(case)),
                (_("No, thanks"), "cmd:menu"),
            ],
        )

    def _card(self, turn: Turn, case: Case) -> Card:
        rows: list[tuple[Text, str]] = [
            (_("Area"), self._area_name(turn, case.area or "")),
            (_("Problem"), _shorten(case.description)),
            (_("Response by"), self._shown(turn, case.due["response"])),
            (_("Repair by"), self._shown(turn, case.due["repair"])),
        ]
        if case.contact:
            rows.append((_("Contact phone"), mask_phone(case.contact)))
        return Card(
            kind="case",
            title=turn.render(_("Fault repair")),
            number=case.number,
            status=turn.render(_("Received")),
            due=self._shown(turn, case.due["repair"]),
            fields=tuple(CardField(turn.render(label), value) for label, value in rows),
        )

    @staticmethod
    def _visit_payload(case: Case) -> str:
        """Book a repair visit in the case's area, for the case (if the payload has room)."""
        payload = f"book:svc:{REPAIR_SERVICE}:{case.area or ''}:{case.number}"
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            payload = f"book:svc:{REPAIR_SERVICE}:{case.area or ''}"
        return payload

    # --- Questions and helpers ------------------------------------------------------------

    def _ask(self, turn: Turn, step: str) -> None:
        turn.state.step = step
        if step == "area":
            turn.say(
                _("Which area are you in? I will check for known outages there first."),
                buttons=[
                    (a.name(turn.state.locale), f"fault:area:{a.id}") for a in self._areas(turn)
                ],
            )
        elif step == "restart":
            turn.say(
                _(
                    "There is no known outage in {area}. Many faults go away after a restart: "
                    "switch off your modem (optical network terminal) and router, wait 30 "
                    "seconds and switch them on again; for a mobile problem, restart your phone. "
                    "Did that help?",
                    area=self._area_name(turn, turn.state.slots.get(AREA, "")),
                ),
                buttons=[(_("Fixed now"), "fault:fixed"), (_("Still broken"), "fault:broken")],
            )
        elif step == "desc":
            turn.say(_("Please describe the problem in a few words."))
        elif step == "phone":
            turn.say(_("Which phone number can our engineer reach you on?"))
        elif step == "outage":
            turn.say(
                _("Would you like me to tell you when the outage is over?"),
                buttons=[
                    (_("Tell me when it is over"), "fault:notify"),
                    (_("Report my fault anyway"), "fault:report"),
                ],
            )

    @staticmethod
    def _areas(turn: Turn) -> Sequence[Place]:
        return turn.domain.appointments.catalog.places(REPAIR_SERVICE)

    @staticmethod
    def _area_name(turn: Turn, area: str) -> str:
        place = turn.domain.appointments.catalog.place(area)
        return place.name(turn.state.locale) if place is not None else area

    @staticmethod
    def _moment(turn: Turn, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, ZoneInfo(turn.services.settings.timezone))

    def _shown(self, turn: Turn, epoch: float) -> str:
        moment = self._moment(turn, epoch)
        return turn.services.catalogs.format_datetime(turn.state.locale, moment)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _yes_or_no(turn: Turn, step: str) -> bool | None:
    """The customer's yes (True) or no (False) to the step's question; None if neither."""
    if step == "restart":
        folded = turn.text.casefold()
        if any(word in folded for word in _NOT_FIXED):
            return False
        if any(word in folded for word in _FIXED):
            return True
    intent = turn.parse().intent.name
    return {"affirm": True, "deny": False}.get(intent)
