"""The sample catalog: services, areas and stores, daily windows; bad data files refused."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.services.catalog import SERVICE_TYPES, CatalogError, SampleCatalog, parse_window_id
from bot.services.policy import Policy
from bot.settings import Settings

DAY = date(2030, 3, 5)


@pytest.fixture(scope="module")
def sample() -> SampleCatalog:
    settings = Settings()
    return SampleCatalog.load(settings.data_dir / "appointments.yml", settings.timezone)


def test_the_four_service_types_and_where_they_happen(sample: SampleCatalog) -> None:
    assert sorted(s.id for s in sample.service_types()) == sorted(SERVICE_TYPES)
    needs_id = {s.id for s in sample.service_types() if s.needs_id}
    assert needs_id == {"broadband_install", "store_business"}  # the real-name rule
    for service in sample.service_types():
        kinds = {place.kind for place in sample.places(service.id)}
        assert kinds == ({"area"} if service.at == "home" else {"store"})
    assert sample.service("teleport") is None
    assert sample.places("teleport") == ()


def test_places_have_names_and_stores_addresses_in_both_languages(sample: SampleCatalog) -> None:
    stores = sample.places("store_business")
    assert len(stores) >= 2 and len(sample.places("onsite_repair")) >= 3
    for store in stores:
        assert set(store.address) >= {"zh", "en"} and set(store.names) >= {"zh", "en"}
        area = sample.place(store.area)
        assert area is not None and area.kind == "area"
    wensan = sample.place("wensan")
    assert wensan is not None
    assert wensan.name("zh-CN") == "文三路营业厅" and wensan.name("en-US") == "Wensan Road Store"


def test_windows_have_compact_ids_that_lead_back_to_them(sample: SampleCatalog) -> None:
    windows = sample.windows("onsite_repair", "xihu", DAY)
    assert windows and all(w.capacity > 0 and w.end > w.start for w in windows)
    first = windows[0]
    assert first.id == "xihu:20300305:0900"
    assert first.start.isoformat() == "2030-03-05T09:00:00+08:00"
    assert parse_window_id(first.id) is not None
    assert all(sample.window(w.id) == w for w in windows)
    assert sample.window("xihu:20300305:0930") is None
    assert sample.window("xihu:20300230:0900") is None  # no such day
    assert sample.window("nowhere:20300305:0900") is None
    assert sample.windows("onsite_repair", "wensan", DAY) == ()  # a store, not an area


def test_sample_windows_lie_inside_the_policy_service_hours(
    sample: SampleCatalog, settings: Settings
) -> None:
    opens, closes = Policy.load(settings.data_dir / "policy.yml").service_hours
    for service in sample.service_types():
        for place in sample.places(service.id):
            for w in sample.windows(service.id, place.id, DAY):
                assert opens <= w.start.time() and w.end.time() <= closes, w.id


def _broken(settings: Settings, change: str) -> dict[str, object]:
    data = yaml.safe_load((settings.data_dir / "appointments.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if change == "time":
        data["windows"]["home"][0]["start"] = "9am"
    elif change == "area":
        data["stores"][0]["area"] = "atlantis"
    elif change == "service":
        del data["services"]["device_setup"]
    elif change == "id":
        data["areas"][0]["id"] = "Xi:hu"
    elif change == "duplicate":
        data["areas"].append(dict(data["areas"][0]))
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("time", "09:00"),
        ("area", "atlantis"),
        ("service", "services must be"),
        ("id", "lower-case"),
        ("duplicate", "unique"),
    ],
)
def test_a_broken_catalog_is_refused_with_the_reason(
    tmp_path: Path, settings: Settings, change: str, problem: str
) -> None:
    path = tmp_path / "appointments.yml"
    path.write_text(yaml.safe_dump(_broken(settings, change), allow_unicode=True), "utf-8")
    with pytest.raises(CatalogError, match=problem):
        SampleCatalog.load(path, settings.timezone)


def test_a_missing_catalog_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        SampleCatalog.load(tmp_path / "missing.yml", "Asia/Shanghai")


def test_a_place_days_windows_are_made_once(sample: SampleCatalog) -> None:
    windows = sample.windows("onsite_repair", "xihu", DAY)
    assert sample.windows("broadband_install", "xihu", DAY) is windows  # same place, same day
    assert all(sample.window(w.id) is w for w in windows)
    moved = dataclasses.replace(windows[0], day=date(2030, 3, 6))
    assert moved.id == "xihu:20300306:0900"  # the id follows the window it is made for
