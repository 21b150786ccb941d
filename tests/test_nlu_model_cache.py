"""Trained models from disk: same analyzers as scikit-learn, same rankings, no retraining."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu import model_cache
from bot.nlu.analyzers import Analyzer
from bot.nlu.classifier import IntentClassifier
from bot.nlu.data import TrainingData, load_training_data
from bot.nlu.parser import Nlu
from bot.settings import LOCALES_DIR

TEXTS = [
    "宽带断了，  修了三天还没好",
    "I  want to book a broadband installation tomorrow at 3pm",
    "a",
    "",
    "ok\tthen\n\nbye",
    "C2611230040 进度怎么样？",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize(
    ("analyzer", "options"),
    [
        (Analyzer("char", 1, 3), {"analyzer": "char", "ngram_range": (1, 3)}),
        (Analyzer("char_wb", 2, 5), {"analyzer": "char_wb", "ngram_range": (2, 5)}),
        (
            Analyzer("word", 1, 2, r"(?u)\b\w+\b"),
            {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b"},
        ),
    ],
)
def test_the_analyzers_cut_text_as_scikit_learn_does(
    analyzer: Analyzer, options: dict[str, object]
) -> None:
    theirs = TfidfVectorizer(lowercase=False, **options).build_analyzer()  # type: ignore[arg-type]
    ours = analyzer.build()
    for text in TEXTS:
        assert Counter(ours(text)) == Counter(theirs(text)), text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_stored_model_ranks_exactly_as_the_trained_one(language: str, tmp_path: Path) -> None:
    data = load_training_data(LOCALES_DIR, language)
    trained = IntentClassifier.train(data)
    key = model_cache.model_key(data)
    model_cache.save(tmp_path, key, trained.scorer)
    scorer = model_cache.load(tmp_path, key)
    assert scorer is not None
    stored = IntentClassifier(language, scorer, trained.threshold)
    for text in [*data.texts[::7], *TEXTS]:
        assert stored.rank(text) == trained.rank(text), text


def test_changed_training_data_gets_another_model() -> None:
    data = TrainingData("en", ("hi", "bye"), ("greet", "bye"))
    more = TrainingData("en", ("hi", "bye", "hello"), ("greet", "bye", "greet"))
    assert model_cache.model_key(data) != model_cache.model_key(more)
    assert model_cache.model_key(data) == model_cache.model_key(data)


def test_an_unreadable_model_is_trained_again_and_replaced(tmp_path: Path) -> None:
    data = load_training_data(LOCALES_DIR, "zh")
    key = model_cache.model_key(data)
    (tmp_path / key).write_bytes(b"not a model")
    assert model_cache.load(tmp_path, key) is None
    nlu = Nlu.load(LOCALES_DIR, ("zh",), cache_dir=tmp_path)
    assert nlu.parse("宽带坏了", "zh").intent.name == "report_fault"
    assert model_cache.load(tmp_path, key) is not None


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("in the way")
    nlu = Nlu.load(LOCALES_DIR, ("en",), cache_dir=blocked / "models")
    assert nlu.parse("my internet is down", "en").intent.name == "report_fault"


def test_a_server_with_stored_models_never_imports_scikit_learn(tmp_path: Path) -> None:
    Nlu.load(LOCALES_DIR, cache_dir=tmp_path)  # trains and stores both languages
    probe = (
        "import sys\n"
        "from bot.app import load_services\n"
        "from bot.settings import Settings\n"
        "services = load_services(Settings.from_env(dotenv=False))\n"
        "assert services.nlu.parse('宽带坏了', 'zh').intent.name == 'report_fault'\n"
        "print(sorted(m for m in sys.modules if m.startswith('sklearn')))\n"
    )
    env = {**os.environ, "SHOUWEN_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_change_in_the_features_gets_another_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.nlu import classifier

    data = TrainingData("en", ("hi", "bye"), ("greet", "bye"))
    before = model_cache.model_key(data)
    wider = {**classifier.FEATURES, "en": (Analyzer("char_wb", 2, 6),)}
    monkeypatch.setattr(model_cache, "FEATURES", wider)
    assert model_cache.model_key(data) != before
