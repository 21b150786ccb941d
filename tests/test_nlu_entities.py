"""Entities: phones, resident ID numbers, case and appointment numbers, and their overlaps."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nlu import entities as entities_module
from bot.nlu.entities import EntityExtractor, find_case_numbers, find_id_numbers, find_phones
from bot.nlu.results import Entity

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
VALID_ID = "11010519491231002X"  # the example number of GB 11643-1999
BAD_CHECK_ID = "110105194912310021"


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor("Asia/Shanghai")


def found(entities: list[Entity] | tuple[Entity, ...], text: str) -> list[tuple[str, str, str]]:
    return [(e.entity, text[e.start : e.end], e.value) for e in entities]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("我的电话是13800138000谢谢", "13800138000", "13800138000"),
        ("138 0013 8000", "138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "+86 138-0013-8000", "13800138000"),
        ("call me on 0086 138 0013 8000", "0086 138 0013 8000", "13800138000"),
        ("座机010-12345678", "010-12345678", "+861012345678"),
        ("office (021) 6123 4567", "(021) 6123 4567", "+862161234567"),
        ("my US number +1 650 253 0000", "+1 650 253 0000", "+16502530000"),
    ],
)
def test_phone_numbers(text: str, span: str, value: str) -> None:
    assert found(find_phones(text), text) == [("phone", span, value)]


@pytest.mark.parametrize(
    "text",
    ["1380013800O", "138OO138OOO", "call 10086", "12345", "tel: abc-defg-hijk", "13800138"],
)
def test_not_phone_numbers(text: str) -> None:
    assert find_phones(text) == []


def test_several_phones_in_one_message() -> None:
    text = "手机:13912345678,备用13800138000"
    assert [e.value for e in find_phones(text)] == ["13912345678", "13800138000"]


def test_valid_id_number() -> None:
    text = f"身份证{VALID_ID}，请核对"
    assert find_id_numbers(text) == [Entity("id_number", VALID_ID, 3, 21, True)]


def test_lower_case_x_is_normalised() -> None:
    [entity] = find_id_numbers(VALID_ID.lower())
    assert entity.value == VALID_ID
    assert entity.valid


def test_id_number_with_wrong_check_digit_is_flagged() -> None:
    [entity] = find_id_numbers(f"ID {BAD_CHECK_ID}")
    assert entity.value == BAD_CHECK_ID
    assert entity.valid is False


def test_id_number_with_impossible_birth_date_is_flagged() -> None:
    [entity] = find_id_numbers("110105194913310020")
    assert entity.valid is False


@pytest.mark.parametrize("text", ["1101051949123100", "11010519491231002XY", "A11010519491231002X"])
def test_not_id_numbers(text: str) -> None:
    assert find_id_numbers(text) == []


def test_case_and_appointment_numbers() -> None:
    text = "工单C2611230040和预约a2611240012"
    assert find_case_numbers(text) == [
        Entity("case_number", "C2611230040", 2, 13, True),
        Entity("appointment_number", "A2611240012", 16, 27, True),
    ]


def test_case_number_typo_is_flagged() -> None:
    assert find_case_numbers("CX C2611230042") == [
        Entity("case_number", "C2611230042", 3, 14, False)
    ]


def test_case_number_with_impossible_date_is_flagged() -> None:
    [entity] = find_case_numbers("C2613230040")
    assert entity.valid is False


def test_a_case_number_is_not_also_a_phone(extractor: EntityExtractor) -> None:
    text = "C13800138000"  # shaped like both; the case number wins
    assert [e.entity for e in extractor.extract(text, NOW)] == ["case_number"]


def test_an_id_number_is_not_also_a_phone_or_a_time(extractor: EntityExtractor) -> None:
    text = f"身份证 {VALID_ID}，电话 13800138000，明天下午3点"
    assert found(extractor.extract(text, NOW), text) == [
        ("id_number", VALID_ID, VALID_ID),
        ("phone", "13800138000", "13800138000"),
        ("time", "明天下午3点", "2026-11-24T15:00:00+08:00"),
    ]


@pytest.mark.parametrize(
    "text",
    ["", "😀😀😀🎉", "\x00\x01\x1b[31m\x7f", "<script>alert(1)</script>", "!!!???。。。", " " * 50],
)
def test_odd_input_gives_no_entities(extractor: EntityExtractor, text: str) -> None:
    assert extractor.extract(text, NOW) == ()


def test_ten_kilobytes(extractor: EntityExtractor) -> None:
    filler = "我家宽带又断了，" * 1300
    text = filler + "电话13800138000，明天下午3点来修"
    assert len(text.encode()) > 10_000
    entities = extractor.extract(text, NOW)
    assert [e.entity for e in entities] == ["phone", "time"]
    assert text[entities[0].start : entities[0].end] == "13800138000"


def test_phone_library_only_runs_on_enough_digits(
    extractor: EntityExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("PhoneNumberMatcher should not run")

    monkeypatch.setattr(entities_module, "PhoneNumberMatcher", fail)
    extractor.extract("宽带断了，给我打5分，case C2611230040", NOW)
