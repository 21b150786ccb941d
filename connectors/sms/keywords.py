"""SMS keywords: what a short text stands for, read before the engine sees it.

An SMS customer has no buttons, so the edge turns their short codes into the payloads a
button would have sent: `CX C2611230042` shows that case, `人工` asks for a person, `TD`
stops notices, a digit picks an option of the last numbered menu, `XQ` asks for the whole
of the last message. The words live in `keywords.yml`; anything else is text for the engine.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.services.numbers import parse_number

KEYWORDS_FILE = Path(__file__).resolve().parent / "keywords.yml"
MEANINGS = ("progress", "human", "stop", "details")
# What a keyword presses, for those that stand for one fixed button.
_PAYLOADS = {"human": "cmd:human", "stop": "cmd:stop"}
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")
# Between a progress word and its number: "CX C2611230042", "进度：C2611230042", "CX#C26…".
_SEPARATORS = " :#"
_OPTION = re.compile(r"^[1-9]$")


@dataclass(frozen=True, slots=True)
class Reading:
    """What an SMS asks for at the edge; at most one of payload, option and details."""

    payload: str | None = None  # the button press the message stands for
    option: int | None = None  # the number of an option of the last menu (1-9)
    details: bool = False  # the whole of the last message, unshortened
    locale: str | None = None  # the language of the keyword, when a keyword was used


def fold(text: str) -> str:
    """NFKC, case-folded, single spaces, no punctuation at either end."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    return _EDGES.sub("", text.strip())


class Keywords:
    """The table of `keywords.yml`: folded word -> (meaning, language)."""

    def __init__(self, words: dict[str, tuple[str, str]]) -> None:
        self._words = words
        # Longest first, so that "查询进度 C…" is not read as "查询" followed by junk.
        self._progress = sorted(
            ((w, lang) for w, (meaning, lang) in words.items() if meaning == "progress"),
            key=lambda item: -len(item[0]),
        )

    @classmethod
    def load(cls, path: Path = KEYWORDS_FILE) -> Keywords:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
        words: dict[str, tuple[str, str]] = {}
        for meaning, languages in table.items():
            if meaning not in MEANINGS:
                raise ValueError(f"{path.name}: unknown keyword meaning {meaning!r}")
            for language, listed in languages.items():
                for word in listed:
                    words[fold(str(word))] = (meaning, str(language))
        return cls(words)

    def read(self, text: str) -> Reading | None:
        """What the message stands for; None when it is ordinary text for the engine."""
        folded = fold(text)
        if not folded:
            return None
        if _OPTION.match(folded):
            return Reading(option=int(folded))
        meaning, language = self._words.get(folded, ("", ""))
        if meaning == "details":
            return Reading(details=True, locale=language)
        if meaning in _PAYLOADS:
            return Reading(payload=_PAYLOADS[meaning], locale=language)
        return self._progress_of(folded)

    def _progress_of(self, folded: str) -> Reading | None:
        """A progress word, with or without a number."""
        rest, language = folded, None
        for word, word_language in self._progress:
            if folded.startswith(word):
                rest, language = folded[len(word) :].lstrip(_SEPARATORS), word_language
                break
        if language is None:
            # A number alone is the engine's to read: a flow may have asked for it (which
            # appointment to move?), and with none running it looks the number up itself.
            return None
        if not rest:
            return Reading(payload="progress:mine", locale=language)
        parsed = parse_number(rest)
        if parsed is None or not parsed.valid:
            # A mistyped number goes to the engine as it was sent: the progress flow
            # reads it there and says which digit does not fit.
            return None
        return Reading(payload=f"progress:show:{rest.upper()}", locale=language)
