"""The FAQ knowledge base: per-language entries from ``locales/<lang>/faq.yml``, matched by TF-IDF.

Each language is indexed once at load time. Its vocabulary and IDF weights come from
scikit-learn's ``TfidfVectorizer`` fitted on one document per entry (question + examples),
so a term is weighted by how few *entries* use it. Every phrase (the question and each
example) is then kept as its own L2-normalised vector in an inverted index. A query is
scored against each entry as a blend of its best phrase and the entry as a whole: the best
phrase catches a near paraphrase, the whole entry catches words spread across examples.

Matching runs in pure Python over the inverted index: for the short texts customers type
that is much cheaper than a round trip through scikit-learn's sparse machinery.
"""

from __future__ import annotations

import math
import pathlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

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
# Weight of the best single phrase against the entry as a whole (see the module docstring).
PHRASE_WEIGHT = 0.7
COUNT_UNSEEN = True

_ID_PATTERN = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_NON_WORD = re.compile(r"[\W_]+")
_LIST_ITEM = re.compile(r"^\s*-\s+")

Analyzer = Callable[[str], list[str]]
SparseVector = dict[int, float]


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

    # Calibrated on leave-one-out over the examples and checked by the held-out
    # paraphrases in tests/test_faq.py; change it only together with those.
    MATCH_THRESHOLD: ClassVar[float] = 0.3

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

    @property
    def languages(self) -> list[str]:
        """The loaded languages, default first."""
        return [self._default, *(lang for lang in self._entries if lang != self._default)]

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
        primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
        return primary if primary in self._entries else self._default


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
    """One feature space of a language: how to cut text into terms, and its share of the score."""

    analyzer: str
    ngram_range: tuple[int, int]
    weight: float
    join_words: bool = False  # Chinese needs no spaces; "5G 手机" and "5G手机" are one thing
    stop_words: frozenset[str] = frozenset()
    stem: bool = False


_SPACES: dict[str, tuple[_SpaceConfig, ...]] = {
    "zh": (_SpaceConfig("char", (1, 3), 1.0, join_words=True),),
    "en": (
        _SpaceConfig("char_wb", (2, 4), 0.5),
        _SpaceConfig("word", (1, 1), 0.5),
    ),
}


class _Space:
    """One fitted TF-IDF space: vocabulary, IDF and inverted indexes of phrases and entries."""

    def __init__(self, config: _SpaceConfig, entries: Sequence[FaqEntry]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # heavy; load time only

        self.weight = config.weight
        self._join = config.join_words
        self._stop = config.stop_words
        self._stem = config.stem
        # token_pattern only applies to word analyzers; sklearn warns when given otherwise.
        words = {"token_pattern": r"(?u)\b\w+\b"} if config.analyzer == "word" else {}
        vectorizer = TfidfVectorizer(
            analyzer=config.analyzer,
            ngram_range=config.ngram_range,
            lowercase=False,
            sublinear_tf=True,
            **words,
        )
        vectorizer.fit([self.prepare(" ".join(_phrases(entry))) for entry in entries])
        self._analyze: Analyzer = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = {
            str(term): int(column) for term, column in vectorizer.vocabulary_.items()
        }
        self._idf: list[float] = [float(value) for value in vectorizer.idf_]
        # The IDF of a term no entry uses, as scikit-learn's smoothing would give it: such
        # terms count in a query's length, so text about something else scores low.
        self._unseen_idf = math.log(len(entries) + 1) + 1.0
        self._count_unseen = COUNT_UNSEEN
        self.phrase_owner: list[int] = []
        phrase_vectors: list[SparseVector] = []
        for position, entry in enumerate(entries):
            for phrase in _phrases(entry):
                phrase_vectors.append(self.vectorise(phrase))
                self.phrase_owner.append(position)
        entry_vectors = [self.vectorise(" ".join(_phrases(entry))) for entry in entries]
        self.phrase_postings = _postings(phrase_vectors)
        self.entry_postings = _postings(entry_vectors)

    def prepare(self, text: str) -> str:
        normalised = _normalise(text)
        if self._join:
            return normalised.replace(" ", "")
        words = [w for w in normalised.split() if w not in self._stop]
        if self._stem:
            words = [_stem(w) for w in words]
        return " ".join(words)

    def vectorise(self, text: str) -> SparseVector:
        """Sublinear TF x IDF, L2-normalised over all terms, kept for known terms only."""
        counts = Counter(self._analyze(self.prepare(text)))
        vector: SparseVector = {}
        norm = 0.0
        for term, count in counts.items():
            column = self._vocabulary.get(term)
            idf = self._unseen_idf if column is None else self._idf[column]
            weight = (1.0 + math.log(count)) * idf
            if column is not None or self._count_unseen:
                norm += weight * weight
            if column is not None:
                vector[column] = weight
        if norm == 0.0:
            return {}
        scale = 1.0 / math.sqrt(norm)
        return {column: weight * scale for column, weight in vector.items()}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _phrases(entry: FaqEntry) -> tuple[str, ...]:
    return (entry.question, *entry.examples)


def _postings(vectors: Iterable[SparseVector]) -> dict[int, list[tuple[int, float]]]:
    postings: dict[int, list[tuple[int, float]]] = {}
    for row, vector in enumerate(vectors):
        for column, weight in vector.items():
            postings.setdefault(column, []).append((row, weight))
    return postings


def _dot(query: SparseVector, postings: dict[int, list[tuple[int, float]]]) -> dict[int, float]:
    """Cosine of the query with every indexed row that shares a term with it."""
    sums: dict[int, float] = {}
    for column, query_weight in query.items():
        for row, weight in postings.get(column, ()):
            sums[row] = sums.get(row, 0.0) + query_weight * weight
    return sums


class _Index:
    """A language's entries scored over its feature spaces."""

    def __init__(self, spaces: Sequence[_Space]) -> None:
        self._spaces = tuple(spaces)

    def score(self, text: str) -> dict[int, float]:
        """Entry position -> score in [0, 1], for entries sharing at least one term."""
        totals: dict[int, float] = {}
        for space in self._spaces:
            query = space.vectorise(text)
            if not query:
                continue
            best_phrase: dict[int, float] = {}
            for row, similarity in _dot(query, space.phrase_postings).items():
                owner = space.phrase_owner[row]
                if similarity > best_phrase.get(owner, 0.0):
                    best_phrase[owner] = similarity
            whole = _dot(query, space.entry_postings)
            for owner, similarity in whole.items():
                blended = PHRASE_WEIGHT * best_phrase.get(owner, 0.0)
                blended += (1.0 - PHRASE_WEIGHT) * similarity
                totals[owner] = totals.get(owner, 0.0) + space.weight * blended
        return {owner: score for owner, score in totals.items() if score > 0.0}


def _build_index(language: str, entries: Sequence[FaqEntry]) -> _Index:
    configs = _SPACES.get(language, _SPACES["en"])
    return _Index([_Space(config, entries) for config in configs])
