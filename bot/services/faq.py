"""The FAQ knowledge base: per-language entries from ``locales/<lang>/faq.yml``, matched by TF-IDF.

Each language is indexed once, at load time. An entry is one document, its question and
examples together; its vocabulary and IDF weights are what scikit-learn's smoothed
``TfidfVectorizer`` would give (character n-grams for Chinese; character n-grams within
words plus whole words for English), computed without importing scikit-learn, which would
cost the server a second at start. A message is scored by cosine similarity with each entry.
Scoring whole entries rather than their closest single example did better in
leave-one-out tests: the words of a paraphrase are usually spread over several examples.

Matching runs in pure Python over an inverted index: for the short texts customers type
that is far cheaper than a round trip through scikit-learn's sparse matrices.
"""

from __future__ import annotations

import math
import pathlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from bot.i18n import negotiate
from bot.nlu.analyzers import Analyzer

__all__ = ["TOPICS", "Faq", "FaqEntry", "FaqMatch"]

TOPICS: tuple[str, ...] = (
    "plans",
    "billing",
    "broadband",
    "roaming",
    "porting",
    "outages",
    "5g",
    "stores",
    "sim",
    "privacy",
    "services",
)
DEFAULT_LANGUAGE = "zh"
FILE_NAME = "faq.yml"
FORMAT_VERSION = "1"

# A FAQ question is a sentence or two; anything longer is not a question we can answer from
# a button list, and capping it keeps the per-turn cost bounded whatever a client sends.
MAX_QUERY_CHARS = 300

_ID_PATTERN = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_NON_WORD = re.compile(r"[\W_]+")
_LIST_ITEM = re.compile(r"^\s*-\s+")


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question and its answer; ``related`` are ids of follow-up entries."""

    id: str
    topic: str
    question: str
    answer: str
    related: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """An entry and how well a text matched it, from 0 (nothing shared) to 1."""

    entry: FaqEntry
    score: float


class Faq:
    """All languages' FAQ entries, each language with its own matching index."""

    # Scores are calibrated per language so that this one value holds for all of them
    # (see _LanguageConfig); the held-out paraphrases in tests/test_faq.py check it.
    MATCH_THRESHOLD: ClassVar[float] = 0.5

    def __init__(self, entries: Mapping[str, Sequence[FaqEntry]]) -> None:
        if not entries:
            raise ValueError("FAQ needs at least one language")
        self._entries = {lang: tuple(items) for lang, items in entries.items()}
        self._by_id = {
            lang: {entry.id: entry for entry in items} for lang, items in self._entries.items()
        }
        self._indexes = {lang: _build_index(lang, items) for lang, items in self._entries.items()}
        self._default = DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in entries else next(iter(entries))

    @classmethod
    def load(cls, locales_dir: pathlib.Path, languages: Sequence[str] = ("zh", "en")) -> Faq:
        """Read ``<locales_dir>/<lang>/faq.yml`` for each language; ValueError if inconsistent."""
        entries = {lang: _read_file(locales_dir / lang / FILE_NAME) for lang in languages}
        _check_same_ids(entries)
        return cls(entries)

    def get(self, language: str, entry_id: str) -> FaqEntry | None:
        """The entry with this id, or None."""
        return self._by_id[self._resolve(language)].get(entry_id)

    def match(self, text: str, language: str, *, limit: int = 3) -> list[FaqMatch]:
        """Up to ``limit`` entries most like ``text``, best first; [] for blank text."""
        lang = self._resolve(language)
        if limit <= 0:
            return []
        index = self._indexes[lang]
        scores = index.score(text[:MAX_QUERY_CHARS])
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        entries = self._entries[lang]
        return [FaqMatch(entries[position], min(score, 1.0)) for position, score in ranked]

    def topics(self, language: str) -> list[str]:
        """Topics that have entries, in the canonical order of ``TOPICS``."""
        present = {entry.topic for entry in self._entries[self._resolve(language)]}
        return [topic for topic in TOPICS if topic in present]

    def by_topic(self, language: str, topic: str) -> list[FaqEntry]:
        """A topic's entries in file order; [] for an unknown topic."""
        return [entry for entry in self._entries[self._resolve(language)] if entry.topic == topic]

    def _resolve(self, language: str) -> str:
        """``zh-CN``, ``en_US`` and the like to a loaded language; unknown to the default."""
        if language in self._entries:  # the engine's turns: already negotiated
            return language
        negotiated = negotiate([language], self._default)
        return negotiated if negotiated in self._entries else self._default


