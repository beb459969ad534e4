"""The JSON codec of every record and table: orjson's speed, Python's leniency.

Faust's ``json`` codec uses orjson when it is installed (it is one of our dependencies: record and
rule-state (de)serialisation was a large share of the pipeline's CPU). orjson is stricter than
Python's :mod:`json` in two ways that untrusted input reaches:

- it refuses to encode a ``str`` holding a lone surrogate, which a JSON document can carry as an
  escape (``"\\ud800"``) and Python decodes without complaint;
- it refuses to decode such escapes, ``NaN``/``Infinity``, out-of-range numbers and a UTF-8 BOM.

Each refusal falls back to Python's :mod:`json`, so a message that encoded or decoded before still
does (same values; datetimes written by the fallback use ``+00:00`` instead of ``Z``, and both read
back). :func:`install` registers the codec under Faust's name ``json``, for records and tables alike.
"""

from __future__ import annotations

import json as stdlib_json
from typing import Any

from faust.serializers import codecs
from faust.utils import json as faust_json
from mode.utils.compat import want_bytes

__all__ = ["LenientJson", "install"]


class LenientJson(codecs.json):
    """Faust's JSON codec (orjson when installed) with Python's :mod:`json` as the fallback."""

    def _dumps(self, s: Any) -> bytes:
        try:
            return want_bytes(faust_json.dumps(s))
        except TypeError:  # orjson.JSONEncodeError: e.g. a lone surrogate (Python escapes it)
            return want_bytes(stdlib_json.dumps(s, cls=faust_json.JSONEncoder, separators=(",", ":")))

    def _loads(self, s: bytes) -> Any:
        try:
            return faust_json.loads(s)  # type: ignore[arg-type]  # orjson and json both read bytes
        except ValueError:  # orjson.JSONDecodeError: Python's json may still read it
            return stdlib_json.loads(s)  # bytes: Python detects the encoding (and a BOM)


_installed = False


def install() -> None:
    """Register :class:`LenientJson` as Faust's ``json`` codec (idempotent)."""
    global _installed
    if not _installed:
        codecs.register("json", LenientJson())
        _installed = True
