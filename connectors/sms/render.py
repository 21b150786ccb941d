"""SMS rendering: a turn's replies as one text of at most two segments.

Buttons become a numbered menu ("回复1 …" / "Reply 1 …") that a digit answers; a 1-5
rating becomes one line, so five star buttons cost a dozen characters. Cards become a line
with what the text does not already say (number, status, due). When that is too long for
two segments it is shortened: the card lines go, then the menu's tail, then the text is cut,
and a hint says that `XQ` sends the whole, which is kept for it unshortened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.i18n import Catalogs, Text, _
from bot.messages import Button, Card
from connectors.sms.segments import plain, segments

MAX_SEGMENTS = 2
# The details are sent whole, up to the longest body providers take (Twilio: 1,600).
MAX_DETAILS_CHARS = 1600
# A single digit picks an option, so a menu shows nine at most.
MAX_OPTIONS = 9
# A cut text keeps at least this many characters before the menu is given up entirely.
MIN_CUT_CHARS = 20
# A cut prefers the end of a sentence when that keeps this share of what would fit.
SENTENCE_SHARE = 0.6
_RATING = re.compile(r"^rate:(.+):([1-5])$")
# Where a cut text may end: at a line's end, or after a sentence's closing mark (not the
# dot of a numbered step, "3.").
_SENTENCE_END = re.compile(r"(?=\n)|(?<=[。！？；])|(?<=\D[.!?;])(?=\s)")
ELLIPSIS = "…"

RATING_LINE = _("Reply 1-5 to rate (5 = very satisfied)")
DETAILS_HINT = _("Reply MORE for details.")


class Said(Protocol):
    """A reply or a transcript entry: what the assistant said."""

    @property
    def text(self) -> str: ...

    @property
    def buttons(self) -> tuple[Button, ...]: ...

    @property
    def card(self) -> Card | None: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """One SMS answer."""

    text: str  # what is sent: at most MAX_SEGMENTS segments
    full: str  # everything, unshortened: what `XQ` sends
    menu: tuple[str, ...]  # the payloads of the numbered options, option 1 first


@dataclass(frozen=True, slots=True)
class _Menu:
    lines: tuple[str, ...]
    payloads: tuple[str, ...]


class SmsRenderer:
    """Renders replies for SMS in the conversation's language."""

    def __init__(self, catalogs: Catalogs, max_segments: int = MAX_SEGMENTS) -> None:
        self._catalogs = catalogs
        self._max_segments = max_segments

    def render(self, replies: Sequence[Said], locale: str) -> Rendered:
        texts = [r.text.strip() for r in replies if r.text.strip()]
        menu = self._menu([b for r in replies for b in r.buttons], locale)
        cards = [self._card_line(r.card, r.text, locale) for r in replies if r.card is not None]
        full_cards = [self._card_lines(r.card, locale) for r in replies if r.card is not None]
        full = plain(_join(*texts, *full_cards, *menu.lines))[:MAX_DETAILS_CHARS]
        return Rendered(self._shortened(texts, cards, menu, locale), full, menu.payloads)

    def fits(self, text: str) -> bool:
        return segments(text) <= self._max_segments

    def _shortened(self, texts: list[str], cards: list[str], menu: _Menu, locale: str) -> str:
        whole = plain(_join(*texts, *cards, *menu.lines))
        if self.fits(whole):
            return whole
        hint = self._render(locale, DETAILS_HINT)
        for kept in range(len(menu.lines), 0, -1):  # the menu's tail goes first, a line a time
            candidate = plain(_join(*texts, *menu.lines[:kept], hint))
            if self.fits(candidate):
                return candidate
        body = _join(*texts)
        if menu.lines:  # the text cut, the menu's first line kept
            cut = self._cut(body, [menu.lines[0], hint], MIN_CUT_CHARS)
            if cut is not None:
                return cut
        return self._cut(body, [hint], 0) or plain(hint)

    def _cut(self, body: str, after: list[str], min_chars: int) -> str | None:
        """The longest start of `body` that fits with the lines `after` it, ending at a
        sentence's end where that keeps most of it; None when fewer than `min_chars`
        characters of it would stay."""
        whole = plain(_join(body, *after))
        if self.fits(whole):
            return whole

        def fits_cut(length: int) -> bool:
            return self.fits(plain(_join(body[:length].rstrip() + ELLIPSIS, *after)))

        if not fits_cut(0):
            return None
        low, high = 0, len(body) - 1
        while low < high:  # the longest cut that fits
            middle = (low + high + 1) // 2
            if fits_cut(middle):
                low = middle
            else:
                high = middle - 1
        if low < min_chars:
            return None
        kept = body[:low]
        ends = [m.start() for m in _SENTENCE_END.finditer(kept)]
        if ends and ends[-1] >= SENTENCE_SHARE * low:
            kept = kept[: ends[-1]].rstrip()
        else:
            kept = kept.rstrip() + ELLIPSIS if kept.strip() else ""
        return plain(_join(kept, *after))

    def _menu(self, buttons: list[Button], locale: str) -> _Menu:
        unique = list({b.payload: b for b in buttons}.values())
        rating = _rating_buttons(unique)
        lines: list[str] = []
        payloads: list[str] = []
        if rating:  # options 1-5 are the ratings themselves: "5" rates 5
            lines.append(self._render(locale, RATING_LINE))
            payloads.extend(b.payload for b in rating)
        for button in unique:
            if button in rating:
                continue
            if len(payloads) >= MAX_OPTIONS:
                break
            payloads.append(button.payload)
            option = _("Reply {number} {title}", number=str(len(payloads)), title=button.title)
            lines.append(self._render(locale, option))
        return _Menu(tuple(lines), tuple(payloads))

    def _card_line(self, card: Card, text: str, locale: str) -> str:
        """The card in one line: whatever of its number, status and due the text lacks."""
        parts = [value for value in (card.number, card.status) if value and value not in text]
        if card.due and card.due not in text:
            parts.append(self._render(locale, _("due {due}", due=card.due)))
        return " ".join(parts)

    def _card_lines(self, card: Card, locale: str) -> str:
        """The whole card, for the details."""
        lines = [" ".join(part for part in (card.title, card.number) if part)]
        labelled = [(self._render(locale, _("Status")), card.status)]
        labelled.append((self._render(locale, _("Due")), card.due))
        labelled.extend((f.label, f.value) for f in card.fields)
        for label, value in labelled:
            if value:
                lines.append(self._render(locale, _("{label}: {value}", label=label, value=value)))
        return "\n".join(lines)

    def _render(self, locale: str, text: Text) -> str:
        return self._catalogs.render(locale, text)


def _rating_buttons(buttons: list[Button]) -> list[Button]:
    """The five buttons rating one subject 1 to 5, in order; [] when there are not five."""
    by_subject: dict[str, dict[int, Button]] = {}
    for button in buttons:
        match = _RATING.match(button.payload)
        if match:
            by_subject.setdefault(match[1], {})[int(match[2])] = button
    for ratings in by_subject.values():
        if sorted(ratings) == [1, 2, 3, 4, 5]:
            return [ratings[n] for n in range(1, 6)]
    return []


def _join(*blocks: str) -> str:
    return "\n".join(block for block in blocks if block)
