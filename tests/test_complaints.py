"""Complaint grading: category and terms, repeat within 30 days, the regulator, the cap."""

from __future__ import annotations

import pytest

from bot.services.cases import CaseDraft, Cases
from bot.services.complaints import ComplaintGrader, Grade
from bot.store.client import RedisHandles
from tests.test_cases import CHAT, POLICY, T0, Clock, make_cases

DAY = 86_400.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cases(handles: RedisHandles, clock: Clock) -> Cases:
    return make_cases(handles.commands, clock)


@pytest.fixture
def grader(cases: Cases) -> ComplaintGrader:
    return ComplaintGrader(POLICY, cases)


async def complain(cases: Cases, grader: ComplaintGrader, customer: str | None, text: str) -> Grade:
    """Grade and open a complaint, the way the complaint flow does."""
    grade = await grader.grade("network", text, customer)
    draft = CaseDraft("complaint", CHAT, customer, "zh", text, "network", grade)
    case = await cases.open(draft)
    assert (case.grade, case.grade_reason) == (grade.grade, grade.reason)
    return grade


BASE = [
    ("network", "ordinary"),
    ("billing", "complex"),
    ("attitude", "ordinary"),
    ("unfixed", "ordinary"),
    ("marketing", "ordinary"),
    ("privacy", "urgent"),
]


@pytest.mark.parametrize(("category", "grade"), BASE)
@pytest.mark.parametrize("text", ["我对这件事不满意", "I am not happy about this"])
async def test_each_category_has_its_base_grade(
    grader: ComplaintGrader, category: str, grade: str, text: str
) -> None:
    assert await grader.grade(category, text, None) == Grade(grade, f"category:{category}")


TERMS = [
    ("network", "家里完全没有信号", "There is NO SIGNAL at home", "urgent"),
    ("billing", "我的号码被停机了", "My line was suspended for nothing", "ordinary"),
    ("attitude", "客服辱骂我", "The agent insulted me", "urgent"),
    ("unfixed", "修了多次还是坏", "It broke again after the repair", "urgent"),
    ("marketing", "每天都有骚扰电话", "They harass me with calls", "urgent"),
    ("privacy", "我的信息被泄露了", "My data was leaked", "urgent"),
]


@pytest.mark.parametrize(("category", "zh", "en", "grade"), TERMS)
async def test_description_terms_raise_the_grade_in_both_languages(
    grader: ComplaintGrader, category: str, zh: str, en: str, grade: str
) -> None:
    for text in (zh, en):
        assert await grader.grade(category, text, None) == Grade(
            grade, f"category:{category},terms"
        )


REGULATOR = [
    "我要去工信部投诉你们",
    "再不解决我就打12300",
    "我要向工业和信息化部反映",
    "已经向电信用户申诉受理中心申诉",
    "I will report you to MIIT",
    "i will write to the miit today",
    "I will tell the Ministry of Industry and Information Technology",
    "我要找ＭＩＩＴ",  # full-width letters
    "打１２３００",  # full-width digits
]


@pytest.mark.parametrize("text", REGULATOR)
async def test_naming_the_regulator_raises_one_grade(grader: ComplaintGrader, text: str) -> None:
    assert await grader.grade("attitude", text, None) == Grade(
        "urgent", "category:attitude,regulator"
    )


@pytest.mark.parametrize("text", ["我的号码是13812300456", "order 123001 is wrong", "MIITS"])
async def test_lookalikes_are_not_the_regulator(grader: ComplaintGrader, text: str) -> None:
    assert (await grader.grade("attitude", text, None)).reason == "category:attitude"


async def test_a_repeat_within_30_days_raises_one_grade(
    cases: Cases, grader: ComplaintGrader, clock: Clock
) -> None:
    assert await complain(cases, grader, "u1", "网速太慢") == Grade("ordinary", "category:network")
    clock.now = T0 + 29 * DAY
    assert await grader.grade("billing", "账单不对", "u1") == Grade(
        "ordinary", "category:billing,repeat"
    )
    # Another customer's history is not theirs.
    assert await grader.grade("billing", "账单不对", "u2") == Grade("complex", "category:billing")


async def test_a_complaint_more_than_30_days_ago_is_no_repeat(
    cases: Cases, grader: ComplaintGrader, clock: Clock
) -> None:
    await complain(cases, grader, "u1", "网速太慢")
    clock.now = T0 + 30 * DAY + 1
    assert await grader.grade("billing", "bill is wrong", "u1") == Grade(
        "complex", "category:billing"
    )


async def test_only_complaints_count_as_repeats(cases: Cases, grader: ComplaintGrader) -> None:
    await cases.open(CaseDraft("fault", CHAT, "u1", "zh", "宽带断了"))
    assert (await grader.grade("billing", "账单不对", "u1")).reason == "category:billing"


async def test_without_a_customer_there_is_no_repeat_check(
    cases: Cases, grader: ComplaintGrader
) -> None:
    await complain(cases, grader, None, "网速太慢")
    assert await grader.grade("billing", "账单不对", None) == Grade("complex", "category:billing")


async def test_repeat_and_regulator_each_count(cases: Cases, grader: ComplaintGrader) -> None:
    await complain(cases, grader, "u1", "网速太慢")
    # complex + repeat + regulator: two steps up the ladder.
    assert await grader.grade("billing", "bill wrong again, calling 12300", "u1") == Grade(
        "urgent", "category:billing,repeat,regulator"
    )


async def test_the_grade_stops_at_the_top(cases: Cases, grader: ComplaintGrader) -> None:
    await complain(cases, grader, "u1", "网速太慢")
    text = "完全没有信号，我要去工信部投诉"
    assert await grader.grade("network", text, "u1") == Grade(
        "urgent", "category:network,terms,repeat,regulator"
    )
    assert await grader.grade("privacy", "MIIT", "u1") == Grade(
        "urgent", "category:privacy,repeat,regulator"
    )


async def test_an_unknown_category_is_refused_clearly(grader: ComplaintGrader) -> None:
    with pytest.raises(ValueError, match=r"unknown complaint category 'weather'; expected one of"):
        await grader.grade("weather", "下雨了", None)


async def test_the_grade_sets_the_promised_time(cases: Cases, grader: ComplaintGrader) -> None:
    grade = await grader.grade("attitude", "我要去工信部投诉", None)
    case = await cases.open(
        CaseDraft("complaint", CHAT, None, "zh", "我要去工信部投诉", "attitude", grade)
    )
    assert case.due == {"response": T0 + 4 * 3600}
    assert (case.grade, case.grade_reason) == ("urgent", "category:attitude,regulator")
