"""Markdown helpers for card detail (CDS Hooks 2.0: detail is GitHub Flavored Markdown)."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def escape(text: str) -> str:
    """Policy text rendered literally, never as markup (or HTML, which GFM partly allows)."""
    return _SPECIAL.sub(r"\\\1", text)


def quote(text: str) -> str:
    return f"> {escape(text)}"
