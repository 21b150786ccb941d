"""The intent classifier: cross-validated accuracy, its fast scorer, the fallback threshold."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from bot.nlu import IntentScore
from bot.nlu.classifier import (
    IntentClassifier,
    LinearScorer,
    apply_threshold,
    build_pipeline,
    prepare,
    softmax,
)
from bot.nlu.data import TrainingData, load_training_data
from bot.nlu.evaluate import run_test

LOCALES = pathlib.Path(__file__).resolve().parent.parent / "locales"
REQUIRED_ACCURACY = 0.95


@pytest.fixture(scope="module")
def report() -> tuple[str, dict[str, float]]:
    return run_test(LOCALES, ("zh", "en"), folds=5)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_cross_validated_accuracy(report: tuple[str, dict[str, float]], language: str) -> None:
    text, accuracies = report
    assert accuracies[language] >= REQUIRED_ACCURACY, text


def test_report_lists_every_intent_and_the_confusions(report: tuple[str, dict[str, float]]) -> None:
    text, accuracies = report
    for language in ("zh", "en"):
        assert f"== {language}:" in text
        assert f"accuracy {accuracies[language]:.3f}" in text
    for intent in ("greet", "book_appointment", "out_of_scope"):
        assert text.count(f"\n{intent} ") == 2
    assert text.count("top confusions") == 2


@pytest.mark.parametrize("language", ["zh", "en"])
def test_fast_scorer_matches_scikit_learn(language: str) -> None:
    data = load_training_data(LOCALES, language)
    pipeline = build_pipeline(language).fit([prepare(t) for t in data.texts], data.intents)
    scorer = LinearScorer.from_pipeline(pipeline)
    # Texts whose n-grams were all seen in training score exactly as scikit-learn does.
    for text in data.texts[::37]:
        expected = pipeline.decision_function([prepare(text)])[0]
        assert np.allclose(scorer.margins(prepare(text)), expected)


def test_unseen_ngrams_lower_the_confidence() -> None:
    data = load_training_data(LOCALES, "en")
    classifier = IntentClassifier.train(data)
    plain = classifier.rank("5")[0]
    buried = classifier.rank("zqxj wvkp 5 blorf")[0]
    assert plain.name == "rate_service"
    assert buried.confidence < plain.confidence - 0.3


def test_training_is_deterministic() -> None:
    data = load_training_data(LOCALES, "zh")
    first = IntentClassifier.train(data).rank("宽带断了")
    second = IntentClassifier.train(data).rank("宽带断了")
    assert first == second


def test_two_intents_are_enough() -> None:
    data = TrainingData("en", ("hi", "hello", "bye", "goodbye"), ("greet", "greet", "bye", "bye"))
    classifier = IntentClassifier.train(data, threshold=0.0)
    assert classifier.rank("hello there")[0].name == "greet"
    assert classifier.rank("goodbye then")[0].name == "bye"


def test_softmax() -> None:
    confidences = softmax(np.array([1.0, 0.0, -1.0]))
    assert confidences.sum() == pytest.approx(1.0)
    assert list(confidences) == sorted(confidences, reverse=True)


def test_threshold_puts_out_of_scope_first() -> None:
    ranking = [
        IntentScore("consult", 0.2),
        IntentScore("out_of_scope", 0.1),
        IntentScore("greet", 0.05),
    ]
    assert apply_threshold(ranking, 0.3) == (
        IntentScore("out_of_scope", 0.3),
        IntentScore("consult", 0.2),
        IntentScore("greet", 0.05),
    )


def test_threshold_leaves_confident_rankings_alone() -> None:
    ranking = [IntentScore("consult", 0.8), IntentScore("out_of_scope", 0.1)]
    assert apply_threshold(ranking, 0.3) == tuple(ranking)


def test_prepare_makes_long_numbers_alike() -> None:
    assert prepare("CX C2611230040") == prepare("cx c2611240012")
    assert prepare("138 and 13800138000") == "138 and 00000"
    assert len(prepare("x" * 5000)) == 1000


def test_a_repeated_text_is_ranked_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    data = TrainingData("en", ("hi", "hello", "bye", "goodbye"), ("greet", "greet", "bye", "bye"))
    classifier = IntentClassifier.train(data, threshold=0.0)
    scored: list[str] = []
    margins = classifier.scorer.margins

    def counting(text: str) -> np.ndarray:
        scored.append(text)
        return margins(text)

    monkeypatch.setattr(classifier.scorer, "margins", counting)
    classifier.keep_rankings(2)
    first = classifier.rank("hello there")
    assert classifier.rank("hello there") == first and len(scored) == 1
    classifier.rank("goodbye then")
    classifier.rank("bye now")  # the oldest falls out
    assert classifier.rank("hello there") == first and len(scored) == 4
    classifier.keep_rankings(0)
    classifier.rank("hello there")
    classifier.rank("hello there")
    assert len(scored) == 6


def test_texts_the_model_sees_alike_share_a_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    data = TrainingData("en", ("hi", "hello", "bye", "goodbye"), ("greet", "greet", "bye", "bye"))
    classifier = IntentClassifier.train(data, threshold=0.0)
    scored: list[str] = []
    margins = classifier.scorer.margins

    def counting(text: str) -> np.ndarray:
        scored.append(text)
        return margins(text)

    monkeypatch.setattr(classifier.scorer, "margins", counting)
    classifier.keep_rankings(8)
    first = classifier.rank("Hello, call me on 13800138000")
    assert classifier.rank("hello, call me on 13900139000") == first
    assert len(scored) == 1
