"""Chinese time expressions ("明天下午3点", "下周一上午九点", "12月5日14:30") to datetimes.

dateparser does not read Chinese clock phrases, and the Chinese time libraries on PyPI were
either unmaintained or heavy (jionlp: ~20 MB, half a second to import, no preference for the
future), so this is a small normaliser for what customers write when booking:

- a day: 今天/明天/后天/大后天, 今早/今晚/明早/明晚, (下下|下|这|本|上)周X/星期X/礼拜X,
  [YYYY年]M月D日, D号;
- a part of the day: 凌晨 早上 上午 中午 下午 傍晚 晚上 夜里 …;
- a clock time: X点, X点半, X点一刻, X点X分, HH:MM, in digits or Chinese numerals.

Resolution prefers the future where the text leaves room: a clock time without a day is
today if still ahead, else tomorrow; a bare 周X is the next such day; M月D日 without a year
rolls into next year once passed. An hour from 1 to 6 without a part of the day is taken as
afternoon (nobody books a technician for 3 a.m.). A day alone resolves to its midnight, a
day with only a part of the day to that part's usual start (`PERIOD_START`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

_N = r"[0-9零〇一二两三四五六七八九十]{1,3}"

_PATTERN = re.compile(
    rf"""
    (?<![0-9A-Za-z])
    (?:
      (?:
        (?:(?P<year>\d{{4}})\s*年\s*)?(?P<month>{_N})\s*月\s*(?P<mday>{_N})\s*[日号]?
      | (?P<lone_mday>{_N})\s*[日号](?![楼线院门栋房室座机码卡内游以])
      | (?P<rel>大后天|后天|明天|明日|明儿|今天|今日|今儿)
      | (?P<combo>今早上?|明早上?|今晚上?|明晚上?|今夜|明夜)
      | (?P<wmod>下下个?|下个?|这个?|本|上个?)?\s*(?:周|星期|礼拜)(?P<wday>[一二三四五六日天1-7])
      )\s*
    )?
    (?P<period>凌晨|清晨|早上|早晨|上午|中午|午后|下午|傍晚|晚上|晚间|夜里|夜间)?\s*
    (?:
      (?P<hh>\d{{1,2}})\s*[:：]\s*(?P<mm>\d{{2}})(?![0-9]|\s*[AaPp]\.?[Mm])
    | (?P<hour>{_N})\s*[点时](?:\s*(?P<minute>半|一刻|三刻|{_N})(?:\s*分)?)?
    )?
    """,
    re.VERBOSE,
)

# A cheap test run first: most messages have none of these and skip the big pattern.
PRECHECK = re.compile(r"[天早晚夜周期拜月日号点时午晨]|\d[:：]\d")

PERIOD_START: dict[str, int] = {
    "凌晨": 0,
    "清晨": 7,
    "早上": 7,
    "早晨": 7,
    "上午": 9,
    "中午": 12,
    "午后": 14,
    "下午": 14,
    "傍晚": 17,
    "晚上": 19,
    "晚间": 19,
    "夜里": 22,
    "夜间": 22,
}
_AFTERNOON = {"午后", "下午", "傍晚"}
_EVENING = {"晚上", "晚间", "夜里", "夜间"}

_REL_DAYS = {"今天": 0, "今日": 0, "今儿": 0, "明天": 1, "明日": 1, "明儿": 1}
_REL_DAYS |= {"后天": 2, "大后天": 3}
_WEEKDAYS = {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6}
_WEEKDAYS |= {str(i + 1): i for i in range(7)}
_QUANTITY_WORDS = {"一", "二", "两"}
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}


@dataclass(frozen=True, slots=True)
class FoundTime:
    """A time expression at ``text[start:end]`` and the moment it names."""

    start: int
    end: int
    moment: datetime


def chinese_number(text: str) -> int | None:
    """0..99 written as digits or Chinese numerals ("九", "十五", "二十", "两"); None if not."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        if len(text) == 1:
            return _DIGITS.get(text)
        if all(c in _DIGITS for c in text):  # "零五", "〇五"
            return int("".join(str(_DIGITS[c]) for c in text))
        return None
    tens, _, units = text.partition("十")
    tens_value = _DIGITS.get(tens, -1) if tens else 1
    units_value = _DIGITS.get(units, -1) if units else 0
    if tens_value < 0 or units_value < 0 or "十" in units:
        return None
    return tens_value * 10 + units_value


def find_chinese_times(text: str, now: datetime) -> list[FoundTime]:
    """Every Chinese time expression in `text`, resolved against `now` (an aware datetime)."""
    if PRECHECK.search(text) is None:
        return []
    found = []
    for match in _PATTERN.finditer(text):
        if match.end() == match.start():
            continue
        moment = _resolve(match, now)
        if moment is not None:
            found.append(FoundTime(match.start(), _trimmed_end(text, match), moment))
    return found


def _trimmed_end(text: str, match: re.Match[str]) -> int:
    end = match.end()
    while end > match.start() and text[end - 1].isspace():
        end -= 1
    return end


