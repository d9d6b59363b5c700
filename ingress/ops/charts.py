"""Charts drawn on the server as inline SVG: no chart library, no CDN, nothing to load (works offline, and the
page's Content-Security-Policy stays `default-src 'none'`). Only numbers and our own labels reach the markup."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 560, 150
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 22
COLORS = {"calls_logged": "#17803d", "retries": "#b7791f", "events_dead_lettered": "#b42318",
          "accepted": "#17803d", "duplicate": "#667085", "refused_signature": "#b42318",
          "refused_schema": "#c4320a", "refused_size": "#7a2e0e", "bad_json": "#9e165f", "unavailable": "#1d2939"}


def bar_chart(points: list[dict[str, Any]], series: tuple[str, ...], *, title: str, time_format: str) -> Markup:
    """Stacked bars over time, one per point (`points`: [{"at": epoch, series: count, ...}], oldest first)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([1, *(sum(int(p.get(s, 0)) for s in series) for p in points)])
    slot = plot_w / max(len(points), 1)
    bar = max(slot - 1.5, 1.0)

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for fraction in (0.0, 0.5, 1.0):
        gy = y(top * fraction)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#e3e6ec"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end" font-size="10" fill="#667085">'
                     f'{_short(top * fraction)}</text>')
    if points:
        for index in (0, len(points) // 2, len(points) - 1):
            label = datetime.fromtimestamp(points[index]["at"], UTC).strftime(time_format)
            anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
            x = LEFT + index * slot + (slot if index == len(points) - 1 else 0)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="10" '
                         f'fill="#667085">{label}</text>')
    for index, point in enumerate(points):
        base, x = 0, LEFT + index * slot
        when = datetime.fromtimestamp(point["at"], UTC).strftime(time_format)
        for name in series:
            value = int(point.get(name, 0))
            if value <= 0:
                continue
            height = value / top * plot_h
            parts.append(f'<rect x="{x:.1f}" y="{y(base + value):.1f}" width="{bar:.1f}" height="{height:.1f}" '
                         f'fill="{COLORS.get(name, "#344054")}"><title>{when} {escape(name.replace("_", " "))}: '
                         f'{value}</title></rect>')
            base += value
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built above from numbers and escaped labels only


def legend(series: tuple[str, ...], totals: dict[str, int]) -> Markup:
    items = [f'<span class="key"><svg width="10" height="10" xmlns="http://www.w3.org/2000/svg"><rect width="10" '
             f'height="10" fill="{COLORS.get(name, "#344054")}"/></svg> {escape(name.replace("_", " "))} '
             f'<b>{totals.get(name, 0)}</b></span>' for name in series]
    return Markup("".join(items))  # noqa: S704 - fixed names and integers


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
