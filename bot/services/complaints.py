"""Complaint grading: urgent, ordinary or complex, with the reasons that decided it.

The category gives the base grade and its terms in the description can raise it one step;
a repeat complaint within the policy's window and a complaint that names the regulator
each raise it one more (DESIGN.md section 4), capped at the top of the policy's ladder.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.services.policy import COMPLAINT_CATEGORIES, Policy

if TYPE_CHECKING:
    from bot.services.cases import Cases


@dataclass(frozen=True, slots=True)
class Grade:
    """A complaint's grade and the machine reasons for it, e.g. "category:billing,repeat"."""

    grade: str
    reason: str


def normalise(text: str) -> str:
    """Full-width forms folded to ASCII (ＭＩＩＴ, １２３００) and case folded, for matching."""
    return unicodedata.normalize("NFKC", text).casefold()


def _term(term: str) -> str:
    folded = re.escape(normalise(term))
    if term.isascii():
        # Latin and digit terms only as whole words: "12300" must not match inside a phone.
        return rf"(?<![a-z0-9]){folded}(?![a-z0-9])"
    return folded


@functools.lru_cache(maxsize=256)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a list of terms: a search of it is a search of each in turn."""
    return re.compile("|".join(_term(term) for term in terms) or "(?!)")


def mentions(text: str, terms: tuple[str, ...]) -> bool:
    """Whether `text` contains any of `terms` (case-insensitive, full-width tolerant)."""
    return _pattern(terms).search(normalise(text)) is not None


class ComplaintGrader:
    """Grades a complaint from its category, description and the customer's history."""

    def __init__(
        self, policy: Policy, cases: Cases, clock: Callable[[], float] | None = None
    ) -> None:
        self._policy = policy
        self._cases = cases
        # The cases' clock by default, so "within 30 days" agrees with the cases' times.
        self._clock = clock or cases.clock

    async def grade(self, category: str, description: str, customer: str | None) -> Grade:
        """The grade of a new complaint (ValueError for an unknown category)."""
        rule = self._policy.categories.get(category)
        if rule is None:
            raise ValueError(
                f"unknown complaint category {category!r}; "
                f"expected one of {', '.join(COMPLAINT_CATEGORIES)}"
            )
        reasons = [f"category:{category}"]
        if mentions(description, rule.escalate_terms):
            reasons.append("terms")
        if customer is not None and await self._is_repeat(customer):
            reasons.append("repeat")
        if mentions(description, self._policy.regulator_terms):
            reasons.append("regulator")
        grade = self._policy.escalate(rule.grade, len(reasons) - 1)
        return Grade(grade=grade, reason=",".join(reasons))

    async def _is_repeat(self, customer: str) -> bool:
        since = self._clock() - self._policy.repeat_window.total_seconds()
        return await self._cases.complaints_since(customer, since) > 0
