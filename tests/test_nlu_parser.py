"""`Nlu`: intents and entities of whole messages, Rasa's shape, languages and odd input."""

from __future__ import annotations

import json
import pathlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nlu import Entity, IntentScore, Nlu, Parse, run_parse
from bot.nlu import times as times_module

LOCALES = pathlib.Path(__file__).resolve().parent.parent / "locales"
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def nlu() -> Nlu:
    return Nlu.load(LOCALES)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("你好", "greet"),
        ("拜拜", "goodbye"),
        ("谢谢你", "thanks"),
        ("对的", "affirm"),
        ("不是", "deny"),
        ("我的5G套餐怎么扣费这么多", "consult"),
        ("携号转网怎么办", "consult"),
        ("宽带 down 了", "report_fault"),
        ("家里wifi连不上网了", "report_fault"),
        ("明天下午3点能来装宽带吗", "book_appointment"),
        ("我想把预约改到后天", "change_appointment"),
        ("客服态度太差，我要投诉", "file_complaint"),
        ("CX C2611230040", "query_progress"),
        ("五星好评", "rate_service"),
        ("转人工", "human_agent"),
        ("算了，不办了", "cancel"),
        ("讲个笑话", "out_of_scope"),
    ],
)
def test_chinese_intents(nlu: Nlu, text: str, intent: str) -> None:
    assert nlu.parse(text, "zh", now=NOW).intent.name == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hello there", "greet"),
        ("bye for now", "goodbye"),
        ("thanks a lot", "thanks"),
        ("yes please", "affirm"),
        ("no, that's wrong", "deny"),
        ("how much is roaming in Japan", "consult"),
        ("my internet is down", "report_fault"),
        ("can a technician come tomorrow at 3pm", "book_appointment"),
        ("I need to reschedule my appointment", "change_appointment"),
        ("I want to file a complaint about my bill", "file_complaint"),
        ("status of C2611230040", "query_progress"),
        ("5 stars", "rate_service"),
        ("talk to a human", "human_agent"),
        ("never mind, cancel", "cancel"),
        ("write my homework", "out_of_scope"),
    ],
)
def test_english_intents(nlu: Nlu, text: str, intent: str) -> None:
    assert nlu.parse(text, "en", now=NOW).intent.name == intent


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("jfkdlsjfkl", "zh"),
        ("asdkjh qwe zxcv", "en"),
        ("blorp zindle frobnicate", "en"),
        ("😀😀😀", "zh"),
        ("!!!???", "en"),
        ("", "zh"),
        ("<script>alert(1)</script>", "en"),
        ("<script>alert(1)</script>", "zh"),
        ("What's the capital of France?", "en"),
        ("红楼梦的作者是谁", "zh"),
    ],
)
def test_gibberish_and_unrelated_text_is_out_of_scope(nlu: Nlu, text: str, language: str) -> None:
    assert nlu.parse(text, language, now=NOW).intent.name == "out_of_scope"


def test_low_confidence_falls_back_to_out_of_scope(nlu: Nlu) -> None:
    parse = nlu.parse("jfkdlsjfkl", "zh", now=NOW)
    threshold = nlu.classifiers["zh"].threshold
    assert parse.intent == IntentScore("out_of_scope", threshold)
    assert parse.ranking[0] == parse.intent
    assert all(score.confidence < threshold for score in parse.ranking[1:])
    assert [s.name for s in parse.ranking].count("out_of_scope") == 1


def test_ranking_is_sorted_and_sums_to_at_most_one(nlu: Nlu) -> None:
    parse = nlu.parse("宽带断了，明天能来修吗", "zh", now=NOW)
    confidences = [s.confidence for s in parse.ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) <= 1.0 + 1e-3
    assert len({s.name for s in parse.ranking}) == len(parse.ranking) <= 10


def test_entities_come_with_the_parse(nlu: Nlu) -> None:
    text = "预约明天下午3点上门，电话138 0013 8000，身份证11010519491231002X"
    entities = nlu.parse(text, "zh", now=NOW).entities
    assert [(e.entity, e.value) for e in entities] == [
        ("time", "2026-11-24T15:00:00+08:00"),
        ("phone", "13800138000"),
        ("id_number", "11010519491231002X"),
    ]
    assert all(text[e.start : e.end] for e in entities)


