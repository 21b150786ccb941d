"""Satisfaction: a 1-5 rating of a resolved case or a done visit, and an optional comment.

A rating of 3-5 closes the case. A rating of 1-2 opens a supervisor callback case; the
rated case stays resolved and closes only when the callback is resolved (DESIGN.md
section 4, closed loop), which `Cases.move` takes care of.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.appointments import (
    Appointment,
    AppointmentNotFound,
    Appointments,
    RatingRefused,
)
from bot.services.case_records import Case, CaseDraft, CaseNotFound
from bot.services.cases import Cases
from bot.services.customers import belongs_to
from bot.services.numbers import APPOINTMENT, CASE
from bot.services.stats import Stats

# A rating this low or lower asks a supervisor to call the customer back.
CALLBACK_AT_MOST = 2


class AlreadyRated(ValueError):
    """The case or visit has a rating already: one rating each."""


class NotRateable(ValueError):
    """The subject cannot be rated; `reason` says why for the flow to answer.

    Reasons: "range" (not 1-5), "unknown" (no such number), "not_yours" (it belongs to
    another customer), "not_finished" (the case is not resolved or the visit not done).
    """

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject} cannot be rated: {reason}")
        self.subject = subject
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RatingOutcome:
    """What a rating did."""

    subject: str
    rating: int
    callback: Case | None  # the supervisor callback case opened for a rating of 1-2


class Surveys:
    """Takes ratings and comments and closes the loop on low ones."""

    def __init__(
        self, cases: Cases, appointments: Appointments, stats: Stats | None = None
    ) -> None:
        self._stats = stats
        self._cases = cases
        self._appointments = appointments

    async def rate(
        self, subject: str, rating: int, *, conversation: str, customer: str | None
    ) -> RatingOutcome:
        """Rate a case or a visit once, as the conversation or customer it belongs to."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise NotRateable(subject, "range")
        if subject.startswith(CASE):
            outcome = await self._rate_case(subject, rating, conversation, customer)
        elif subject.startswith(APPOINTMENT):
            outcome = await self._rate_visit(subject, rating, conversation, customer)
        else:
            raise NotRateable(subject, "unknown")
        if self._stats is not None:  # the day's CSAT (the supervisor's chart)
            await self._stats.add("csat_n", 1)
            await self._stats.add("csat_sum", rating)
        return outcome

    async def comment(self, subject: str, text: str) -> None:
        """Keep the customer's comment (their own words, whole) on the rated case or visit."""
        if subject.startswith(CASE):
            try:
                await self._cases.set_fields(subject, comment=text)
            except CaseNotFound:
                raise NotRateable(subject, "unknown") from None
            return
        if not subject.startswith(APPOINTMENT):
            raise NotRateable(subject, "unknown")
        try:
            await self._appointments.set_comment(subject, text)
        except AppointmentNotFound:
            raise NotRateable(subject, "unknown") from None

    async def awaiting(self, customer: str | None) -> str | None:
        """The customer's most recent resolved case or done visit still without a rating."""
        if customer is None:
            return None
        for case in await self._cases.of_customer(customer):
            if case.state == "resolved" and case.rating is None:
                return case.number
        for visit in await self._appointments.of_customer(customer):
            if visit.state == "done" and visit.rating is None:
                return visit.number
        return None

    async def _rate_case(
        self, subject: str, rating: int, conversation: str, customer: str | None
    ) -> RatingOutcome:
        case = await self._cases.get(subject)
        if case is None:
            raise NotRateable(subject, "unknown")
        _check_owner(subject, case.conversation, case.customer, conversation, customer)
        status = await self._cases.rate(subject, rating)  # atomic: only one rating wins
        if status == "rated":
            raise AlreadyRated(subject)
        if status != "ok":
            raise NotRateable(subject, "unknown" if status == "missing" else "not_finished")
        if rating > CALLBACK_AT_MOST:
            await self._cases.move(
                subject, "closed", actor="customer", note=f"rated {rating}", internal=True
            )
            return RatingOutcome(subject, rating, None)
        callback = await self._open_callback(subject, rating, case, conversation)
        await self._cases.set_fields(subject, callback=callback.number)
        return RatingOutcome(subject, rating, callback)

    async def _rate_visit(
        self, subject: str, rating: int, conversation: str, customer: str | None
    ) -> RatingOutcome:
        visit = await self._appointments.get(subject)
        if visit is None:
            raise NotRateable(subject, "unknown")
        _check_owner(subject, visit.conversation, visit.customer, conversation, customer)
        if visit.rating is not None:
            raise AlreadyRated(subject)
        if visit.state != "done":
            raise NotRateable(subject, "not_finished")
        try:
            await self._appointments.set_rating(subject, rating)
        except RatingRefused as refused:
            # Another rating of the same visit won the race, or the visit changed meanwhile.
            if refused.reason == "rated":
                raise AlreadyRated(subject) from refused
            reason = "unknown" if refused.reason == "unknown" else "not_finished"
            raise NotRateable(subject, reason) from refused
        if rating > CALLBACK_AT_MOST:
            return RatingOutcome(subject, rating, None)
        callback = await self._open_callback(subject, rating, visit, conversation)
        return RatingOutcome(subject, rating, callback)

    async def _open_callback(
        self, subject: str, rating: int, rated: Case | Appointment, conversation: str
    ) -> Case:
        """A supervisor callback case for a low rating, told to the conversation that rated."""
        draft = CaseDraft(
            kind="callback",
            conversation=conversation,
            customer=rated.customer,
            locale=rated.locale,
            area=rated.area if isinstance(rated, Case) else None,
            contact=rated.contact,
            parent=subject,
            appointment=rated.appointment if isinstance(rated, Case) else subject,
        )
        return await self._cases.open(draft, note=f"rating {rating} of {subject}")


def _check_owner(
    subject: str,
    owner_conversation: str | None,
    owner_customer: str | None,
    conversation: str,
    customer: str | None,
) -> None:
    """Only the conversation that opened it, or the verified customer, may rate it."""
    if not belongs_to(
        owner_conversation, owner_customer, conversation=conversation, customer=customer
    ):
        raise NotRateable(subject, "not_yours")
