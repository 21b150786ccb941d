"""What can be booked: service types, places and daily time windows with their capacity.

`Catalog` is the seam a real operator backend implements; `SampleCatalog` serves the sample
data in ``data/appointments.yml``. How many visits a window has left is not the catalog's
business: `bot.services.appointments` counts bookings in Redis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import yaml

from bot.i18n import negotiate

SERVICE_TYPES = ("broadband_install", "onsite_repair", "store_business", "device_setup")
HOME = "home"  # a technician visits the customer: booked by area
STORE = "store"  # the customer comes to a store
_ID = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")  # no ":" so window ids split unambiguously
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# Place-days whose windows SampleCatalog keeps made: every place over a booking horizon
# and then some; past that it starts afresh.
DAYS_KEPT = 4096


class CatalogError(ValueError):
    """The catalog data file is missing or malformed; the message says where."""


def pick(texts: Mapping[str, str], locale: str) -> str:
    """The text for `locale` among per-language `texts`, else Chinese, else any."""
    language = negotiate([locale])
    return texts.get(language) or texts.get("zh") or next(iter(texts.values()), "")


@dataclass(frozen=True, slots=True)
class ServiceType:
    """A bookable service: where it happens, whether it needs an ID number, how long it takes."""

    id: str
    names: Mapping[str, str]
    at: str  # HOME or STORE
    needs_id: bool
    minutes: int

    def name(self, locale: str) -> str:
        return pick(self.names, locale)


@dataclass(frozen=True, slots=True)
class Place:
    """An area (home visits) or a store; `address` is empty for areas."""

    id: str
    kind: str  # "area" | "store"
    names: Mapping[str, str]
    area: str
    address: Mapping[str, str]

    def name(self, locale: str) -> str:
        return pick(self.names, locale)


@dataclass(frozen=True, slots=True)
class Window:
    """A time window of one place on one day, in the operator's time zone."""

    place: str
    day: date
    start: datetime
    end: datetime
    capacity: int
    # Compact and stable: ``<place>:<yyyymmdd>:<HHMM>`` (fits a button payload). Made once:
    # sorting and matching windows reads it many times a turn.
    id: str = field(init=False, repr=False, compare=False)
    starts_at: float = field(init=False, repr=False, compare=False)  # epoch seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.place}:{self.day:%Y%m%d}:{self.start:%H%M}")
        object.__setattr__(self, "starts_at", self.start.timestamp())


@dataclass(frozen=True, slots=True)
class Slot:
    """A window with the number of visits it can still take."""

    window: Window
    free: int


def parse_window_id(window_id: str) -> tuple[str, date, time] | None:
    """The place, day and start time a window id names, or None if it is not one."""
    parts = window_id.split(":")
    if len(parts) != 3 or not _ID.fullmatch(parts[0]):
        return None
    place, day_text, hhmm = parts
    if not (day_text.isdigit() and len(day_text) == 8 and hhmm.isdigit() and len(hhmm) == 4):
        return None
    try:  # by hand: strptime costs more than the rest of a booking step's parsing
        day = date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:]))
        start = time(int(hhmm[:2]), int(hhmm[2:]))
    except ValueError:
        return None
    return place, day, start


class Catalog(Protocol):
    """What an operator backend tells us about bookable services (capacity per window)."""

    def service_types(self) -> Sequence[ServiceType]: ...

    def service(self, service_id: str) -> ServiceType | None: ...

    def places(self, service_id: str) -> Sequence[Place]:
        """Areas for home services, stores otherwise."""
        ...

    def place(self, place_id: str) -> Place | None: ...

    def windows(self, service_id: str, place_id: str, day: date) -> Sequence[Window]: ...

    def window(self, window_id: str) -> Window | None: ...


@dataclass(frozen=True, slots=True)
class _Template:
    start: time
    end: time
    capacity: int


