"""Structured logging: one valid JSON object per line, carrying the document and alert ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from monitor.observability.logging import JsonFormatter, configure_logging
from monitor.settings import LogSettings


class _Pipe(io.StringIO):
    """A stream that is not a terminal (as in a container), so ``auto`` picks JSON."""

    def isatty(self) -> bool:
        return False


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """configure_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _logger(stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger("tests.observability.json")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


def test_each_record_is_one_json_line_with_the_standard_fields() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    log.info("processed %d documents", 3)
    log.warning("two\nlines in one message")
    first, second = _lines(stream)
    assert first["message"] == "processed 3 documents"
    assert first["level"] == "info"
    assert first["logger"] == "tests.observability.json"
    assert datetime.fromisoformat(str(first["time"])).utcoffset() is not None
    assert second["message"] == "two\nlines in one message"  # escaped: still one line
    assert second["level"] == "warning"


def test_document_and_alert_ids_are_on_the_line() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    log.info("extracted", extra={"document_id": "mofcom-2023-23"})
    log.warning("store unavailable", extra={"alert_id": "a-123", "stage": "notify", "attempt": 2})
    extracted, stored = _lines(stream)
    assert extracted["document_id"] == "mofcom-2023-23"
    assert "alert_id" not in extracted
    assert stored["alert_id"] == "a-123"
    assert stored["stage"] == "notify"
    assert stored["attempt"] == 2


def test_non_json_extras_and_unicode_stay_valid_json() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    log.info("Société générale — gallium", extra={"document_id": "doc-é", "fetched": datetime(2025, 1, 1)})
    (line,) = _lines(stream)
    assert line["message"] == "Société générale — gallium"
    assert line["document_id"] == "doc-é"
    assert line["fetched"] == "2025-01-01 00:00:00"


def test_exceptions_are_kept_on_the_same_json_line() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    try:
        raise ValueError("bad payload")
    except ValueError:
        log.exception("decode failed", extra={"document_id": "d-1"})
    (line,) = _lines(stream)
    assert line["document_id"] == "d-1"
    assert "ValueError: bad payload" in str(line["exception"])


def test_configure_logging_writes_json_when_not_on_a_terminal(restore_root_logger: None) -> None:
    stream = _Pipe()
    configure_logging(LogSettings(level="INFO", format="auto"), stream=stream)
    logging.getLogger("monitor.test").info("alert raised", extra={"alert_id": "a-9"})
    logging.getLogger("monitor.test").debug("below the level")
    (line,) = _lines(stream)
    assert line["alert_id"] == "a-9"
    assert line["message"] == "alert raised"
