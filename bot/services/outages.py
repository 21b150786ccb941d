"""Known outages by area, from ``data/outages.yml``: the fault flow's first quick check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.services.catalog import pick


class OutageError(ValueError):
    """The outage data file is missing or malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Outage:
    """An outage in one area between two instants (epoch seconds), described per language."""

    area: str
    start: float
    end: float
    text: Mapping[str, str]

    def describe(self, locale: str) -> str:
        """The description in `locale`'s language, else Chinese."""
        return pick(self.text, locale)


class Outages:
    """The known outages; `active` answers whether an area has one now."""

    def __init__(self, outages: Sequence[Outage]) -> None:
        self._outages = tuple(sorted(outages, key=lambda outage: outage.start))

    @classmethod
    def load(cls, path: Path, timezone: str) -> Outages:
        """Read and check the data file; OutageError names the first problem."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise OutageError(f"{path}: cannot read: {error}") from error
        if not isinstance(data, dict) or not isinstance(data.get("outages", []), list):
            raise OutageError(f"{path}: expected a mapping with a list `outages`")
        zone = ZoneInfo(timezone)
        outages = []
        for index, raw in enumerate(data.get("outages") or []):
            try:
                outages.append(_outage(raw, zone))
            except (KeyError, TypeError, ValueError) as error:
                raise OutageError(f"{path}: outage {index + 1}: {error}") from error
        return cls(outages)

    def active(self, area: str, now: float) -> Outage | None:
        """The outage going on in `area` at `now` (the one that started last), if any."""
        current = [o for o in self._outages if o.area == area and o.start <= now < o.end]
        return current[-1] if current else None

    def areas(self, now: float | None = None) -> tuple[str, ...]:
        """The areas with an outage going on at `now` (None: with any known outage)."""
        return tuple(
            sorted({o.area for o in self._outages if now is None or o.start <= now < o.end})
        )


def _instant(raw: Any, zone: ZoneInfo, what: str) -> float:
    # YAML turns an unquoted timestamp into a datetime (or a date) by itself.
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
    else:
        raise ValueError(f"{what}: expected an ISO date-time, got {raw!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _outage(raw: Mapping[str, Any], zone: ZoneInfo) -> Outage:
    area = raw["area"]
    text = raw["text"]
    if not isinstance(area, str) or not area:
        raise ValueError("area: expected an area id")
    if not isinstance(text, dict) or not text or not all(isinstance(t, str) for t in text.values()):
        raise ValueError("text: expected texts per language, e.g. {zh: ..., en: ...}")
    start, end = _instant(raw["start"], zone, "start"), _instant(raw["end"], zone, "end")
    if end <= start:
        raise ValueError("end must be after start")
    return Outage(
        area=area, start=start, end=end, text={str(k): v.strip() for k, v in text.items()}
    )
