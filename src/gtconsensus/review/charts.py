"""Small inline SVG charts for the job report: a scatter, bars and a histogram.

Plain strings, no plotting library; every text is escaped. Each function
returns one ``<svg>`` element sized in CSS pixels.

Examples
--------
>>> svg = histogram_svg([0.1, 0.9, 0.95], bins=10, title="confidence")
>>> svg.startswith("<svg") and svg.count("<rect class=\\"bar\\"") == 10
True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bars_svg", "histogram_svg", "quality_colour", "scatter_svg"]

_W, _H = 420, 300
_MARGIN = (20, 20, 44, 52)  # top, right, bottom, left


def quality_colour(value: float | None, *, low: float = 0.0) -> str:
    """A red-to-green colour for a quality in [low, 1] (grey when unknown).

    Examples
    --------
    >>> quality_colour(0.0), quality_colour(1.0), quality_colour(None)
    ('#d7301f', '#1a9850', '#999999')
    >>> quality_colour(0.5, low=0.5)
    '#d7301f'
    """
    if value is None:
        return "#999999"
    t = min(max((value - low) / (1.0 - low), 0.0), 1.0)
    red, yellow, green = (0xD7, 0x30, 0x1F), (0xFE, 0xE0, 0x8B), (0x1A, 0x98, 0x50)
    a, b, u = (red, yellow, t * 2) if t < 0.5 else (yellow, green, t * 2 - 1)
    return "#" + "".join(f"{round(x + (y - x) * u):02x}" for x, y in zip(a, b, strict=True))


def _axes(x_label: str, y_label: str, ticks: Sequence[float], *, y_ticks: Sequence[float]) -> str:
    top, right, bottom, left = _MARGIN
    plot_w, plot_h = _W - left - right, _H - top - bottom
    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for t in ticks:
        x = left + t * plot_w
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" class="grid"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="tick" '
            f'text-anchor="middle">{t:g}</text>'
        )
    for t in y_ticks:
        y = top + plot_h - t * plot_h
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{t:g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{_H - 8}" class="axis" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    return "".join(parts)


def _svg(body: str, title: str, height: int = _H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" width="{_W}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def scatter_svg(
    points: Sequence[tuple[str, float, float, float | None]],
    *,
    title: str,
    x_label: str = "precision",
    y_label: str = "recall",
) -> str:
    """Points ``(name, x, y, quality)`` in the unit square, coloured by quality."""
    top, right, bottom, left = _MARGIN
    plot_w, plot_h = _W - left - right, _H - top - bottom
    ticks = [0, 0.25, 0.5, 0.75, 1]
    parts = [_axes(x_label, y_label, ticks, y_ticks=ticks)]
    for name, x, y, quality in points:
        cx, cy = left + x * plot_w, top + plot_h - y * plot_h
        tip = f"{name}: {x_label} {x:.2f}, {y_label} {y:.2f}"
        if quality is not None:
            tip += f", boundary IoU {quality:.2f}"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" class="point" '
            f'fill="{quality_colour(quality, low=0.5)}"><title>{escape(tip)}</title></circle>'
        )
        short = name.rsplit(".", 1)[-1][:8]
        anchor, dx = ("end", -9) if x > 0.7 else ("start", 9)
        parts.append(
            f'<text x="{cx + dx:.1f}" y="{cy - 8:.1f}" class="label" '
            f'text-anchor="{anchor}">{escape(short)}</text>'
        )
    return _svg("".join(parts), title)


def bars_svg(rows: Sequence[tuple[str, float | None]], *, title: str, value_label: str) -> str:
    """Horizontal bars of values in [0, 1], one per row, in the given order."""
    row_h, left, right, top = 22, 150, 60, 10
    height = top + row_h * max(len(rows), 1) + 34
    plot_w = _W - left - right
    parts = []
    for index, (name, value) in enumerate(rows):
        y = top + index * row_h
        tail = name.rsplit(".", 1)[-1]
        short = tail if len(tail) <= 18 else tail[:17] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" class="label" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        width = 0.0 if value is None else value * plot_w
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
            f'fill="{quality_colour(value, low=0.5)}" class="hbar"><title>{escape(name)}: '
            f"{'-' if value is None else f'{value:.3f}'}</title></rect>"
        )
        text = "-" if value is None else f"{value:.2f}"
        parts.append(f'<text x="{left + width + 4:.1f}" y="{y + 15}" class="tick">{text}</text>')
    axis_y = top + row_h * max(len(rows), 1) + 4
    for t in (0, 0.5, 1):
        x = left + t * plot_w
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 12}" class="tick" text-anchor="middle">{t:g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{axis_y + 28}" class="axis" '
        f'text-anchor="middle">{escape(value_label)}</text>'
    )
    return _svg("".join(parts), title, height)


def histogram_svg(
    values: Sequence[float], *, bins: int = 10, title: str, x_label: str = "confidence"
) -> str:
    """A histogram of values in [0, 1] with ``bins`` equal bins."""
    counts = [0] * bins
    for value in values:
        counts[min(int(max(value, 0.0) * bins), bins - 1)] += 1
    peak = max(max(counts), 1)
    top, right, bottom, left = _MARGIN
    plot_w, plot_h = _W - left - right, _H - top - bottom
    step = 10 ** len(str(peak)) // 10 or 1
    y_ticks = [t / peak for t in range(0, peak + 1, max(step, peak // 4 or 1))]
    parts = [_axes(x_label, "instances", [i / 5 for i in range(6)], y_ticks=[])]
    for t in y_ticks:
        y = top + plot_h - t * plot_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{round(t * peak)}</text>"
        )
    width = plot_w / bins
    for index, count in enumerate(counts):
        h = count / peak * plot_h
        low, high = index / bins, (index + 1) / bins
        parts.append(
            f'<rect class="bar" x="{left + index * width + 1:.1f}" '
            f'y="{top + plot_h - h:.1f}" width="{width - 2:.1f}" height="{h:.1f}">'
            f"<title>{low:.1f}–{high:.1f}: {count}</title></rect>"
        )
    return _svg("".join(parts), title)