def _resolve(match: re.Match[str], now: datetime) -> datetime | None:
    groups = match.groupdict()
    has_day = any(groups[g] for g in ("month", "lone_mday", "rel", "combo", "wday"))
    has_clock = bool(groups["hh"] or groups["hour"])
    if not has_clock and not has_day:
        return None  # "下午" or "晚上好" alone name no moment
    if not has_day and not groups["period"] and _looks_like_quantity(groups):
        return None  # "快一点", "有两点要求": a bit, two points
    period = groups["period"] or _combo_period(groups["combo"])
    clock = _clock(groups, period)
    if clock is None:
        return None
    hour_of_day, day_shift = clock
    day = _day(groups, now.date())
    if day is None:
        return None
    moment = datetime.combine(day + timedelta(days=day_shift), hour_of_day, tzinfo=now.tzinfo)
    if moment < now and _floats(groups):
        moment += timedelta(days=7 if groups["wday"] else 1)
    return moment


def _looks_like_quantity(groups: dict[str, str | None]) -> bool:
    return groups["hour"] in _QUANTITY_WORDS and not groups["minute"]


def _combo_period(combo: str | None) -> str | None:
    if combo is None:
        return None
    return "早上" if "早" in combo else "晚上"


def _clock(groups: dict[str, str | None], period: str | None) -> tuple[time, int] | None:
    """The time of day and how many days it pushes the date (晚上12点 is the next midnight)."""
    twelve_hour = groups["hh"] is None  # "3点" may mean 15:00; "03:00" means 03:00
    if groups["hh"] is not None and groups["mm"] is not None:
        hour, minute = int(groups["hh"]), int(groups["mm"])
    elif groups["hour"] is not None:
        hour_value = chinese_number(groups["hour"])
        minute_value = _minute(groups["minute"])
        if hour_value is None or minute_value is None:
            return None
        hour, minute = hour_value, minute_value
    else:
        return time(PERIOD_START[period] if period else 0), 0
    if not (0 <= hour <= 24 and 0 <= minute <= 59):
        return None
    hour = _hour_in_period(hour, period, twelve_hour=twelve_hour)
    if hour >= 24:
        return time(hour - 24, minute), 1
    return time(hour, minute), 0


def _minute(text: str | None) -> int | None:
    if not text:
        return 0
    return {"半": 30, "一刻": 15, "三刻": 45}.get(text) or chinese_number(text)


def _hour_in_period(hour: int, period: str | None, *, twelve_hour: bool) -> int:
    if period is None:
        return hour + 12 if twelve_hour and 1 <= hour <= 6 else hour
    if period in _AFTERNOON or period == "中午":
        return hour + 12 if 1 <= hour < (12 if period in _AFTERNOON else 4) else hour
    if period in _EVENING:
        return hour + 12 if 6 <= hour <= 12 else hour
    if period == "凌晨" and hour == 12:
        return 0
    return hour


def _day(groups: dict[str, str | None], today: date) -> date | None:
    if groups["month"] is not None and groups["mday"] is not None:
        return _month_day(groups["year"], groups["month"], groups["mday"], today)
    if groups["lone_mday"] is not None:
        return _lone_month_day(groups["lone_mday"], today)
    if groups["rel"] is not None:
        return today + timedelta(days=_REL_DAYS[groups["rel"]])
    if groups["combo"] is not None:
        return today + timedelta(days=0 if groups["combo"].startswith("今") else 1)
    if groups["wday"] is not None:
        return _weekday(groups["wmod"], groups["wday"], today)
    return today


def _month_day(year: str | None, month: str, mday: str, today: date) -> date | None:
    month_value, day_value = chinese_number(month), chinese_number(mday)
    if month_value is None or day_value is None:
        return None
    try:
        day = date(int(year) if year else today.year, month_value, day_value)
    except ValueError:
        return None
    if year is None and day < today:
        try:
            day = day.replace(year=today.year + 1)
        except ValueError:  # 2月29日
            return None
    return day


def _lone_month_day(mday: str, today: date) -> date | None:
    value = chinese_number(mday)
    if value is None or not 1 <= value <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(3):  # the 31st may skip a short month
        try:
            day = date(year, month, value)
        except ValueError:
            day = None
        if day is not None and day >= today:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _weekday(modifier: str | None, weekday: str, today: date) -> date:
    monday = today - timedelta(days=today.weekday())
    offset = _WEEKDAYS[weekday]
    weeks = 0
    if modifier:
        bare = modifier.rstrip("个")
        weeks = {"下下": 2, "下": 1, "这": 0, "本": 0, "上": -1}[bare]
    day = monday + timedelta(weeks=weeks, days=offset)
    if not modifier and day < today:
        day += timedelta(weeks=1)
    return day


def _floats(groups: dict[str, str | None]) -> bool:
    """Whether a past result may move forward: a bare clock time or a bare 周X."""
    if groups["wday"] is not None:
        return not groups["wmod"]
    return not any(groups[g] for g in ("month", "lone_mday", "rel", "combo"))
