"""Anger and abuse in a customer's words: a reason to bring a person in at once.

A word list per language (`locales/<lang>/mood.yml`), matched after NFKC and case folding;
Latin terms only as whole words, so "shitake" or "scampi" do not count. Shouting (three or
more words in capitals, the first of four letters or more) counts too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

_SHOUTING = re.compile(r"\b[A-Z]{4,}(?:\s+[A-Z]{2,}){2,}\b")


class Mood:
    """Tells whether a message sounds angry or abusive."""

    def __init__(self, terms: Mapping[str, Iterable[str]]) -> None:
        self._patterns = {language: _pattern(words) for language, words in terms.items()}

    @classmethod
    def load(cls, locales_dir: Path, languages: Iterable[str] = ("zh", "en")) -> Mood:
        terms: dict[str, list[str]] = {}
        for language in languages:
            path = locales_dir / language / "mood.yml"
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            terms[language] = [str(term) for term in data.get("anger", [])]
        return cls(terms)

    def angry(self, text: str) -> bool:
        """Whether `text` (in any loaded language) holds anger or abuse."""
        if _SHOUTING.search(text):
            return True
        folded = unicodedata.normalize("NFKC", text).casefold()
        return any(p is not None and p.search(folded) for p in self._patterns.values())


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for word in words:
        folded = unicodedata.normalize("NFKC", word).casefold().strip()
        if not folded:
            continue
        escaped = re.escape(folded)
        parts.append(rf"\b{escaped}\b" if folded.isascii() else escaped)
    return re.compile("|".join(parts)) if parts else None