class SampleCatalog:
    """The catalog of ``data/appointments.yml``: the same windows every day."""

    def __init__(
        self,
        services: Sequence[ServiceType],
        places: Sequence[Place],
        templates: Mapping[str, Sequence[_Template]],
        timezone: str,
    ) -> None:
        self._services = {service.id: service for service in services}
        self._places = {place.id: place for place in places}
        self._templates = templates
        self._zone = ZoneInfo(timezone)
        self._by_service = {
            service.id: tuple(
                place
                for place in places
                if place.kind == ("area" if service.at == HOME else "store")
            )
            for service in services
        }
        # The windows of a place and day never change: made once (bounded, see _day).
        self._days: dict[tuple[str, date], tuple[Window, ...]] = {}

    @classmethod
    def load(cls, path: Path, timezone: str) -> SampleCatalog:
        """Read and check the data file; CatalogError names the first problem."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise CatalogError(f"{path}: cannot read: {error}") from error
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: expected a mapping at the top")
        try:
            return cls._from_data(data, timezone)
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogError(f"{path}: {error}") from error

    @classmethod
    def _from_data(cls, data: Mapping[str, Any], timezone: str) -> SampleCatalog:
        services = [_service(sid, raw) for sid, raw in data["services"].items()]
        if sorted(s.id for s in services) != sorted(SERVICE_TYPES):
            raise ValueError(f"services must be exactly {', '.join(SERVICE_TYPES)}")
        areas = [_place(raw, "area") for raw in data["areas"]]
        stores = [_place(raw, "store") for raw in data["stores"]]
        area_ids = {area.id for area in areas}
        for store in stores:
            if store.area not in area_ids:
                raise ValueError(f"store {store.id}: unknown area {store.area!r}")
        defaults = {kind: _templates(data["windows"][kind]) for kind in (HOME, STORE)}
        templates: dict[str, Sequence[_Template]] = {}
        for raw, place in zip([*data["areas"], *data["stores"]], [*areas, *stores], strict=True):
            own = raw.get("windows")
            templates[place.id] = (
                _templates(own) if own else defaults[HOME if place.kind == "area" else STORE]
            )
        if len(templates) != len(areas) + len(stores):
            raise ValueError("place ids must be unique")
        return cls(services, [*areas, *stores], templates, timezone)

    def service_types(self) -> Sequence[ServiceType]:
        return tuple(self._services.values())

    def service(self, service_id: str) -> ServiceType | None:
        return self._services.get(service_id)

    def places(self, service_id: str) -> Sequence[Place]:
        return self._by_service.get(service_id, ())

    def place(self, place_id: str) -> Place | None:
        return self._places.get(place_id)

    def windows(self, service_id: str, place_id: str, day: date) -> Sequence[Window]:
        if all(place.id != place_id for place in self.places(service_id)):
            return ()
        return self._day(place_id, day)

    def window(self, window_id: str) -> Window | None:
        parsed = parse_window_id(window_id)
        if parsed is None or parsed[0] not in self._templates:
            return None
        place_id, day, start = parsed
        for window in self._day(place_id, day):
            if window.start.time() == start:
                return window
        return None

    def _day(self, place_id: str, day: date) -> tuple[Window, ...]:
        windows = self._days.get((place_id, day))
        if windows is None:
            if len(self._days) >= DAYS_KEPT:  # a long-running server moves on to new days
                self._days.clear()
            windows = tuple(
                Window(
                    place=place_id,
                    day=day,
                    start=datetime.combine(day, template.start, self._zone),
                    end=datetime.combine(day, template.end, self._zone),
                    capacity=template.capacity,
                )
                for template in self._templates[place_id]
            )
            self._days[place_id, day] = windows
        return windows


def _texts(raw: Any, what: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"{what}: expected texts per language, e.g. {{zh: ..., en: ...}}")
    return {str(language): text for language, text in raw.items()}


def _identifier(raw: Any, what: str) -> str:
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise ValueError(f"{what}: id {raw!r} must be lower-case words joined by _")
    return raw


def _service(service_id: str, raw: Mapping[str, Any]) -> ServiceType:
    at = raw["at"]
    if at not in (HOME, STORE):
        raise ValueError(f"service {service_id}: at must be {HOME} or {STORE}")
    minutes = raw["minutes"]
    if not isinstance(minutes, int) or minutes <= 0:
        raise ValueError(f"service {service_id}: minutes must be a positive whole number")
    return ServiceType(
        id=_identifier(service_id, "service"),
        names=_texts(raw["names"], f"service {service_id} names"),
        at=at,
        needs_id=bool(raw["needs_id"]),
        minutes=minutes,
    )


def _place(raw: Mapping[str, Any], kind: str) -> Place:
    place_id = _identifier(raw["id"], kind)
    is_store = kind == "store"
    return Place(
        id=place_id,
        kind=kind,
        names=_texts(raw["names"], f"{kind} {place_id} names"),
        area=_identifier(raw["area"], f"{kind} {place_id} area") if is_store else place_id,
        address=_texts(raw["address"], f"store {place_id} address") if is_store else {},
    )


def _clock(raw: Any, what: str) -> time:
    match = _HHMM.fullmatch(str(raw))
    if match is None:
        raise ValueError(f'{what}: expected a time like "09:00" (quoted), got {raw!r}')
    return time(int(match[1]), int(match[2]))


def _templates(raw: Any) -> tuple[_Template, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("windows: expected a list of {start, end, capacity}")
    result = []
    for item in raw:
        start, end = _clock(item["start"], "window start"), _clock(item["end"], "window end")
        capacity = item["capacity"]
        if end <= start or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"window {item}: end after start and a capacity of 0 or more")
        result.append(_Template(start, end, capacity))
    return tuple(sorted(result, key=lambda template: template.start))
