"""The n-gram analyzers of the classifier's TF-IDF features, without scikit-learn.

They split text exactly as scikit-learn's `TfidfVectorizer(lowercase=False)` does for the
analyzers the classifier uses (tests/test_nlu_classifier.py compares them), so that a model
trained once can be loaded from the cache and used without importing scikit-learn, which
takes longer than the rest of the server's start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_WHITE_SPACES = re.compile(r"\s\s+")


@dataclass(frozen=True, slots=True)
class Analyzer:
    """One vectorizer's way of cutting text into features: "char", "char_wb" or "word"."""

    kind: str
    low: int
    high: int
    token_pattern: str = ""

    def build(self) -> Callable[[str], list[str]]:
        if self.kind == "char":
            return self._chars
        if self.kind == "char_wb":
            return self._chars_in_words
        if self.kind == "word":
            return self._words(re.compile(self.token_pattern))
        raise ValueError(f"unknown analyzer {self.kind!r}")

    def _chars(self, text: str) -> list[str]:
        text = _WHITE_SPACES.sub(" ", text)
        return [
            text[i : i + n]
            for n in range(self.low, min(self.high + 1, len(text) + 1))
            for i in range(len(text) - n + 1)
        ]

    def _chars_in_words(self, text: str) -> list[str]:
        grams: list[str] = []
        for word in _WHITE_SPACES.sub(" ", text).split():
            padded = f" {word} "
            for n in range(self.low, self.high + 1):
                offset = 0
                grams.append(padded[offset : offset + n])
                while offset + n < len(padded):
                    offset += 1
                    grams.append(padded[offset : offset + n])
                if offset == 0:  # a word shorter than n counts once
                    break
        return grams

    def _words(self, pattern: re.Pattern[str]) -> Callable[[str], list[str]]:
        def analyze(text: str) -> list[str]:
            tokens = pattern.findall(text)
            return [
                " ".join(tokens[i : i + n])
                for n in range(self.low, min(self.high + 1, len(tokens) + 1))
                for i in range(len(tokens) - n + 1)
            ]

        return analyze