def test_full_width_digits_are_read_and_offsets_kept(nlu: Nlu) -> None:
    text = "电话１３８００１３８０００，工单Ｃ２６１１２３００４０"
    entities = nlu.parse(text, "zh", now=NOW).entities
    assert [(e.entity, e.value, text[e.start : e.end]) for e in entities] == [
        ("phone", "13800138000", "１３８００１３８０００"),
        ("case_number", "C2611230040", "Ｃ２６１１２３００４０"),
    ]


def test_control_characters_do_not_break_parsing(nlu: Nlu) -> None:
    text = "宽带\x00断了\x1b[0m，电话\t13800138000\x7f"
    parse = nlu.parse(text, "zh", now=NOW)
    assert parse.text == text
    assert parse.intent.name == "report_fault"
    [phone] = parse.entities
    assert text[phone.start : phone.end] == "13800138000"


def test_ten_kilobytes_of_text(nlu: Nlu) -> None:
    text = "my internet is down again. " * 380 + "call me at 13800138000"
    assert len(text) > 10_000
    parse = nlu.parse(text, "en", now=NOW)
    assert parse.intent.name == "report_fault"
    assert [e.entity for e in parse.entities] == ["phone"]


def test_invalid_values_are_marked(nlu: Nlu) -> None:
    parse = nlu.parse("查一下C2611230042，身份证110105194912310021", "zh", now=NOW)
    assert [(e.entity, e.valid) for e in parse.entities] == [
        ("case_number", False),
        ("id_number", False),
    ]


def test_as_rasa_has_rasas_shape(nlu: Nlu) -> None:
    data = nlu.parse("明天下午3点查一下C2611230042", "zh", now=NOW).as_rasa()
    assert set(data) == {"text", "intent", "intent_ranking", "entities"}
    assert data["text"] == "明天下午3点查一下C2611230042"
    assert set(data["intent"]) == {"name", "confidence"}
    assert isinstance(data["intent"]["confidence"], float)
    assert data["intent_ranking"][0] == data["intent"]
    assert all(set(item) == {"name", "confidence"} for item in data["intent_ranking"])
    time, case = data["entities"]
    assert time == {"entity": "time", "value": "2026-11-24T15:00:00+08:00", "start": 0, "end": 6}
    assert case == {
        "entity": "case_number",
        "value": "C2611230042",
        "start": 9,
        "end": 20,
        "valid": False,
    }
    json.dumps(data)  # serialisable as is


def test_parse_value_objects() -> None:
    score = IntentScore("greet", 0.9)
    parse = Parse("hi", "en", score, (score,), (Entity("phone", "13800138000", 0, 11),))
    assert parse.as_rasa()["entities"] == [
        {"entity": "phone", "value": "13800138000", "start": 0, "end": 11}
    ]


@pytest.mark.parametrize(
    ("asked", "used"),
    [("zh", "zh"), ("en", "en"), ("en-US", "en"), ("zh_Hans_CN", "zh"), ("fr", "zh"), ("", "zh")],
)
def test_language_fallback(nlu: Nlu, asked: str, used: str) -> None:
    assert nlu.parse("hello", asked, now=NOW).language == used


def test_single_language_nlu_falls_back_to_what_it_has() -> None:
    english_only = Nlu.load(LOCALES, ("en",))
    assert english_only.parse("你好", "zh", now=NOW).language == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("宽带 down 了", "zh"),
        ("我要投诉", "zh"),
        ("my internet is down", "en"),
        ("hi there", "en"),
        ("hi", None),
        ("5", None),
        ("😀", None),
        ("", None),
        ("C2611230040", None),
    ],
)
def test_detect_language(nlu: Nlu, text: str, language: str | None) -> None:
    assert nlu.detect_language(text) == language


def test_now_defaults_to_the_current_time(nlu: Nlu) -> None:
    [time] = nlu.parse("明天下午3点", "zh").entities
    moment = datetime.fromisoformat(time.value)
    assert moment.utcoffset() is not None
    assert moment > datetime.now(ZoneInfo("Asia/Shanghai"))


def test_ordinary_text_skips_dateparser(nlu: Nlu, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("dateparser should not run")

    monkeypatch.setattr(times_module, "search_dates", fail)
    for text in ["my broadband keeps dropping", "I want to file a complaint", "5 stars"]:
        nlu.parse(text, "en", now=NOW)


def test_run_parse_prints_rasa_json(nlu: Nlu) -> None:
    output = run_parse(nlu, "转人工", "zh")
    data = json.loads(output)
    assert data["intent"]["name"] == "human_agent"
    assert "转人工" in output  # readable, not \u-escaped
