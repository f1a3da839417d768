"""Charts as inline SVG, drawn on the server (no script, nothing for the CSP to allow)."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

Number = int | Decimal


def bars(rows: Sequence[tuple[str, Number]], title: str, unit: str = "", classes: list[str] | None = None,
         width: int = 560) -> Markup:
    """Horizontal bars, one per (label, value), labelled with their values; ``classes`` per bar."""
    label_w, bar_h, gap = 120, 22, 8
    top = max((abs(Decimal(v)) for _, v in rows), default=Decimal(0)) or Decimal(1)
    height = len(rows) * (bar_h + gap) + gap
    room = width - label_w - 90
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        length = int(room * abs(Decimal(value)) / top)
        css = "bar " + (classes[i] if classes and i < len(classes) else "")
        text_y = f"{y + bar_h * 0.7:.0f}"
        parts.append(f'<text x="{label_w - 6}" y="{text_y}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="{css.strip()}" x="{label_w}" y="{y}" width="{max(length, 1)}" height="{bar_h}"/>'
                     f'<text x="{label_w + length + 6}" y="{text_y}">{escape(_fmt(value))}{escape(unit)}</text>')
    parts.append(f'<line class="axis" x1="{label_w}" y1="0" x2="{label_w}" y2="{height}"/></svg>')
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def percent(value: str | Decimal | None) -> Decimal:
    """A share ("0.12") as percent (12.0), exact."""
    return (Decimal(str(value or 0)) * 100).quantize(Decimal("0.1"))


def _fmt(value: Number) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}" if value % 1 else f"{value:,.0f}"
