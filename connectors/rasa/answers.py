"""Reading what users gave a Rasa assistant: phone, ID number, category, service, rating
and case or appointment numbers (a place: `bot.services.answer_checks.match_place`). Each
reader returns the normalised value, or the reason (a `Text`) it cannot be taken, so that
the action can say why and ask again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.engine import normalise
from bot.i18n import LANGUAGES, Catalogs, Text
from bot.services.answer_checks import check_id, longest_named
from bot.services.case_texts import CATEGORY_NAMES
from bot.services.catalog import ServiceType
from bot.services.customers import InvalidPhone, normalise_phone
from bot.services.numbers import NUMBER_PATTERN, parse_number
from bot.services.policy import COMPLAINT_CATEGORIES
from bot.services.ratings import score_of
from bot.services.visit_texts import ID_REASONS, PHONE_REASONS

# A run that starts with a digit and holds letters: a phone typed with an O for a 0.
_NUMBER_WITH_LETTERS = re.compile(r"[0-9][0-9A-Za-z\s\-]{5,}[0-9A-Za-z]")
MIN_DESCRIPTION = 4  # shorter is no description ("投诉", "ok")


def read_phone(raw: str) -> str | Text:
    """A contact phone: 11 digits for a CN mobile, E.164 otherwise; or why not."""
    run = _NUMBER_WITH_LETTERS.search(raw)
    if run is not None and re.search(r"[A-Za-z]", run[0]):
        return PHONE_REASONS["letters"]
    try:
        return normalise_phone(raw)
    except InvalidPhone:
        digits = re.sub(r"\D", "", raw)
        return PHONE_REASONS["length" if len(digits) != 11 else "invalid"]


def read_id(raw: str) -> str | Text:
    """A resident ID number (GB 11643, its check digit included), or why not."""
    read = check_id(re.sub(r"[\s\-]", "", raw).upper())
    return read.value if read.value is not None else ID_REASONS[read.reason or "invalid"]


def read_description(raw: str, max_chars: int) -> str | None:
    """The user's own words as a case keeps them (no control characters), if they say
    something."""
    text = normalise(raw, max_chars)
    return text if len(text) >= MIN_DESCRIPTION else None


def read_rating(raw: str) -> int | None:
    """A 1-5 rating, read as the satisfaction flow reads one: "4", "4.0" (a float slot),
    "给4分", "五星", "很满意"; not a numeral inside a word ("我想评价一下")."""
    return score_of(raw)


def category_of(raw: str, catalogs: Catalogs) -> str | None:
    """The complaint category `raw` names: its id or its title in any language."""
    folded = raw.strip().casefold()
    for category in COMPLAINT_CATEGORIES:
        name = CATEGORY_NAMES[category]
        titles = {catalogs.render(language, name).casefold() for language in LANGUAGES}
        if folded == category or folded in titles:
            return category
    return None


def service_of(raw: str, services: Sequence[ServiceType]) -> str | None:
    """The service `raw` names: its id, or the longest of its names found in it."""
    return longest_named(raw, ((s.id, (s.id, *s.names.values())) for s in services))


def number_in(texts: Iterable[str | None], kind: str | None = None) -> tuple[str, bool] | None:
    """The first case or appointment number (of `kind` "C" or "A", if given) in `texts`,
    upper-case, and whether its check digit fits."""
    for text in texts:
        for match in NUMBER_PATTERN.finditer(text or ""):
            parsed = parse_number(match[0])
            if parsed is not None and (kind is None or parsed.kind == kind):
                return match[0].upper(), parsed.valid
    return None
