"""Time expressions in either language, resolved to ISO 8601 strings in the operator's zone.

English goes through dateparser's `search_dates`, which is slow (about a millisecond a call,
far more on long text), so it only sees short Latin-script windows around words that can
start a date ("tomorrow", "Monday", "Dec 5", "3pm", "14:30"). Chinese goes through the
normaliser in `times_zh`. Both prefer the future, relative to `now`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

from bot.nlu.results import TIME, Entity, without_overlaps
from bot.nlu.times_zh import FoundTime, find_chinese_times

_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
_MONTHS += r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_WEEKDAYS += r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"

# Words that can start an English date. "may", "sun", "sat" etc. count only next to a digit
# or a "next/this/on", so that "may I ask" stays a question.
_EN_HINT = re.compile(
    rf"""\b(?:
        today|tonight|tomorrow|tmr|tmrw|noon|midnight
      | (?:next|this|on|coming)\s+(?:{_WEEKDAYS}|week|month)
      | monday|tuesday|wednesday|thursday|friday|saturday|sunday
      | (?:{_MONTHS})\.?\s*\d{{1,2}}(?:st|nd|rd|th)?\b
      | \d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b
      | \d{{1,2}}(?::\d{{2}})?\s*(?:am|pm|a\.m\.|p\.m\.)
      | \d{{1,2}}:\d{{2}}
      | in\s+\d+\s+(?:minutes?|mins?|hours?|hrs?|days?|weeks?)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_CLOCK = re.compile(
    r"\d\s*(?:am|pm|a\.m\.|p\.m\.)|\d:\d\d|\bnoon\b|\bmidnight\b|\bin\s+\d+\s+(?:min|hour|hr)",
    re.IGNORECASE,
)
_MEANINGFUL = re.compile(rf"\d|today|tonight|tomorrow|noon|midnight|{_WEEKDAYS}", re.IGNORECASE)
_LEADING_PREPOSITION = re.compile(r"^(?:on|at|for|by)\s+", re.IGNORECASE)
# The Latin-script run a hint sits in: English words, digits and date punctuation.
_LATIN_RUN = re.compile(r"[A-Za-z0-9 .,:/'-]+")
_WINDOW = 60
# dateparser is slow on long input (0.5 s for 2,000 characters of "on monday"), and parsing
# runs on the event loop: look at a few bounded windows only. A customer naming more than
# three times in one message is rare; a message built to stall the server is not.
_MAX_WINDOWS = 3
_MAX_WINDOW_CHARS = 160


class TimeExtractor:
    """Finds time expressions and resolves them in one time zone."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.timezone = timezone

    def warm_up(self) -> None:
        """Load dateparser's English data now rather than on a customer's first message."""
        self.extract("tomorrow at 3pm", datetime.now(self.zone))

    def extract(self, text: str, now: datetime) -> list[Entity]:
        """Time entities in `text`, each valued as ISO 8601 with the zone's offset."""
        now = now.astimezone(self.zone) if now.tzinfo else now.replace(tzinfo=self.zone)
        found = find_chinese_times(text, now) + list(self._english(text, now))
        return without_overlaps(
            Entity(TIME, item.moment.isoformat(timespec="seconds"), item.start, item.end)
            for item in found
        )

    def _english(self, text: str, now: datetime) -> Iterator[FoundTime]:
        for start, end in _windows(text)[:_MAX_WINDOWS]:
            window = text[start : min(end, start + _MAX_WINDOW_CHARS)]
            yield from self._search(window, start, now)

    def _search(self, window: str, offset: int, now: datetime) -> Iterator[FoundTime]:
        settings = {
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "TIMEZONE": self.timezone,
            "TO_TIMEZONE": self.timezone,
            "RETURN_AS_TIMEZONE_AWARE": True,
        }
        results = search_dates(window, languages=["en"], settings=settings)
        cursor = 0
        for phrase, moment in results or ():
            at = window.find(phrase, cursor)
            if at < 0 or _MEANINGFUL.search(phrase) is None:
                continue
            cursor = at + len(phrase)
            lead = _LEADING_PREPOSITION.match(phrase)
            start = at + (lead.end() if lead else 0)
            phrase = phrase[start - at :]
            moment = moment.astimezone(self.zone)
            if _CLOCK.search(phrase) is None:
                moment = datetime.combine(moment.date(), time(0), tzinfo=self.zone)
            yield FoundTime(offset + start, offset + start + len(phrase), moment)


def _windows(text: str) -> list[tuple[int, int]]:
    """Merged spans of Latin-script text around each English date hint."""
    spans: list[tuple[int, int]] = []
    for hint in _EN_HINT.finditer(text):
        run = _run_around(text, hint.start(), hint.end())
        if spans and run[0] <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], run[1]))
        else:
            spans.append(run)
    return spans


def _run_around(text: str, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _WINDOW)
    hi = min(len(text), end + _WINDOW)
    for run in _LATIN_RUN.finditer(text, lo, hi):
        if run.start() <= start and run.end() >= end:
            return run.start(), run.end()
    return start, end
