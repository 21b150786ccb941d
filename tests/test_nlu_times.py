"""Time expressions in Chinese and English, resolved against a fixed `now`, future first."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nlu import times as times_module
from bot.nlu.times import TimeExtractor
from bot.nlu.times_zh import chinese_number, find_chinese_times

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=ZONE)  # a Monday afternoon


@pytest.fixture(scope="module")
def extractor() -> TimeExtractor:
    return TimeExtractor("Asia/Shanghai")


def times_in(extractor: TimeExtractor, text: str) -> list[tuple[str, str]]:
    return [(text[e.start : e.end], e.value) for e in extractor.extract(text, NOW)]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("明天下午3点", "明天下午3点", "2026-11-24T15:00:00+08:00"),
        ("后天上午10点半", "后天上午10点半", "2026-11-25T10:30:00+08:00"),
        ("下周一上午九点", "下周一上午九点", "2026-11-30T09:00:00+08:00"),
        ("今天晚上8点", "今天晚上8点", "2026-11-23T20:00:00+08:00"),
        ("大后天中午12点", "大后天中午12点", "2026-11-26T12:00:00+08:00"),
        ("今晚8点", "今晚8点", "2026-11-23T20:00:00+08:00"),
        ("明早九点", "明早九点", "2026-11-24T09:00:00+08:00"),
        ("本周五下午3点", "本周五下午3点", "2026-11-27T15:00:00+08:00"),
        ("星期三早上8点", "星期三早上8点", "2026-11-25T08:00:00+08:00"),
        ("礼拜天", "礼拜天", "2026-11-29T00:00:00+08:00"),
        ("下下周一", "下下周一", "2026-12-07T00:00:00+08:00"),
        ("12月5日14:30", "12月5日14:30", "2026-12-05T14:30:00+08:00"),
        ("十二月五号下午两点半", "十二月五号下午两点半", "2026-12-05T14:30:00+08:00"),
        ("2027年1月3日", "2027年1月3日", "2027-01-03T00:00:00+08:00"),
        ("明天下午三点十五", "明天下午三点十五", "2026-11-24T15:15:00+08:00"),
        ("明天3点一刻", "明天3点一刻", "2026-11-24T15:15:00+08:00"),
        ("明天15:30", "明天15:30", "2026-11-24T15:30:00+08:00"),
        ("凌晨2点", "凌晨2点", "2026-11-24T02:00:00+08:00"),
        ("后天下午", "后天下午", "2026-11-25T14:00:00+08:00"),
        ("晚上12点", "晚上12点", "2026-11-24T00:00:00+08:00"),
        ("明天", "明天", "2026-11-24T00:00:00+08:00"),
    ],
)
def test_chinese(extractor: TimeExtractor, text: str, span: str, value: str) -> None:
    assert times_in(extractor, text) == [(span, value)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("下午3点", "2026-11-24T15:00:00+08:00"),  # 15:00 today has passed
        ("晚上8点", "2026-11-23T20:00:00+08:00"),  # still ahead today
        ("3点", "2026-11-24T15:00:00+08:00"),  # a bare 3 o'clock is the afternoon
        ("周一", "2026-11-30T00:00:00+08:00"),  # today is Monday: the next one
        ("周三", "2026-11-25T00:00:00+08:00"),
        ("11月1日", "2027-11-01T00:00:00+08:00"),  # passed this year
        ("5号下午", "2026-12-05T14:00:00+08:00"),  # passed this month
        ("30号", "2026-11-30T00:00:00+08:00"),
    ],
)
def test_chinese_prefers_the_future(extractor: TimeExtractor, text: str, value: str) -> None:
    assert [v for _, v in times_in(extractor, text)] == [value]


def test_chinese_in_a_sentence(extractor: TimeExtractor) -> None:
    text = "我想约明天下午3点上门装宽带，或者后天上午10点半也行"
    assert times_in(extractor, text) == [
        ("明天下午3点", "2026-11-24T15:00:00+08:00"),
        ("后天上午10点半", "2026-11-25T10:30:00+08:00"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "快一点",
        "便宜一点好吗",
        "有两点要求",
        "晚上好",
        "上午好",
        "我住5号楼",
        "3日内处理",
        "号码不对",
    ],
)
def test_chinese_words_that_are_not_times(extractor: TimeExtractor, text: str) -> None:
    assert times_in(extractor, text) == []


def test_impossible_dates_are_ignored() -> None:
    assert find_chinese_times("二月三十日", NOW) == []
    assert find_chinese_times("13月5日", NOW) == []
    assert find_chinese_times("25点", NOW) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("九", 9), ("十", 10), ("十五", 15), ("二十", 20), ("三十一", 31), ("两", 2), ("零五", 5)],
)
def test_chinese_numbers(text: str, value: int) -> None:
    assert chinese_number(text) == value


@pytest.mark.parametrize("text", ["十十", "百", "a", "二十十"])
def test_not_chinese_numbers(text: str) -> None:
    assert chinese_number(text) is None


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("next Monday 10am", "next Monday 10am", "2026-11-30T10:00:00+08:00"),
        ("tomorrow at 3pm", "tomorrow at 3pm", "2026-11-24T15:00:00+08:00"),
        ("Dec 5 14:30", "Dec 5 14:30", "2026-12-05T14:30:00+08:00"),
        ("can you come tomorrow at 3pm please", "tomorrow at 3pm", "2026-11-24T15:00:00+08:00"),
        ("on Friday at 2:30pm", "Friday at 2:30pm", "2026-11-27T14:30:00+08:00"),
        ("at 3pm", "3pm", "2026-11-24T15:00:00+08:00"),
        ("tomorrow", "tomorrow", "2026-11-24T00:00:00+08:00"),
        ("book for 5th of December at 9am", "5th of December at 9am", "2026-12-05T09:00:00+08:00"),
    ],
)
def test_english(extractor: TimeExtractor, text: str, span: str, value: str) -> None:
    assert times_in(extractor, text) == [(span, value)]


@pytest.mark.parametrize(
    "text", ["may I ask something", "I sat down", "5 stars", "my number is 13800138000", ""]
)
def test_english_words_that_are_not_times(extractor: TimeExtractor, text: str) -> None:
    assert times_in(extractor, text) == []


def test_two_readings_of_one_span_give_one_entity(extractor: TimeExtractor) -> None:
    found = times_in(extractor, "call me at 14:30 or tomorrow at 9am")
    spans = [span for span, _ in found]
    assert "tomorrow at 9am" in spans
    assert len(found) == len(set(spans))


def test_timezone_comes_from_the_argument() -> None:
    utc = TimeExtractor("UTC")
    found = utc.extract("明天下午3点", datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("UTC")))
    assert [e.value for e in found] == ["2026-11-24T15:00:00+00:00"]


def test_naive_now_is_taken_in_the_zone(extractor: TimeExtractor) -> None:
    found = extractor.extract("明天下午3点", datetime(2026, 11, 23, 16, 0))
    assert [e.value for e in found] == ["2026-11-24T15:00:00+08:00"]


def test_dateparser_only_runs_on_a_hint(
    extractor: TimeExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def spy(text: str, **kwargs: object) -> None:
        calls.append(text)

    monkeypatch.setattr(times_module, "search_dates", spy)
    extractor.extract("my broadband has been down all day, please help", NOW)
    extractor.extract("宽带断了，明天下午3点能来修吗", NOW)
    assert calls == []
    extractor.extract("can you come tomorrow at 3pm", NOW)
    assert calls == ["can you come tomorrow at 3pm"]


def test_a_long_message_cannot_make_dateparser_stall_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.nlu import times

    windows: list[str] = []
    original = times.search_dates

    def counting(text: str, *args: object, **kwargs: object) -> object:
        windows.append(text)
        return original(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(times, "search_dates", counting)
    extractor = times.TimeExtractor("Asia/Shanghai")
    extractor.extract("on monday " * 200, datetime(2026, 11, 23, 9, 0))
    assert 1 <= len(windows) <= 3
    assert all(len(window) <= 160 for window in windows)
