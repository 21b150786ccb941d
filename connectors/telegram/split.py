"""Lines of text with simple formatting as Telegram HTML, split into messages that fit.

Telegram refuses a message over 4,096 characters. Text is escaped here, and split before
it is escaped, so a cut never falls inside an HTML tag or entity; a span cut in two is
closed at the end of one message and opened again in the next. A cut goes at the
strongest boundary that fits: a paragraph, else a line, a sentence, a word, and only for
one unbroken run longer than a message, a character.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

MAX_MESSAGE = 4096

# How good a place to cut before a piece is; NEVER for the first piece of the text.
NEVER, CHARACTER, WORD, SENTENCE, LINE, PARAGRAPH = range(6)
# A word with the spaces after it, or spaces alone.
_WORDS = re.compile(r"\S+\s*|\s+")
# Chinese sentence ends need no space after them: cut right behind one.
_AFTER_CJK_END = re.compile(r"(?<=[。！？；…])")
_SENTENCE_END = ("。", "！", "？", "；", "…", ".", "!", "?", ";", ":", "：")


@dataclass(frozen=True, slots=True)
class Span:
    """Text with at most one tag around it ("b", "i", "code")."""

    text: str
    tag: str | None = None


Line = Sequence[Span]


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    tag: str | None
    span: int  # which span it comes from: pieces of one span share one pair of tags
    cut: int  # how good a place to cut before it
    breaks: int  # newlines before it, unless it starts a message


def split_html(lines: Sequence[Line], limit: int = MAX_MESSAGE) -> list[str]:
    """The lines as HTML messages of at most `limit` UTF-16 code units each (the unit
    Telegram counts in; the markup is counted too, so the visible text is shorter)."""
    pieces = _pieces(lines)
    messages: list[str] = []
    while pieces:
        end = _cut(pieces, limit)
        if end == 0:  # one unbroken run longer than a message
            pieces[:1] = _break_piece(pieces[0], limit)
            continue
        message = _render(pieces[:end])
        if message:
            messages.append(message)
        pieces = pieces[end:]
    return messages


def _pieces(lines: Sequence[Line]) -> list[_Piece]:
    pieces: list[_Piece] = []
    breaks = 0
    span_id = 0
    for line in lines:
        if not any(span.text.strip() for span in line):
            breaks += 1  # a blank line: the next line starts a paragraph
            continue
        first_in_line = True
        for span in line:
            span_id += 1
            previous = ""
            for word in _words(span.text):
                if first_in_line:
                    cut = PARAGRAPH if breaks > 1 else LINE
                    newlines = min(breaks, 2) if pieces else 0
                else:
                    cut = SENTENCE if previous.rstrip().endswith(_SENTENCE_END) else WORD
                    newlines = 0
                pieces.append(_Piece(word, span.tag, span_id, cut if pieces else NEVER, newlines))
                first_in_line, previous = False, word
        breaks = 1
    return pieces


def _words(text: str) -> list[str]:
    return [part for word in _WORDS.findall(text) for part in _AFTER_CJK_END.split(word) if part]


def _cost(piece: _Piece, previous: _Piece | None) -> int:
    """What the piece adds to a message after `previous` (None: it starts the message)."""
    size = _utf16(html.escape(piece.text))
    if previous is not None:
        size += piece.breaks
    if piece.tag and (previous is None or previous.span != piece.span):
        size += 2 * len(piece.tag) + 5  # <tag></tag>
    return size


def _cut(pieces: list[_Piece], limit: int) -> int:
    """How many pieces the next message takes: up to the strongest cut that fits."""
    size, previous, fitting = 0, None, 0
    for piece in pieces:
        size += _cost(piece, previous)
        if size > limit:
            break
        previous = piece
        fitting += 1
    else:
        return len(pieces)
    if fitting == 0:
        return 0
    # Cut before piece `end`: the strongest boundary, the latest among equals.
    return max(range(1, fitting + 1), key=lambda end: (pieces[end].cut, end))


def _break_piece(piece: _Piece, limit: int) -> list[_Piece]:
    """A piece too long for any message, as a head that fills one and the rest."""
    room = limit - (2 * len(piece.tag) + 5 if piece.tag else 0)
    size, end = 0, 0
    while end < len(piece.text):
        size += _utf16(html.escape(piece.text[end]))
        if size > room:
            break
        end += 1
    end = max(end, 1)
    head = replace(piece, text=piece.text[:end])
    tail = replace(piece, text=piece.text[end:], cut=CHARACTER, breaks=0)
    return [head, tail] if tail.text else [head]


def _render(pieces: Sequence[_Piece]) -> str:
    out: list[str] = []
    previous: _Piece | None = None
    for piece in pieces:
        new_span = previous is None or previous.span != piece.span
        if new_span and previous is not None and previous.tag:
            out.append(f"</{previous.tag}>")
        if previous is not None:
            out.append("\n" * piece.breaks)
        if new_span and piece.tag:
            out.append(f"<{piece.tag}>")
        out.append(html.escape(piece.text))
        previous = piece
    if previous is not None and previous.tag:
        out.append(f"</{previous.tag}>")
    return "".join(out).strip()


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
