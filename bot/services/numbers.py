"""Case and appointment numbers short enough for an SMS, with a check digit that catches typos.

A number reads ``<K><yymmdd><seq><check>``: K is the kind letter (``C`` case, ``A``
appointment), yymmdd the day it was issued, seq a counter of 3 to 6 digits (zero-padded to
at least 3) and check a Damm check digit, e.g. ``C2611230047``. At most 14 characters.

The check digit is computed over the kind's code digit followed by the number's digits, so
that it also catches a ``C`` typed for an ``A``: Damm detects every single-digit substitution
and every adjacent transposition (https://en.wikipedia.org/wiki/Damm_algorithm).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import damm

CASE = "C"
APPOINTMENT = "A"

# Non-zero on purpose: Damm's table maps a leading 0 to itself, so 0 would not count.
_KIND_CODES: dict[str, str] = {CASE: "1", APPOINTMENT: "2"}

SEQ_MIN_DIGITS = 3
SEQ_MAX_DIGITS = 6

_MIN_DIGITS = 6 + SEQ_MIN_DIGITS + 1
_MAX_DIGITS = 6 + SEQ_MAX_DIGITS + 1
NUMBER_PATTERN = re.compile(
    rf"(?<![A-Za-z0-9])[CA][0-9]{{{_MIN_DIGITS},{_MAX_DIGITS}}}(?![0-9])", re.IGNORECASE
)
"""A candidate number in free text (case-insensitive); `parse_number` decides if it is valid."""


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """A number read back: its kind letter, issue day, counter and whether the check digit fits."""

    kind: str
    day: date
    seq: int
    valid: bool


def _check_digit(kind: str, digits: str) -> str:
    return str(damm.calc_check_digit(_KIND_CODES[kind] + digits))


def make_number(kind: str, day: date, seq: int) -> str:
    """The number of the `seq`-th case or appointment of `day`, e.g. ``C2611230047``."""
    kind = kind.upper()
    if kind not in _KIND_CODES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(_KIND_CODES)}")
    if not 0 <= seq < 10**SEQ_MAX_DIGITS:
        raise ValueError(f"seq {seq} does not fit in {SEQ_MAX_DIGITS} digits")
    digits = f"{day:%y%m%d}{seq:0{SEQ_MIN_DIGITS}d}"
    return f"{kind}{digits}{_check_digit(kind, digits)}"


def parse_number(text: str) -> ParsedNumber | None:
    """Read a whole number (surrounding spaces allowed); None if it does not have the format.

    A number with the right format but a wrong check digit comes back with ``valid=False``,
    so a flow can say "that looks like a typo" rather than "not found".
    """
    candidate = text.strip().translate(_FULL_WIDTH).upper()
    if NUMBER_PATTERN.fullmatch(candidate) is None:
        return None
    kind, digits = candidate[0], candidate[1:]
    try:
        day = date(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None
    seq = int(digits[6:-1])
    valid = digits[-1] == _check_digit(kind, digits[:-1])
    return ParsedNumber(kind=kind, day=day, seq=seq, valid=valid)


# Full-width letters and digits map one to one onto ASCII, so users' IME input still parses.
_FULL_WIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)})
