"""The report's HTML building blocks: escaping, numbers, sections, tables, images and legends."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any


def esc(value: Any) -> str:
    """HTML-escaped text of anything (users and models write column names and instructions)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; missing or non-finite values as an en dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def legend(items: Sequence[tuple[str, str, str]]) -> str:
    """An HTML legend of line styles: (colour, CSS border style, label)."""
    keys = "".join(
        f'<span><i style="border-top:3px {style} {colour}"></i>{esc(label)}</span>' for colour, style, label in items
    )
    return f'<p class="legend">{keys}</p>'


def img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
    classes: Sequence[str] | None = None,
    column_class: Mapping[int, str] | None = None,
) -> str:
    """An HTML table of already-escaped cells; ``numeric`` columns are right-aligned, ``classes`` style
    rows and ``column_class`` the body cells of single columns."""
    styles = {i: "n" for i in numeric} | dict(column_class or {})

    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(
            f"<{tag}{f' class={styles[i]}' if i in styles and (tag == 'td' or styles[i] == 'n') else ''}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f'<tr class="{(classes or [""] * len(rows))[k]}">{cells(r, "td")}</tr>' for k, r in enumerate(rows))
    return f'<div class="scroll"><table><tr>{cells(head, "th")}</tr>{body}</table></div>'


__all__ = ["esc", "img", "legend", "num", "section", "table"]
