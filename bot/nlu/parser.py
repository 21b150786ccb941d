"""The NLU the engine holds: one classifier per language plus the entity extractors.

Built once at start (`Nlu.load`), then `parse` is a plain CPU call of well under a
millisecond for an ordinary message, safe to run on the event loop.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.i18n import negotiate
from bot.nlu import model_cache
from bot.nlu.classifier import DEFAULT_THRESHOLD, IntentClassifier
from bot.nlu.data import TrainingData, load_training_data
from bot.nlu.entities import EntityExtractor
from bot.nlu.results import Parse

DEFAULT_LANGUAGE = "zh"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
# A word, not letters inside a code or a mistyped number ("138OO138OOO", "A26112").
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")
# Full-width ASCII to ASCII and C0/C1 controls to spaces, one character for one, so entity
# offsets still point into the text the customer sent.
_CLEAN = str.maketrans(
    {chr(0xFF01 + i): chr(0x21 + i) for i in range(94)}
    | {0x3000: " "}
    | {c: " " for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
)


class Nlu:
    """Intent classification and entity extraction in the loaded languages."""

    def __init__(
        self, classifiers: Mapping[str, IntentClassifier], entities: EntityExtractor
    ) -> None:
        if not classifiers:
            raise ValueError("an Nlu needs at least one language")
        self.classifiers = dict(classifiers)
        self.entities = entities

    @classmethod
    def load(
        cls,
        locales_dir: pathlib.Path,
        languages: Sequence[str] = ("zh", "en"),
        *,
        timezone: str = "Asia/Shanghai",
        cache_dir: pathlib.Path | None = None,
    ) -> Nlu:
        """A classifier per language from ``locales/<lang>/nlu.yml``: trained, or taken from
        `cache_dir` when a model of the same data is stored there (and stored after training)."""
        classifiers = {
            language: _classifier(load_training_data(locales_dir, language), cache_dir)
            for language in languages
        }
        entities = EntityExtractor(timezone)
        entities.warm_up()
        return cls(classifiers, entities)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.classifiers)

    def language_for(self, language: str | None) -> str:
        """The loaded language to use for `language` ("en-US" -> "en"); else the default."""
        if language in self.classifiers:  # the engine's turns: already negotiated
            return language
        fallback = (
            DEFAULT_LANGUAGE
            if DEFAULT_LANGUAGE in self.classifiers
            else next(iter(self.classifiers))
        )
        negotiated = negotiate([language], fallback)
        return negotiated if negotiated in self.classifiers else fallback

    def parse(self, text: str, language: str, *, now: datetime | None = None) -> Parse:
        """Intent ranking and entities of one message."""
        language = self.language_for(language)
        clean = text.translate(_CLEAN)
        ranking = self.classifiers[language].rank(clean)
        moment = now if now is not None else datetime.now(self.entities.times.zone)
        return Parse(
            text=text,
            language=language,
            intent=ranking[0],
            ranking=ranking,
            entities=self.entities.extract(clean, moment),
        )

    def keep_rankings(self, size: int) -> None:
        """How many recent texts' intent rankings each language keeps (0: none)."""
        for classifier in self.classifiers.values():
            classifier.keep_rankings(size)

    def detect_language(self, text: str) -> str | None:
        """ "zh" if the text has CJK, "en" if it has two Latin words and no CJK, else None."""
        if _CJK.search(text):
            return "zh"
        if len(_LATIN_WORD.findall(text.translate(_CLEAN))) >= 2:
            return "en"
        return None


def _classifier(data: TrainingData, cache_dir: pathlib.Path | None) -> IntentClassifier:
    if cache_dir is None:
        return IntentClassifier.train(data)
    key = model_cache.model_key(data)
    scorer = model_cache.load(cache_dir, key)
    if scorer is not None:
        return IntentClassifier(data.language, scorer, DEFAULT_THRESHOLD)
    trained = IntentClassifier.train(data)
    model_cache.save(cache_dir, key, trained.scorer)
    return trained


def run_parse(nlu: Nlu, text: str, language: str) -> str:
    """Pretty JSON of one parse, for ``shouwen nlu parse TEXT``."""
    return json.dumps(nlu.parse(text, language).as_rasa(), ensure_ascii=False, indent=2)
