"""Cross-validation of the intent classifier, for ``shouwen nlu test``.

Each fold trains an `IntentClassifier` exactly as `Nlu.load` does and ranks the held-out
examples through the same code as `Nlu.parse`, threshold included, so the figures are the
ones customers get.
"""

from __future__ import annotations

import pathlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from bot.nlu.classifier import IntentClassifier
from bot.nlu.data import TrainingData, load_training_data

TOP_CONFUSIONS = 10
SEED = 0  # fixed folds: the same data gives the same report


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Held-out predictions of one language, with the measures computed from them."""

    language: str
    truth: tuple[str, ...]
    predicted: tuple[str, ...]
    texts: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        hits = sum(t == p for t, p in zip(self.truth, self.predicted, strict=True))
        return hits / len(self.truth) if self.truth else 0.0

    def confusions(self) -> list[tuple[tuple[str, str], int]]:
        """(true, predicted) pairs that differ, most frequent first."""
        pairs = Counter((t, p) for t, p in zip(self.truth, self.predicted, strict=True) if t != p)
        return pairs.most_common(TOP_CONFUSIONS)


def cross_validate(data: TrainingData, folds: int = 5) -> Evaluation:
    """Stratified k-fold predictions for every example of `data`."""
    folds = max(2, min(folds, min(data.counts().values())))
    predicted = [""] * len(data.texts)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for train_index, test_index in splitter.split(data.texts, data.intents):
        fold = TrainingData(
            language=data.language,
            texts=tuple(data.texts[i] for i in train_index),
            intents=tuple(data.intents[i] for i in train_index),
        )
        classifier = IntentClassifier.train(fold)
        for i in test_index:
            predicted[i] = classifier.rank(data.texts[i])[0].name
    return Evaluation(data.language, data.intents, tuple(predicted), data.texts)


def report(evaluation: Evaluation, folds: int) -> str:
    """A plain-text report: per-intent precision, recall, F1, then the top confusions."""
    labels = sorted(set(evaluation.truth))
    precision, recall, f1, support = precision_recall_fscore_support(
        evaluation.truth, evaluation.predicted, labels=labels, zero_division=0
    )
    lines = [
        f"== {evaluation.language}: {len(evaluation.truth)} examples, {folds}-fold "
        f"cross-validation, accuracy {evaluation.accuracy:.3f}",
        f"{'intent':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}",
    ]
    for i, label in enumerate(labels):
        lines.append(
            f"{label:<20} {precision[i]:>9.3f} {recall[i]:>7.3f} {f1[i]:>6.3f} {support[i]:>8d}"
        )
    lines.append("top confusions (true -> predicted: count):")
    confusions = evaluation.confusions()
    lines.extend(f"  {t} -> {p}: {n}" for (t, p), n in confusions)
    if not confusions:
        lines.append("  none")
    return "\n".join(lines)


def run_test(
    locales_dir: pathlib.Path, languages: Sequence[str], folds: int = 5
) -> tuple[str, dict[str, float]]:
    """Cross-validate each language; the report text and each language's accuracy."""
    sections = []
    accuracies: dict[str, float] = {}
    for language in languages:
        evaluation = cross_validate(load_training_data(locales_dir, language), folds)
        sections.append(report(evaluation, folds))
        accuracies[language] = evaluation.accuracy
    return "\n\n".join(sections), accuracies
