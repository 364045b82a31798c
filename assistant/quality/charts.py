"""Charts drawn on the server as SVG: 20 px Chinese labels, every value written out, and series told
apart by line pattern and marker shape as well as colour (never colour alone)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = 20
_STYLES = (  # colour, dash pattern, marker
    ("#1f5fa8", "", "circle"),
    ("#b03a00", "8 5", "square"),
    ("#2d7a2d", "2 4", "triangle"),
)


def _text(x: float, y: float, content: str, anchor: str = "start", size: int = FONT, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="#111">{escape(content)}</text>')


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" '
            f'font-family="Noto Sans CJK SC, sans-serif"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def bar_chart(title: str, rows: Sequence[tuple[str, float]], unit: str = "", width: int = 720) -> str:
    """Horizontal bars, each labelled with its name and value."""
    label_width, bar_height, gap, top = 200, 30, 14, 48
    height = top + len(rows) * (bar_height + gap) + 10
    peak = max((v for _, v in rows), default=0) or 1
    room = width - label_width - 130
    body = [_text(0, 28, title, weight="bold")]
    if not rows:
        body.append(_text(0, top + 24, "（没有数据）"))
    for index, (name, value) in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = max(2.0, room * value / peak)
        body.append(_text(label_width - 10, y + bar_height - 7, name, anchor="end"))
        body.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="#1f5fa8" '
                    f'stroke="#0b2e55"/>')
        shown = f"{value:g}{unit}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}{unit}"
        body.append(_text(label_width + length + 8, y + bar_height - 7, shown))
    return _svg(width, max(height, 90), title, body)


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{colour}"/>'
    if kind == "triangle":
        return f'<polygon points="{x:.1f},{y - 6:.1f} {x - 6:.1f},{y + 5:.1f} {x + 6:.1f},{y + 5:.1f}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>'


def trend_chart(title: str, days: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
                percent: bool = False, width: int = 720, height: int = 320) -> str:
    """Lines over days; the legend names each series next to its pattern and marker."""
    left, right, top, bottom = 80, 20, 50 + 28 * len(series), 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    peak = max(values, default=0) or 1
    if percent:
        peak = max(peak, 0.01)
    body = [_text(0, 28, title, weight="bold")]
    for index, (name, _) in enumerate(series):
        colour, dash, marker = _STYLES[index % len(_STYLES)]
        y = 50 + index * 28
        body.append(f'<line x1="0" y1="{y - 6}" x2="40" y2="{y - 6}" stroke="{colour}" stroke-width="3" '
                    f'stroke-dasharray="{dash}"/>' + _marker(marker, 20, y - 6, colour))
        body.append(_text(50, y, name))
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        value = peak * fraction
        label = f"{value * 100:.0f}%" if percent else f"{value:.0f}"
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#bbb"/>')
        body.append(_text(left - 8, y + 7, label, anchor="end"))
    step = plot_w / max(1, len(days) - 1)
    for index, (_, vs) in enumerate(series):
        colour, dash, marker = _STYLES[index % len(_STYLES)]
        points = [(left + i * step, top + plot_h * (1 - v / peak)) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3" '
                        f'stroke-dasharray="{dash}"/>')
        if len(days) <= 31:
            body.extend(_marker(marker, x, y, colour) for x, y in points)
    if days:
        body.append(_text(left, height - 10, days[0][5:], anchor="start"))
        body.append(_text(width - right, height - 10, days[-1][5:], anchor="end"))
    return _svg(width, height, title, body)
