"""The training data: Rasa 3 format, every intent well covered in both languages."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from bot.nlu.data import NluDataError, load_training_data, parse_examples

LOCALES = pathlib.Path(__file__).resolve().parent.parent / "locales"
INTENTS = {
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "consult",
    "report_fault",
    "book_appointment",
    "change_appointment",
    "file_complaint",
    "query_progress",
    "rate_service",
    "human_agent",
    "cancel",
    "out_of_scope",
}
MIN_EXAMPLES = 25


@pytest.mark.parametrize("language", ["zh", "en"])
def test_files_are_rasa_3_nlu_yml(language: str) -> None:
    document = yaml.safe_load((LOCALES / language / "nlu.yml").read_text(encoding="utf-8"))
    assert document["version"] == "3.1"
    for item in document["nlu"]:
        assert set(item) == {"intent", "examples"}
        assert isinstance(item["examples"], str)
        assert all(line.startswith("- ") for line in item["examples"].splitlines())


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_intent_has_enough_examples(language: str) -> None:
    counts = load_training_data(LOCALES, language).counts()
    assert set(counts) == INTENTS
    short = {intent: n for intent, n in counts.items() if n < MIN_EXAMPLES}
    assert not short, f"{language}: intents with fewer than {MIN_EXAMPLES} examples: {short}"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_example_is_labelled_twice(language: str) -> None:
    data = load_training_data(LOCALES, language)
    labels: dict[str, set[str]] = {}
    for text, intent in zip(data.texts, data.intents, strict=True):
        labels.setdefault(text.lower(), set()).add(intent)
    clashes = {text: names for text, names in labels.items() if len(names) > 1}
    assert not clashes


def test_rasa_entity_annotations_are_reduced_to_text() -> None:
    block = '- 查一下[C2611230040](case_number)\n- call [13800138000]{"entity": "phone"} now\n'
    assert parse_examples(block) == ["查一下C2611230040", "call 13800138000 now"]


def test_other_rasa_items_are_ignored(tmp_path: pathlib.Path) -> None:
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- synonym: broadband\n  examples: |\n    - 宽带\n'
        "- intent: greet\n  examples: |\n    - hi\n- intent: goodbye\n  examples: |\n    - bye\n",
        encoding="utf-8",
    )
    data = load_training_data(tmp_path, "xx")
    assert data.texts == ("hi", "bye")
    assert data.intents == ("greet", "goodbye")


@pytest.mark.parametrize(
    "content",
    ["", "nlu: 3", "nlu:\n- intent: greet\n", "nlu:\n- intent: greet\n  examples: |\n    - hi\n"],
)
def test_unusable_files_raise(tmp_path: pathlib.Path, content: str) -> None:
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "nlu.yml").write_text(content, encoding="utf-8")
    with pytest.raises(NluDataError):
        load_training_data(tmp_path, "xx")


def test_missing_file_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NluDataError):
        load_training_data(tmp_path, "fr")
