"""Training data in Rasa 3's ``nlu.yml`` format, one file per language: ``locales/<lang>/nlu.yml``.

Only intent examples are read. Rasa's inline entity annotations (``[C2611230040](case_number)``
or ``[text]{"entity": ...}``) are reduced to their text, so that Rasa users can bring their
files; Shouwen's extractors find entities without training.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

import yaml

_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


class NluDataError(ValueError):
    """An nlu.yml file that cannot be used for training."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """The examples of one language, as parallel tuples of text and intent."""

    language: str
    texts: tuple[str, ...]
    intents: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """How many examples each intent has."""
        counts: dict[str, int] = {}
        for intent in self.intents:
            counts[intent] = counts.get(intent, 0) + 1
        return counts


def data_path(locales_dir: pathlib.Path, language: str) -> pathlib.Path:
    """Where a language's training data lives."""
    return locales_dir / language / "nlu.yml"


def load_training_data(locales_dir: pathlib.Path, language: str) -> TrainingData:
    """Read ``locales/<language>/nlu.yml``."""
    path = data_path(locales_dir, language)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NluDataError(f"cannot read {path}: {exc}") from exc
    texts: list[str] = []
    intents: list[str] = []
    for intent, example in _examples(document, path):
        texts.append(example)
        intents.append(intent)
    if len(set(intents)) < 2:
        raise NluDataError(f"{path}: need examples of at least two intents")
    return TrainingData(language=language, texts=tuple(texts), intents=tuple(intents))


def _examples(document: object, path: pathlib.Path) -> list[tuple[str, str]]:
    if not isinstance(document, dict) or not isinstance(document.get("nlu"), list):
        raise NluDataError(f"{path}: expected a mapping with an 'nlu' list")
    pairs: list[tuple[str, str]] = []
    for item in document["nlu"]:
        if not isinstance(item, dict) or "intent" not in item:
            continue  # synonyms, regexes and lookup tables are Rasa's business, not ours
        examples = item.get("examples")
        if not isinstance(examples, str):
            raise NluDataError(f"{path}: intent {item['intent']!r} has no examples block")
        pairs.extend((str(item["intent"]), text) for text in parse_examples(examples))
    return pairs


def parse_examples(block: str) -> list[str]:
    """The texts of an ``examples: |`` block: one ``- text`` a line, annotations removed."""
    texts = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith("-"):
            continue
        text = _ANNOTATION.sub(r"\g<text>", line[1:].strip())
        if text:
            texts.append(text)
    return texts
