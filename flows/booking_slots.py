"""Reading booking answers from free text: service, place, day and time, phone, ID number.

Pure functions over the message and its NLU entities; the booking and fault flows decide
what to do with what is found. A value that has the right shape but is wrong comes back
with a reason code, so that the flow can ask again and say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta

from bot.nlu.results import ID_NUMBER, PHONE, TIME, Entity
from bot.services.answer_checks import Read, check_id, longest_named
from bot.services.booking_rules import Asked
from bot.services.catalog import ServiceType
from bot.services.customers import InvalidPhone, normalise_phone
from flows.contact import typed_letters_in_number

# Words customers use for each service besides its catalog names (matched case-insensitively;
# the longest match wins, so "上门维修" beats "维修").
SERVICE_WORDS: dict[str, tuple[str, ...]] = {
    "broadband_install": (
        "装宽带",
        "新装宽带",
        "宽带安装",
        "安装宽带",
        "宽带新装",
        "办宽带",
        "开通宽带",
        "install broadband",
        "broadband install",
        "new broadband",
    ),
    "onsite_repair": ("上门维修", "维修", "修理", "上门", "repair", "technician visit"),
    "store_business": ("sim", "补卡", "换卡", "过户", "销户", "号码业务", "number business"),
    "device_setup": ("设备设置", "手机设置", "设置手机", "device setup", "set up my phone"),
}
_PART_WORDS = (
    ("afternoon", ("下午", "afternoon")),
    ("morning", ("上午", "早上", "早晨", "morning")),
    ("noon", ("中午", "noon", "lunchtime")),
    ("evening", ("晚上", "傍晚", "evening", "tonight")),
)
# An hour named in the text: without one, a time entity at midnight means "that day".
_HOUR = re.compile(
    r"\d{1,2}\s*(?:[:：]\d{2}|点|时|am|pm|a\.m\.|p\.m\.|o'?clock)|[一二两三四五六七八九十]+\s*点|midnight|零点",
    re.IGNORECASE,
)
_EN_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)", re.IGNORECASE)
_ID_LIKE = re.compile(r"[0-9]{6,}[0-9Xx]?")
_ID_CHARS = re.compile(r"[0-9Xx]{15,}")


def entity(entities: Iterable[Entity], kind: str) -> Entity | None:
    return next((e for e in entities if e.entity == kind), None)


def match_service(text: str, services: Sequence[ServiceType]) -> str | None:
    """The service the text names, by catalog name or a usual word for it."""
    named = ((s.id, (*s.names.values(), *SERVICE_WORDS.get(s.id, ()))) for s in services)
    return longest_named(text, named)


def part_of_day(text: str) -> str | None:
    folded = text.casefold()
    for part, words in _PART_WORDS:
        if any(word in folded for word in words):
            return part
    return None


def read_when(
    text: str, entities: Iterable[Entity], now: datetime, day: date | None
) -> Asked | None:
    """The day and time asked for; `day` is the one talked about before, for "3pm" alone."""
    found = entity(entities, TIME)
    part = part_of_day(text)
    has_hour = _HOUR.search(text) is not None
    if found is not None:
        moment = datetime.fromisoformat(found.value).astimezone(now.tzinfo)
        if has_hour:
            return Asked(moment.date(), at=moment.time())
        return Asked(moment.date(), part=part)
    clock = _EN_CLOCK.search(text)
    if clock is not None:
        hour, minute = int(clock[1]) % 12, int(clock[2] or 0)
        hour += 12 if clock[3].lower().startswith("p") else 0
        if hour > 23 or minute > 59:
            return None
        at = time(hour, minute)
        return Asked(day or _next_day_at(now, at), at=at)
    if part is not None and day is not None:
        return Asked(day, part=part)
    return None


def _next_day_at(now: datetime, at: time) -> date:
    """Today if `at` is still ahead today, else tomorrow."""
    return now.date() if at > now.time() else now.date() + timedelta(days=1)


def read_phone(text: str, entities: Iterable[Entity]) -> Read:
    """A contact phone; reasons: "letters", "length", "invalid". Nothing like one: Read()."""
    entities = tuple(entities)
    found = entity(entities, PHONE)
    if found is not None:
        return Read(value=found.value)
    # An ID number or a time in the same message is not a badly typed phone.
    for other in entities:
        text = text[: other.start] + " " * (other.end - other.start) + text[other.end :]
    if typed_letters_in_number(text):
        return Read(reason="letters")
    digits = re.sub(r"\D", "", text)
    if len(digits) < 5:
        return Read()
    try:
        return Read(value=normalise_phone(text))
    except InvalidPhone:
        return Read(reason="length" if len(digits) != 11 else "invalid")


def read_id(text: str, entities: Iterable[Entity]) -> Read:
    """A resident ID number (GB 11643); reasons: "checksum", "length", "invalid"."""
    found = entity(entities, ID_NUMBER)
    if found is not None and found.valid:
        return Read(value=found.value)
    candidate = found.value if found is not None else _id_candidate(text)
    if candidate is None:
        return Read()
    return check_id(candidate)


def _id_candidate(text: str) -> str | None:
    match = _ID_CHARS.search(text.replace(" ", "")) or _ID_LIKE.search(text.replace(" ", ""))
    return match[0].upper() if match is not None else None
