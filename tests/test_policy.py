"""The policy file: the issue's defaults, due times, the grade ladder, and clear errors."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.services.policy import COMPLAINT_CATEGORIES, Policy, PolicyError
from bot.settings import Settings

SHIPPED = Settings().data_dir / "policy.yml"
HOUR = 3600.0
T0 = 1_790_000_000.0


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(SHIPPED)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return data


def without(data: dict[str, Any], dotted: str) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[last]
    return data


def replaced(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


def test_shipped_policy_has_the_issue_defaults(policy: Policy) -> None:
    assert policy.fault_response == timedelta(hours=2)
    assert policy.fault_repair == timedelta(hours=4)
    assert policy.complaint_response == {
        "urgent": timedelta(hours=4),
        "ordinary": timedelta(hours=24),
        "complex": timedelta(hours=72),
    }
    assert policy.feedback == timedelta(hours=24)
    assert policy.grade_ladder == ("complex", "ordinary", "urgent")
    assert policy.repeat_window == timedelta(days=30)
    for term in ("工信部", "12300", "MIIT", "工业和信息化部", "电信用户申诉受理中心"):
        assert term in policy.regulator_terms
    assert set(policy.categories) == set(COMPLAINT_CATEGORIES)
    assert policy.service_hours == (time(8), time(20))
    assert policy.reminder_lead == timedelta(hours=2)
    assert policy.booking_horizon_days == 14


def test_due_times_by_kind(policy: Policy) -> None:
    assert policy.due_times("fault", T0) == {"response": T0 + 2 * HOUR, "repair": T0 + 4 * HOUR}
    assert policy.due_times("complaint", T0, "urgent") == {"response": T0 + 4 * HOUR}
    assert policy.due_times("complaint", T0, "ordinary") == {"response": T0 + 24 * HOUR}
    assert policy.due_times("complaint", T0, "complex") == {"response": T0 + 72 * HOUR}
    assert policy.due_times("feedback", T0) == {"response": T0 + 24 * HOUR}
    assert policy.due_times("callback", T0) == {"response": T0 + 24 * HOUR}


def test_due_times_refuse_what_has_no_promise(policy: Policy) -> None:
    with pytest.raises(ValueError, match="grade"):
        policy.due_times("complaint", T0)
    with pytest.raises(ValueError, match="grade"):
        policy.due_times("complaint", T0, "whenever")
    with pytest.raises(ValueError, match="'parcel'"):
        policy.due_times("parcel", T0)


def test_escalation_moves_right_and_stops_at_the_top(policy: Policy) -> None:
    assert policy.escalate("complex", 0) == "complex"
    assert policy.escalate("complex", 1) == "ordinary"
    assert policy.escalate("complex", 2) == "urgent"
    assert policy.escalate("ordinary", 2) == "urgent"
    assert policy.escalate("urgent", 1) == "urgent"


def test_the_file_drives_the_times(tmp_path: Path) -> None:
    data = replaced(shipped_data(), "due.fault.response", "90m")
    data = replaced(data, "grading.repeat_window", "7d")
    policy = Policy.load(write(tmp_path, data))
    assert policy.fault_response == timedelta(minutes=90)
    assert policy.repeat_window == timedelta(days=7)


@pytest.mark.parametrize(
    "dotted",
    [
        "due.fault.response",
        "due.fault.repair",
        "due.complaint.urgent",
        "due.complaint.complex",
        "due.feedback",
        "grading.ladder",
        "grading.repeat_window",
        "grading.regulator_terms",
        "grading.categories.privacy",
        "grading.categories.billing.grade",
        "grading.categories.network.escalate_terms",
        "service.hours",
        "service.reminder_lead",
        "service.booking_horizon_days",
    ],
)
def test_a_missing_value_is_named(tmp_path: Path, dotted: str) -> None:
    path = write(tmp_path, without(shipped_data(), dotted))
    with pytest.raises(PolicyError) as raised:
        Policy.load(path)
    assert str(path) in str(raised.value)
    assert dotted in str(raised.value)
    assert "missing" in str(raised.value)


@pytest.mark.parametrize(
    ("dotted", "value", "expect"),
    [
        ("due.fault.response", "two hours", "duration"),
        ("due.fault.repair", "0h", "longer than zero"),
        ("due.complaint.ordinary", 24, "duration"),
        ("grading.repeat_window", "30 weeks", "duration"),
        ("grading.ladder", ["complex", "urgent", "complex"], "twice"),
        ("grading.ladder", [], "at least one"),
        ("grading.regulator_terms", "工信部", "list of words"),
        ("grading.categories.attitude.grade", "critical", "ladder"),
        ("grading.categories.parcels", {"grade": "urgent", "escalate_terms": []}, "unknown"),
        ("service.hours", "20:00-08:00", "before the end"),
        ("service.hours", "8 to 8", "08:00-20:00"),
        ("service.hours", "08:00-25:00", "08:00-20:00"),
        ("service.booking_horizon_days", "two weeks", "whole number"),
        ("service.booking_horizon_days", 0, "whole number"),
    ],
)
def test_an_invalid_value_is_named(tmp_path: Path, dotted: str, value: Any, expect: str) -> None:
    path = write(tmp_path, replaced(shipped_data(), dotted, value))
    with pytest.raises(PolicyError) as raised:
        Policy.load(path)
    assert dotted in str(raised.value)
    assert expect in str(raised.value)


def test_unreadable_files_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "absent.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("due: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="YAML"):
        Policy.load(broken)
    empty = tmp_path / "empty.yml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(PolicyError, match="missing"):
        Policy.load(empty)
