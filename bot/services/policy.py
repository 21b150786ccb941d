"""The service policy: promised times and complaint grading, read from ``data/policy.yml``.

The values are the operator's service standards (DESIGN.md section 4), kept as data so an
operator changes them without a release. Loading checks every value and names the one that
is missing or wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import yaml

COMPLAINT_CATEGORIES = ("network", "billing", "attitude", "unfixed", "marketing", "privacy")
FILE_NAME = "policy.yml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class PolicyError(ValueError):
    """The policy file is missing, unreadable or has a value we cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """A complaint category's base grade and the description words that make it more pressing."""

    grade: str
    escalate_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """Promised times, complaint grading and booking limits."""

    fault_response: timedelta
    fault_repair: timedelta
    complaint_response: Mapping[str, timedelta]
    feedback: timedelta
    grade_ladder: tuple[str, ...]
    repeat_window: timedelta
    regulator_terms: tuple[str, ...]
    categories: Mapping[str, CategoryRule]
    service_hours: tuple[time, time]
    reminder_lead: timedelta
    booking_horizon_days: int

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read and check a policy file; PolicyError names what is missing or invalid."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise PolicyError(f"{path}: cannot read the policy file: {error}") from error
        except yaml.YAMLError as error:
            raise PolicyError(f"{path}: not valid YAML: {error}") from error
        try:
            return _parse(_Reader(raw))
        except PolicyError as error:
            raise PolicyError(f"{path}: {error}") from None

    def due_times(self, kind: str, created: float, grade: str | None = None) -> dict[str, float]:
        """When each promise of a new case falls due (epoch seconds), by case kind."""
        if kind == "fault":
            spans = {"response": self.fault_response, "repair": self.fault_repair}
        elif kind == "complaint":
            if grade is None or grade not in self.complaint_response:
                raise ValueError(f"a complaint needs a grade of {self.grade_ladder}, got {grade!r}")
            spans = {"response": self.complaint_response[grade]}
        elif kind in ("callback", "feedback", "inquiry"):
            spans = {"response": self.feedback}
        else:
            raise ValueError(f"no due times for case kind {kind!r}")
        return {name: created + span.total_seconds() for name, span in spans.items()}

    def escalate(self, grade: str, steps: int) -> str:
        """`grade` moved `steps` towards the most pressing end of the ladder, stopping there."""
        index = self.grade_ladder.index(grade) + steps
        return self.grade_ladder[min(index, len(self.grade_ladder) - 1)]


class _Reader:
    """Walks the parsed YAML and raises PolicyError naming the dotted path of a bad value."""

    def __init__(self, root: Any) -> None:
        self._root = root

    def get(self, dotted: str) -> Any:
        node = self._root
        for part in dotted.split("."):
            if not isinstance(node, dict) or node.get(part) is None:
                raise PolicyError(f"{dotted}: missing")
            node = node[part]
        return node

    def duration(self, dotted: str) -> timedelta:
        value = self.get(dotted)
        match = _DURATION.match(str(value))
        if match is None:
            raise PolicyError(f"{dotted}: expected a duration like 2h, 30m or 30d, got {value!r}")
        span = timedelta(**{_UNITS[match[2]]: float(match[1])})
        if span <= timedelta(0):
            raise PolicyError(f"{dotted}: must be longer than zero, got {value!r}")
        return span

    def terms(self, dotted: str) -> tuple[str, ...]:
        value = self.get(dotted)
        if not isinstance(value, list) or not all(
            isinstance(term, str | int) and not isinstance(term, bool) and str(term).strip()
            for term in value
        ):
            raise PolicyError(f"{dotted}: expected a list of words, got {value!r}")
        return tuple(str(term).strip() for term in value)


def _parse(reader: _Reader) -> Policy:
    ladder = reader.terms("grading.ladder")
    if not ladder:
        raise PolicyError("grading.ladder: needs at least one grade")
    if len(set(ladder)) != len(ladder):
        raise PolicyError(f"grading.ladder: a grade appears twice in {list(ladder)}")
    complaint = {grade: reader.duration(f"due.complaint.{grade}") for grade in ladder}
    return Policy(
        fault_response=reader.duration("due.fault.response"),
        fault_repair=reader.duration("due.fault.repair"),
        complaint_response=complaint,
        feedback=reader.duration("due.feedback"),
        grade_ladder=ladder,
        repeat_window=reader.duration("grading.repeat_window"),
        regulator_terms=reader.terms("grading.regulator_terms"),
        categories=_categories(reader, ladder),
        service_hours=_service_hours(reader),
        reminder_lead=reader.duration("service.reminder_lead"),
        booking_horizon_days=_horizon(reader),
    )


def _categories(reader: _Reader, ladder: tuple[str, ...]) -> dict[str, CategoryRule]:
    listed = reader.get("grading.categories")
    if not isinstance(listed, dict):
        raise PolicyError("grading.categories: expected one entry per category")
    unknown = sorted(set(listed) - set(COMPLAINT_CATEGORIES))
    if unknown:
        raise PolicyError(
            f"grading.categories.{unknown[0]}: unknown category; "
            f"expected {', '.join(COMPLAINT_CATEGORIES)}"
        )
    rules = {}
    for category in COMPLAINT_CATEGORIES:
        grade = reader.get(f"grading.categories.{category}.grade")
        if grade not in ladder:
            raise PolicyError(
                f"grading.categories.{category}.grade: {grade!r} is not a grade of the ladder "
                f"{list(ladder)}"
            )
        terms = reader.terms(f"grading.categories.{category}.escalate_terms")
        rules[category] = CategoryRule(grade=grade, escalate_terms=terms)
    return rules


def _service_hours(reader: _Reader) -> tuple[time, time]:
    value = reader.get("service.hours")
    match = _HOURS.match(str(value))
    try:
        if match is None:
            raise ValueError
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
    except ValueError:
        raise PolicyError(
            f"service.hours: expected a range like 08:00-20:00, got {value!r}"
        ) from None
    if start >= end:
        raise PolicyError(f"service.hours: the start must come before the end, got {value!r}")
    return start, end


def _horizon(reader: _Reader) -> int:
    value = reader.get("service.booking_horizon_days")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 366:
        raise PolicyError(
            f"service.booking_horizon_days: expected a whole number of days 1-366, got {value!r}"
        )
    return value
