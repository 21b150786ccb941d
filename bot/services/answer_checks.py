"""Checking what a customer typed for a form: a place by any of its names or short forms,
a resident ID number (GB 11643, its check digit included) with the reason it is refused.

The booking and fault flows and the Rasa actions read these answers alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from bot.services.catalog import Place

# Suffixes dropped from place names to get the short forms customers type ("文三路", "Xihu").
_PLACE_SUFFIXES = ("营业厅", "区", " store", " district")


@dataclass(frozen=True, slots=True)
class Read:
    """A value read from the text, or the reason code why the text's value is not one."""

    value: str | None = None
    reason: str | None = None


def fold(text: str) -> str:
    """Text as names are compared: case-folded, runs of white space as one space."""
    return " ".join(text.casefold().split())


def place_aliases(place: Place) -> set[str]:
    """The spellings of a place a customer may type: its names, short forms and id."""
    aliases = {place.id}
    for name in place.names.values():
        folded = fold(name)
        aliases.add(folded)
        for suffix in _PLACE_SUFFIXES:
            if folded.endswith(suffix) and len(folded) - len(suffix) >= 2:
                aliases.add(folded.removesuffix(suffix).strip())
    return aliases


def longest_named(text: str, named: Iterable[tuple[str, Iterable[str]]]) -> str | None:
    """The key of `named` (key, names) with the longest of its names found in the text
    (folded); None when none is."""
    folded = fold(text)
    found = [
        (len(name), key) for key, names in named for name in names if name and fold(name) in folded
    ]
    return max(found)[1] if found else None


def match_place(text: str, places: Sequence[Place]) -> str | None:
    """The place the text names among `places` (the longest name found wins)."""
    return longest_named(text, ((place.id, place_aliases(place)) for place in places))


def check_id(candidate: str) -> Read:
    """A resident ID number; reasons: "checksum", "length", "invalid"."""
    try:
        return Read(value=ric.validate(candidate))
    except InvalidChecksum:
        return Read(reason="checksum")
    except InvalidLength:
        return Read(reason="length")
    except ValidationError:
        return Read(reason="invalid")
