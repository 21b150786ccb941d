"""The supervisor's charts, drawn on the server as SVG (no script, no external CDN).

Each chart is a bar per day for the last week, from the day counters of
bot/services/stats.py. Labels are escaped; numbers are formatted by us.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from xml.sax.saxutils import escape

from bot.i18n import Catalogs, Text, _
from bot.services.stats import Stats

DAYS = 7
WIDTH, HEIGHT = 420, 180
_TOP, _BOTTOM, _LEFT = 28, 24, 8

Figure = Callable[[dict[str, float]], float | None]


def _ratio(part: str, *whole: str) -> Figure:
    def figure(day: dict[str, float]) -> float | None:
        total = sum(day.get(name, 0) for name in whole)
        return day.get(part, 0) / total if total else None

    return figure


CHARTS: dict[str, tuple[Text, Figure, Callable[[float], str]]] = {
    "handoffs": (_("Handoffs per day"), lambda d: d.get("handoffs", 0), lambda v: f"{v:.0f}"),
    "waits": (
        _("Mean wait for an agent (s)"),
        lambda d: d["wait_s"] / d["waits"] if d.get("waits") else None,
        lambda v: f"{v:.0f}",
    ),
    "sla": (
        _("SLA compliance"),
        _ratio("sla_met", "sla_met", "sla_late", "sla_breached"),
        lambda v: f"{v:.0%}",
    ),
    "csat": (
        _("Mean satisfaction (1-5)"),
        lambda d: d["csat_sum"] / d["csat_n"] if d.get("csat_n") else None,
        lambda v: f"{v:.1f}",
    ),
}


async def chart_svg(stats: Stats, name: str, locale: str, catalogs: Catalogs) -> str | None:
    """The chart called `name` for the last DAYS days, or None when there is no such chart."""
    spec = CHARTS.get(name)
    if spec is None:
        return None
    title, figure, label = spec
    days = await stats.days(DAYS)
    values = [(day, figure(counts)) for day, counts in days]
    return draw(catalogs.render(locale, title), values, label)


def draw(title: str, values: list[tuple[date, float | None]], label: Callable[[float], str]) -> str:
    """A bar chart: one bar per day, its value above it; a day without data has no bar."""
    top = max((v for _d, v in values if v is not None), default=0) or 1
    slot = (WIDTH - _LEFT * 2) / max(len(values), 1)
    plot = HEIGHT - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{_LEFT}" y="16" font-size="13" font-family="sans-serif">{escape(title)}</text>',
    ]
    for n, (day, value) in enumerate(values):
        x = _LEFT + n * slot + slot * 0.15
        width = slot * 0.7
        parts.append(
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT - 8}" font-size="10" '
            f'text-anchor="middle" font-family="sans-serif">{day:%m-%d}</text>'
        )
        if value is None:
            continue
        height = plot * value / top
        y = _TOP + plot - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="#2f6fdf"><title>{escape(label(value))}</title></rect>'
        )
        parts.append(
            f'<text x="{x + width / 2:.1f}" y="{y - 3:.1f}" font-size="10" '
            f'text-anchor="middle" font-family="sans-serif">{escape(label(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
