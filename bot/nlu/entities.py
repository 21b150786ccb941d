"""Entity extraction: phone numbers, Chinese ID numbers, case and appointment numbers, times.

Each extractor uses the maintained library for its kind (phonenumbers, python-stdnum, our own
number scheme in `bot.services.numbers`, dateparser) and runs only when a cheap regular
expression says the text may hold one, which keeps an ordinary message well under a
millisecond. Where two findings overlap, the more specific kind wins (a case number over
the digits inside it, an ID number over a phone number, a longer time over a shorter one).
"""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from bot.nlu.results import (
    APPOINTMENT_NUMBER,
    CASE_NUMBER,
    ID_NUMBER,
    PHONE,
    TIME,
    Entity,
    without_overlaps,
)
from bot.nlu.times import TimeExtractor
from bot.services.numbers import APPOINTMENT, NUMBER_PATTERN, parse_number

REGION = "CN"

# At least seven digits, allowing the separators people type inside phone numbers, and not
# the tail of a case number or a word.
_PHONE_HINT = re.compile(r"(?<![A-Za-z0-9])(?:[0-9][\s\-().]{0,2}){7}")
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")

# Lower number, higher priority when two findings overlap.
_PRIORITY = {CASE_NUMBER: 0, APPOINTMENT_NUMBER: 0, ID_NUMBER: 1, PHONE: 2, TIME: 3}


class EntityExtractor:
    """All of Shouwen's extractors, run over one (already cleaned) text."""

    def __init__(self, timezone: str) -> None:
        self.times = TimeExtractor(timezone)

    def warm_up(self) -> None:
        """Load the libraries' lazy data (phone metadata, ID regions, dateparser languages)."""
        self.extract("电话 13800138000，身份证 11010519491231002X", datetime.now(self.times.zone))
        self.times.warm_up()

    def extract(self, text: str, now: datetime) -> tuple[Entity, ...]:
        """Every entity in `text`, without overlaps, in order of position."""
        found = [
            *find_case_numbers(text),
            *find_id_numbers(text),
            *find_phones(text),
            *self.times.extract(text, now),
        ]
        return tuple(without_overlaps(found, _PRIORITY))


def find_phones(text: str) -> list[Entity]:
    """Phone numbers: an 11-digit national number for a CN mobile, E.164 for the rest."""
    if _PHONE_HINT.search(text) is None:
        return []
    entities = []
    for match in PhoneNumberMatcher(text, REGION, leniency=Leniency.VALID):
        number = match.number
        is_cn_mobile = (
            number.country_code == 86 and phonenumbers.number_type(number) == PhoneNumberType.MOBILE
        )
        if is_cn_mobile:
            value = phonenumbers.national_significant_number(number)
        else:
            value = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        entities.append(Entity(PHONE, value, match.start, match.end))
    return entities


def find_id_numbers(text: str) -> list[Entity]:
    """18-character resident ID numbers (GB 11643); a failed check gives ``valid=False``."""
    entities = []
    for match in _ID_CANDIDATE.finditer(text):
        value = match.group().upper()
        try:
            ric.validate(value)
            valid = True
        except ValidationError:
            valid = False
        entities.append(Entity(ID_NUMBER, value, match.start(), match.end(), valid))
    return entities


def find_case_numbers(text: str) -> list[Entity]:
    """Case (C…) and appointment (A…) numbers; a wrong check digit gives ``valid=False``."""
    entities = []
    for match in NUMBER_PATTERN.finditer(text):
        value = match.group().upper()
        parsed = parse_number(value)
        kind = APPOINTMENT_NUMBER if value.startswith(APPOINTMENT) else CASE_NUMBER
        valid = parsed is not None and parsed.valid
        entities.append(Entity(kind, value, match.start(), match.end(), valid))
    return entities
