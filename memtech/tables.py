"""Plain-text tables for the terminal: columns padded to their widest cell, two spaces apart, no borders
(the output stays greppable and pastes into a README or an issue as it is)."""

from __future__ import annotations

from typing import Any, Sequence


def grid(header: Sequence[Any], body: Sequence[Sequence[Any]], indent: str = "") -> list[str]:
    widths = [max(len(str(row[c])) for row in [header, *body]) for c in range(len(header))]
    return [indent + "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *body]]
