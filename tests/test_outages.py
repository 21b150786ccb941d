"""Known outages by area from the data file: active between start and end, text per language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.services.outages import OutageError, Outages
from bot.settings import Settings

ZONE = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


@pytest.fixture
def sample(settings: Settings) -> Outages:
    return Outages.load(settings.data_dir / "outages.yml", settings.timezone)


def test_the_sample_outage_is_active_in_its_area_for_the_demo(sample: Outages) -> None:
    outage = sample.active("xihu", at("2027-06-01T10:00:00"))
    assert outage is not None
    assert outage.area == "xihu"
    assert "西湖区" in outage.describe("zh-CN")
    assert "Xihu" in outage.describe("en")
    assert outage.describe("fr") == outage.text["zh"]  # the default language
    assert sample.active("xihu", at("2026-01-01T00:00:00")) is not None
    assert sample.areas() == ("xihu",)


def test_no_outage_elsewhere_or_outside_its_time(sample: Outages) -> None:
    assert sample.active("binjiang", at("2027-06-01T10:00:00")) is None
    assert sample.active("xihu", at("2025-12-31T23:59:00")) is None
    assert sample.active("xihu", at("2031-01-01T00:00:00")) is None
    assert sample.areas(at("2031-01-01T00:00:00")) == ()


def test_the_areas_of_the_sample_outages_exist_in_the_catalog(
    sample: Outages, settings: Settings
) -> None:
    from bot.services.catalog import SampleCatalog

    catalog = SampleCatalog.load(settings.data_dir / "appointments.yml", settings.timezone)
    for area in sample.areas():
        place = catalog.place(area)
        assert place is not None and place.kind == "area"


def test_times_without_an_offset_are_in_the_operator_zone_and_end_is_exclusive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outages.yml"
    path.write_text(
        "outages:\n"
        "  - area: gongshu\n"
        "    start: '2030-03-01T08:00:00'\n"
        "    end: 2030-03-01 12:00:00\n"  # unquoted: YAML makes it a datetime itself
        "    text: {zh: 停电检修, en: Power maintenance}\n"
        "  - area: gongshu\n"
        "    start: '2030-03-01T10:00:00+08:00'\n"
        "    end: '2030-03-01T11:00:00+08:00'\n"
        "    text: {zh: 基站升级, en: Cell site upgrade}\n",
        encoding="utf-8",
    )
    outages = Outages.load(path, "Asia/Shanghai")
    assert outages.active("gongshu", at("2030-03-01T07:59:59")) is None
    first = outages.active("gongshu", at("2030-03-01T08:00:00"))
    assert first is not None and first.describe("en") == "Power maintenance"
    latest = outages.active("gongshu", at("2030-03-01T10:30:00"))
    assert latest is not None and latest.describe("en") == "Cell site upgrade"
    assert outages.active("gongshu", at("2030-03-01T12:00:00")) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "outages:\n  - area: xihu\n    start: '2030-01-02'\n    end: '2030-01-01'\n"
            "    text: {zh: x}\n",
            "end must be after start",
        ),
        ("outages:\n  - area: xihu\n    start: '2030-01-01'\n    end: '2030-01-02'\n", "text"),
        (
            "outages:\n  - area: xihu\n    start: soon\n    end: '2030-01-02'\n    text: {zh: x}\n",
            "outage 1",
        ),
        ("- just a list\n", "mapping"),
    ],
)
def test_a_bad_file_is_refused_with_the_reason(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "outages.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(OutageError, match=problem):
        Outages.load(path, "Asia/Shanghai")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutageError, match="cannot read"):
        Outages.load(tmp_path / "missing.yml", "Asia/Shanghai")
