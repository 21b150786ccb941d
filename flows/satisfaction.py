"""Satisfaction (满意度): a 1-5 rating of a resolved case or a done visit, then a comment.

Ratings mostly arrive as the star buttons of a "case resolved" or "visit done" notice
(payload ``rate:<subject>:<n>``). A rating of 1 or 2 opens a supervisor callback case, and
the customer is told its number and due time (DESIGN.md section 4); the rules themselves
live in `bot.services.surveys`.
"""

from __future__ import annotations

import contextlib

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.nlu.results import APPOINTMENT_NUMBER, CASE_NUMBER, Entity
from bot.services.case_texts import (
    ASK_RATING_SUBJECT,
    rating_question,
    rating_refusal,
    rating_thanks,
)
from bot.services.notices import RATINGS
from bot.services.numbers import parse_number
from bot.services.ratings import score_of
from bot.services.surveys import AlreadyRated, NotRateable
from flows.complaint import moves_on
from flows.progress import case_card

_RATING_VALUES = frozenset(str(n) for n in RATINGS)


def _named_number(turn: Turn) -> Entity | None:
    """The case or appointment number the message names, if any."""
    kinds = (CASE_NUMBER, APPOINTMENT_NUMBER)
    return next((e for e in turn.parse().entities if e.entity in kinds), None)


class SatisfactionFlow:
    """Takes a rating and an optional comment; a low rating gets a supervisor callback."""

    name = "rate"
    intents = frozenset({"rate_service"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return None  # ratings are asked for when something is done, not from the menu

    async def start(self, turn: Turn) -> None:
        turn.understood()
        named = _named_number(turn)
        subject = (
            named.value
            if named is not None and named.valid
            else await turn.domain.surveys.awaiting(turn.state.customer)
        )
        if subject is None:
            self._ask_subject(turn)
            return
        score = score_of(turn.text)
        if score is None:
            self._ask_score(turn, subject)
        else:
            await self._rate(turn, subject, score)

    async def step(self, turn: Turn) -> bool:
        step, slots = turn.state.step, turn.state.slots
        if step == "comment":
            return await self._take_comment(turn)
        if step == "score" and "subject" in slots:
            score = score_of(turn.text)
            if score is None:
                self._ask_score(turn, str(slots["subject"]))
                return False
            await self._rate(turn, str(slots["subject"]), score)
            return True
        number = _named_number(turn)
        if number is None or not number.valid:
            self._ask_subject(turn)
            return False
        turn.understood()
        self._ask_score(turn, number.value)
        return True

    async def resume(self, turn: Turn) -> None:
        step, slots = turn.state.step, turn.state.slots
        if step == "comment" and "subject" in slots:
            self._ask_comment(turn)
        elif step == "score" and "subject" in slots:
            self._ask_score(turn, str(slots["subject"]))
        else:
            self._ask_subject(turn)

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        if argument == "nocomment":
            if turn.state.flow != self.name:
                return False
            turn.understood()
            turn.finish()
            turn.say(_("Thank you for your feedback!"), buttons=[(_("Main menu"), "cmd:menu")])
            return True
        subject, _sep, value = argument.rpartition(":")
        parsed = parse_number(subject)
        if parsed is None or not parsed.valid or value not in _RATING_VALUES:
            return False  # not a rating button of ours
        turn.understood()
        await self._rate(turn, subject.strip().upper(), int(value))
        return True

    async def _rate(self, turn: Turn, subject: str, score: int) -> None:
        turn.state.flow, turn.state.step, turn.state.slots = self.name, None, {}
        try:
            outcome = await turn.domain.surveys.rate(
                subject, score, conversation=turn.conversation, customer=turn.state.customer
            )
        except AlreadyRated:
            turn.finish()
            turn.say(_("You have already rated {subject}. Thank you!", subject=subject))
            return
        except NotRateable as refused:
            turn.finish()
            turn.say(rating_refusal(subject, refused.reason))
            return
        callback = outcome.callback
        thanks = rating_thanks(score, callback)
        turn.say(thanks, card=case_card(turn, callback) if callback is not None else None)
        turn.state.step, turn.state.slots = "comment", {"subject": subject}
        self._ask_comment(turn)

    async def _take_comment(self, turn: Turn) -> bool:
        subject = str(turn.state.slots.get("subject", ""))
        if not subject or moves_on(turn, frozenset({"rate_service"})):
            self._ask_comment(turn)
            return False
        turn.understood()
        # NotRateable: the record expired meanwhile, nothing is left to attach the words to.
        with contextlib.suppress(NotRateable):
            await turn.domain.surveys.comment(subject, turn.text)
        turn.finish()
        turn.say(_("Thank you, your comment is noted."), buttons=[(_("Main menu"), "cmd:menu")])
        return True

    def _ask_subject(self, turn: Turn) -> None:
        turn.state.flow, turn.state.step, turn.state.slots = self.name, "subject", {}
        turn.say(ASK_RATING_SUBJECT, buttons=[(_("Main menu"), "cmd:menu")])

    def _ask_score(self, turn: Turn, subject: str) -> None:
        turn.state.flow, turn.state.step = self.name, "score"
        turn.state.slots = {"subject": subject}
        turn.say(
            rating_question(subject),
            buttons=[("★" * n, f"rate:{subject}:{n}") for n in RATINGS],
        )

    def _ask_comment(self, turn: Turn) -> None:
        turn.say(
            _("Would you like to add a comment? Type it, or press “No comment”."),
            buttons=[(_("No comment"), "rate:nocomment")],
        )
