"""Structured logging: JSON lines when stderr is not a terminal, readable text when it is.

Records about a document or an alert carry its id (``extra={"document_id": ...}`` or
``{"alert_id": ...}``); the JSON formatter puts every such extra field on the line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from monitor.settings import LogSettings

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is worth keeping.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}

#: Libraries that are chatty at INFO; their warnings still show.
_NOISY = ("faust", "aiokafka", "mode", "kafka", "aiohttp.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LogSettings, *, stream: Any = None) -> None:
    """Install the root handler once, per the settings (``auto``: JSON unless stderr is a terminal)."""
    stream = stream or sys.stderr
    use_json = settings.format == "json" or (settings.format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
