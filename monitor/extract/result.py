"""Build the output records fast: :class:`monitor.records.Span` and :class:`~monitor.records.Extraction`.

faust's generated ``Record.__init__`` runs a field descriptor per field (about 2 µs a ``Span``,
3.5 µs an ``Extraction``), which was a fifth of the extractor's time. The records we build are
plain: no coercion, no validation, no ``__post_init__``. So we fill the instance ``__dict__``
directly, exactly as ``__init__`` would. At import the fast path is checked against the real
constructor; if the records ever gain a field, coercion, validation or a ``__post_init__``, the
check fails and the real constructor is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from monitor.records import Extraction, Span

__all__ = ["new_extraction", "new_span"]

_SPAN_FIELDS = ("start", "end", "text", "label", "value")
_EXTRACTION_FIELDS = (
    "minerals",
    "countries",
    "imposing_country",
    "target_country",
    "measure",
    "direction",
    "effective_date",
    "spans",
    "truncated",
    "schema_version",
)
_new = object.__new__


def _fast_span(start: int, end: int, text: str, label: str, value: str) -> Span:
    span = cast(Span, _new(Span))
    # A new dict assigned whole: cheaper than update() with keywords (one dict fewer).
    span.__dict__ = {
        "__evaluated_fields__": set(),
        "start": start,
        "end": end,
        "text": text,
        "label": label,
        "value": value,
    }
    return span


def _slow_span(start: int, end: int, text: str, label: str, value: str) -> Span:
    return Span(start=start, end=end, text=text, label=label, value=value)


_SCHEMA_VERSION: Any = Extraction._options.defaults.get("schema_version")


def _fast_extraction(
    minerals: list[str],
    countries: list[str],
    imposing_country: str | None,
    target_country: str | None,
    measure: str,
    direction: str | None,
    effective_date: str | None,
    spans: list[Span],
    truncated: bool,
) -> Extraction:
    extraction = cast(Extraction, _new(Extraction))
    extraction.__dict__ = {
        "__evaluated_fields__": set(),
        "minerals": minerals,
        "countries": countries,
        "imposing_country": imposing_country,
        "target_country": target_country,
        "measure": measure,
        "direction": direction,
        "effective_date": effective_date,
        "spans": spans,
        "truncated": truncated,
        "schema_version": _SCHEMA_VERSION,
    }
    return extraction


def _slow_extraction(
    minerals: list[str],
    countries: list[str],
    imposing_country: str | None,
    target_country: str | None,
    measure: str,
    direction: str | None,
    effective_date: str | None,
    spans: list[Span],
    truncated: bool,
) -> Extraction:
    return Extraction(
        minerals=minerals,
        countries=countries,
        imposing_country=imposing_country,
        target_country=target_country,
        measure=measure,
        direction=direction,
        effective_date=effective_date,
        spans=spans,
        truncated=truncated,
    )


def _same(fast: Any, slow: Any, fields: tuple[str, ...]) -> bool:
    options = type(slow)._options
    return (
        type(fast) is type(slow)
        and fast.__dict__ == slow.__dict__
        and list(fast.__dict__) == list(slow.__dict__)
        and tuple(options.fieldpos.values()) == fields
        and not options.coerce
        and not options.validation
        and not hasattr(type(slow), "__post_init__")
        and fast == slow
        and fast.asdict() == slow.asdict()
    )


def _choose() -> tuple[Callable[..., Span], Callable[..., Extraction]]:
    span_args = (3, 10, "gallium", "mineral", "gallium")
    span_ok = _same(_fast_span(*span_args), _slow_span(*span_args), _SPAN_FIELDS)
    extraction_args = (
        ["gallium"], ["CN"], "CN", "ALL", "export_ban", "tighten", None, [_slow_span(*span_args)], False
    )  # fmt: skip
    extraction_ok = _same(
        _fast_extraction(*extraction_args), _slow_extraction(*extraction_args), _EXTRACTION_FIELDS
    )
    return (
        _fast_span if span_ok else _slow_span,
        _fast_extraction if extraction_ok else _slow_extraction,
    )


new_span, new_extraction = _choose()