# ----------------------------------------------------------------------------- loading


def _read_file(path: pathlib.Path) -> list[FaqEntry]:
    """Parse and check one language's file."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise ValueError(f"{path}: expected a mapping with an 'entries' list")
    if str(document.get("version")) != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported version {document.get('version')!r}")
    entries = [_parse_entry(path, number, raw) for number, raw in enumerate(document["entries"])]
    _check_ids(path, entries)
    return entries


def _parse_entry(path: pathlib.Path, number: int, raw: Any) -> FaqEntry:
    where = f"{path}: entry #{number + 1}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping")
    fields = {name: _text_field(where, raw, name) for name in ("id", "topic", "question", "answer")}
    where = f"{path}: entry '{fields['id']}'"
    if not _ID_PATTERN.fullmatch(fields["id"]):
        raise ValueError(f"{where}: id must be snake_case")
    if fields["topic"] not in TOPICS:
        raise ValueError(f"{where}: unknown topic '{fields['topic']}' (one of {', '.join(TOPICS)})")
    related = raw.get("related", [])
    if not isinstance(related, list) or not all(isinstance(item, str) for item in related):
        raise ValueError(f"{where}: 'related' must be a list of ids")
    return FaqEntry(
        id=fields["id"],
        topic=fields["topic"],
        question=fields["question"].strip(),
        answer=fields["answer"].strip(),
        related=tuple(related),
        examples=_parse_examples(where, raw.get("examples", "")),
    )


def _text_field(where: str, raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{name}' must be a non-empty string")
    return value


def _parse_examples(where: str, raw: Any) -> tuple[str, ...]:
    """Rasa style ``- item`` lines in one text block, or a plain YAML list."""
    if isinstance(raw, str):
        lines = [_LIST_ITEM.sub("", line) for line in raw.splitlines()]
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        lines = raw
    else:
        raise ValueError(f"{where}: 'examples' must be a text block of '- ' lines or a list")
    return tuple(line.strip() for line in lines if line.strip())


def _check_ids(path: pathlib.Path, entries: Sequence[FaqEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ValueError(f"{path}: duplicate FAQ id '{entry.id}'")
        seen.add(entry.id)
    for entry in entries:
        for target in entry.related:
            if target not in seen:
                raise ValueError(f"{path}: entry '{entry.id}' relates to unknown id '{target}'")
            if target == entry.id:
                raise ValueError(f"{path}: entry '{entry.id}' relates to itself")


def _check_same_ids(entries: Mapping[str, Sequence[FaqEntry]]) -> None:
    """Every language must answer the same questions, or a language switch loses answers."""
    ids = {lang: {entry.id for entry in items} for lang, items in entries.items()}
    everything = set().union(*ids.values()) if ids else set()
    problems = [
        f"missing in '{lang}': {', '.join(sorted(everything - present))}"
        for lang, present in ids.items()
        if everything - present
    ]
    if problems:
        raise ValueError("FAQ ids differ between languages: " + "; ".join(problems))


# ----------------------------------------------------------------------------- matching


def _normalise(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, punctuation and symbols as spaces."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


@dataclass(frozen=True, slots=True)
class _SpaceConfig:
    """One feature space: how text is cut into terms, and its share of the similarity."""

    analyzer: str
    ngram_range: tuple[int, int]
    weight: float
    join_words: bool = False  # Chinese needs no spaces: "5G 手机" and "5G手机" are one thing


@dataclass(frozen=True, slots=True)
class _LanguageConfig:
    """A language's feature spaces and the similarity at which a match becomes confident.

    Chinese character n-grams give lower cosines than English words for equally good
    paraphrases, so each language's raw similarity is calibrated onto one scale on which
    ``Faq.MATCH_THRESHOLD`` means the same thing. ``confident_at`` was chosen by
    leave-one-out over the examples against a set of off-topic messages: the lowest raw
    similarity that no more than one in 24 off-topic messages reaches.
    """

    spaces: tuple[_SpaceConfig, ...]
    confident_at: float


_LANGUAGES: dict[str, _LanguageConfig] = {
    "zh": _LanguageConfig((_SpaceConfig("char", (1, 3), 1.0, join_words=True),), 0.12),
    "en": _LanguageConfig(
        (_SpaceConfig("char_wb", (2, 4), 0.5), _SpaceConfig("word", (1, 1), 0.5)), 0.20
    ),
}


class _Space:
    """One fitted TF-IDF space: its vocabulary, IDF and an inverted index of the entries."""

    def __init__(self, config: _SpaceConfig, documents: Sequence[Sequence[str]]) -> None:
        self.weight = config.weight
        self._join = config.join_words
        pattern = r"(?u)\b\w+\b" if config.analyzer == "word" else ""
        low, high = config.ngram_range
        self._analyze = Analyzer(config.analyzer, low, high, pattern).build()
        # An entry's document is its phrases analysed one by one, so no n-gram runs from
        # the end of one example into the start of the next. IDF as scikit-learn smooths it.
        frequencies = Counter(
            term for phrases in documents for term in set(self._analyze_phrases(phrases))
        )
        terms = sorted(frequencies)
        self._vocabulary = {term: column for column, term in enumerate(terms)}
        count = len(documents)
        self._idf = [math.log((1 + count) / (1 + frequencies[term])) + 1.0 for term in terms]
        # What scikit-learn's smoothing gives a term no entry uses. Such terms count in a
        # query's length, so a message mostly about something else scores low.
        self._unseen_idf = math.log(len(documents) + 1) + 1.0
        self._postings: dict[int, list[tuple[int, float]]] = {}
        for row, phrases in enumerate(documents):
            for column, weight in self._vectorise(self._analyze_phrases(phrases)).items():
                self._postings.setdefault(column, []).append((row, weight))

    def similarities(self, text: str) -> dict[int, float]:
        """Cosine of ``text`` with every entry that shares a term with it."""
        sums: dict[int, float] = {}
        for column, query_weight in self._vectorise(self._analyze(self._prepare(text))).items():
            for row, weight in self._postings.get(column, ()):
                sums[row] = sums.get(row, 0.0) + query_weight * weight
        return sums

    def _analyze_phrases(self, phrases: Sequence[str]) -> list[str]:
        return [term for phrase in phrases for term in self._analyze(self._prepare(phrase))]

    def _vectorise(self, terms: Sequence[str]) -> dict[int, float]:
        """Sublinear TF x IDF, L2-normalised over all terms, kept for known terms only."""
        counts = Counter(terms)
        vector: dict[int, float] = {}
        norm = 0.0
        for term, count in counts.items():
            column = self._vocabulary.get(term)
            weight = (1.0 + math.log(count)) * (
                self._unseen_idf if column is None else self._idf[column]
            )
            norm += weight * weight
            if column is not None:
                vector[column] = weight
        if not vector:
            return {}
        scale = 1.0 / math.sqrt(norm)
        return {column: weight * scale for column, weight in vector.items()}

    def _prepare(self, text: str) -> str:
        normalised = _normalise(text)
        return normalised.replace(" ", "") if self._join else normalised


class _Index:
    """A language's entries, one document each (question + examples), over its spaces."""

    def __init__(self, config: _LanguageConfig, entries: Sequence[FaqEntry]) -> None:
        documents = [(entry.question, *entry.examples) for entry in entries]
        self._spaces = tuple(_Space(space, documents) for space in config.spaces)
        self._confident_at = config.confident_at

    def score(self, text: str) -> dict[int, float]:
        """Entry position -> calibrated score in [0, 1], for entries sharing a term."""
        raw: dict[int, float] = {}
        for space in self._spaces:
            for row, similarity in space.similarities(text).items():
                raw[row] = raw.get(row, 0.0) + space.weight * similarity
        return {row: self._calibrate(value) for row, value in raw.items() if value > 0.0}

    def _calibrate(self, raw: float) -> float:
        """Piecewise linear and increasing: 0 -> 0, ``confident_at`` -> threshold, 1 -> 1."""
        threshold, knee = Faq.MATCH_THRESHOLD, self._confident_at
        if raw < knee:
            return threshold * raw / knee
        return min(1.0, threshold + (1.0 - threshold) * (raw - knee) / (1.0 - knee))


def _build_index(language: str, entries: Sequence[FaqEntry]) -> _Index:
    return _Index(_LANGUAGES.get(language, _LANGUAGES["en"]), entries)
