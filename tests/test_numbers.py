"""Case and appointment numbers: format, round trip, and typos caught by the check digit."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.numbers import NUMBER_PATTERN, ParsedNumber, make_number, parse_number

SAMPLES = [
    ("C", date(2026, 11, 23), 4),
    ("A", date(2026, 11, 24), 1),
    ("C", date(2027, 1, 9), 987),
    ("A", date(2030, 12, 31), 123456),
    ("C", date(2026, 2, 28), 40213),
]


@pytest.mark.parametrize(("kind", "day", "seq"), SAMPLES)
def test_round_trip(kind: str, day: date, seq: int) -> None:
    number = make_number(kind, day, seq)
    assert len(number) <= 14
    assert number[0] == kind
    assert number[1:7] == f"{day:%y%m%d}"
    assert parse_number(number) == ParsedNumber(kind=kind, day=day, seq=seq, valid=True)


def test_shape_of_a_number() -> None:
    assert make_number("C", date(2026, 11, 23), 4) == "C2611230040"
    assert make_number("c", date(2026, 11, 23), 4) == "C2611230040"
    assert len(make_number("A", date(2026, 11, 23), 999_999)) == 14


def test_parse_is_lenient_about_case_spaces_and_width() -> None:
    assert parse_number(" c2611230040 ") == ParsedNumber("C", date(2026, 11, 23), 4, True)
    assert parse_number("Ｃ２６１１２３００４０") == ParsedNumber("C", date(2026, 11, 23), 4, True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "C",
        "C261123004",
        "C26112300400000",
        "X2611230040",
        "C2613230040",
        "2611230040",
        "C26112300 40",
    ],
)
def test_not_a_number(text: str) -> None:
    assert parse_number(text) is None


def test_wrong_check_digit_is_flagged_not_rejected() -> None:
    parsed = parse_number("C2611230042")
    assert parsed is not None
    assert parsed.valid is False
    assert (parsed.kind, parsed.day, parsed.seq) == ("C", date(2026, 11, 23), 4)


@pytest.mark.parametrize(("kind", "day", "seq"), SAMPLES)
def test_every_single_substitution_is_detected(kind: str, day: date, seq: int) -> None:
    number = make_number(kind, day, seq)
    for position in range(len(number)):
        alphabet = "CA" if position == 0 else "0123456789"
        for replacement in alphabet:
            if replacement == number[position]:
                continue
            typo = number[:position] + replacement + number[position + 1 :]
            parsed = parse_number(typo)
            assert parsed is None or not parsed.valid, typo


@pytest.mark.parametrize(("kind", "day", "seq"), SAMPLES)
def test_every_adjacent_transposition_is_detected(kind: str, day: date, seq: int) -> None:
    number = make_number(kind, day, seq)
    for position in range(1, len(number) - 1):
        a, b = number[position], number[position + 1]
        if a == b:
            continue
        typo = number[:position] + b + a + number[position + 2 :]
        parsed = parse_number(typo)
        assert parsed is None or not parsed.valid, typo


def test_make_number_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="kind"):
        make_number("X", date(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="seq"):
        make_number("C", date(2026, 1, 1), 1_000_000)
    with pytest.raises(ValueError, match="seq"):
        make_number("C", date(2026, 1, 1), -1)


def test_pattern_finds_numbers_in_text() -> None:
    text = "CX C2611230040，预约a2611240012；not ABC2611230040 nor C26112300401234"
    assert [m.group() for m in NUMBER_PATTERN.finditer(text)] == ["C2611230040", "a2611240012"]
