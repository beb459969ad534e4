"""Replay files: each rejected line has a bounded category, and `monitor replay` counts it in a metric."""

from __future__ import annotations

from pathlib import Path

from monitor.cli import _stream_documents
from monitor.ingest.payload import LineError, read_jsonl
from monitor.observability.metrics import Metrics

GOOD = b'{"id": "a", "title": "t", "text": "China bans gallium exports."}\n'


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(
        GOOD
        + b"\xff\xfe not utf-8\n"  # encoding
        + b"{not json\n"  # json
        + b'{"id": "b", "title": "t"}\n'  # schema: no text
        + GOOD  # duplicate id
    )
    return path


def test_each_rejected_line_has_a_category(tmp_path: Path) -> None:
    errors = [item for item in read_jsonl(_file(tmp_path)) if isinstance(item, LineError)]
    assert [(e.line, e.category) for e in errors] == [
        (2, "encoding"),
        (3, "json"),
        (4, "schema"),
        (5, "duplicate"),
    ]


def test_replay_counts_rejections_by_category(tmp_path: Path) -> None:
    metrics = Metrics()
    errors: list[LineError] = []
    documents = list(_stream_documents(_file(tmp_path), errors, metrics))
    assert [d.id for d in documents] == ["a"] and len(errors) == 4
    for category in ("encoding", "json", "schema", "duplicate"):
        value = metrics.registry.get_sample_value(
            "monitor_input_rejected_total", {"kind": "replay", "reason": category}
        )
        assert value == 1.0
