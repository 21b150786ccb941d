"""How many SMS segments a text takes: GSM-7 (160 alone, 153 per part) or UCS-2 (70 / 67).

A text is sent in GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table (an extension character takes two septets: an escape, then the character);
otherwise the whole text is UCS-2, counted in UTF-16 code units (an emoji takes two). A
concatenated message spends part of each segment on its header, hence 153 and 67, and a
two-unit character is never split between two parts.
"""

from __future__ import annotations

from dataclasses import dataclass

# The default alphabet (3GPP TS 23.038, 6.2.1), in table order; ESC (0x1B) left out: it only
# introduces an extension character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "gsm7"
UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class Limits:
    """Units in a message sent alone, and in each part of a concatenated one."""

    single: int
    part: int


LIMITS = {GSM7: Limits(160, 153), UCS2: Limits(70, 67)}

# Typographic marks that have a plain GSM-7 stand-in: replacing them keeps an English text
# in GSM-7 (160 characters) rather than UCS-2 (70) for the sake of one curly quote.
_PLAIN = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "–": "-",
        "—": "-",
        "‐": "-",
        "…": "...",
        "\u00a0": " ",  # no-break spaces, as Babel puts in dates ("11:00\u202fAM")
        "\u202f": " ",
        "\u2009": " ",
        "•": "-",
        "★": "*",
    }
)


def encoding(text: str) -> str:
    """GSM7 when every character has a GSM-7 code, else UCS2."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        return GSM7
    return UCS2


def _widths(text: str, kind: str) -> list[int]:
    """Each character's units: septets in GSM-7, UTF-16 code units in UCS-2."""
    if kind == GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def units(text: str) -> int:
    """The text's length in its encoding's units."""
    return sum(_widths(text, encoding(text)))


def segments(text: str) -> int:
    """The number of SMS segments `text` is sent in (0 for no text)."""
    if not text:
        return 0
    kind = encoding(text)
    widths = _widths(text, kind)
    limits = LIMITS[kind]
    if sum(widths) <= limits.single:
        return 1
    parts, used = 1, 0
    for width in widths:  # a two-unit character starts a new part rather than straddle one
        if used + width > limits.part:
            parts, used = parts + 1, 0
        used += width
    return parts


def plain(text: str) -> str:
    """`text` with typographic marks made plain when that makes it all GSM-7; else unchanged."""
    simpler = text.translate(_PLAIN)
    return simpler if encoding(simpler) == GSM7 else text
