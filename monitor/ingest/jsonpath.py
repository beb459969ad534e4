"""Dotted paths into decoded JSON (``data.items``, ``links.0.href``): the field mapping of JSON APIs."""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "get_path"]

MISSING: Any = object()


def get_path(data: Any, path: str | None) -> Any:
    """The value at dotted ``path`` in ``data`` (list indexes as numbers), or :data:`MISSING`.

    An empty path is ``data`` itself.
    """
    if path is None:
        return MISSING
    current = data
    for part in (p for p in path.split(".") if p):
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return MISSING
        else:
            return MISSING
    return current
