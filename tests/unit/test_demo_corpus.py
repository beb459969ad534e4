"""The bundled demo corpus (monitor/data/demo/corpus.jsonl) is well formed.

It feeds ``monitor demo``: every line must be a document the push/replay payload accepts, ids must be
unique (they are the dedup keys), and its README must describe every item.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

DEMO = Path(__file__).resolve().parents[2] / "monitor" / "data" / "demo"
CORPUS = DEMO / "corpus.jsonl"
README = DEMO / "README.md"
FIELDS = ("id", "title", "text", "url", "published", "source")


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    parsed = []
    for number, line in enumerate(lines, 1):
        assert line.strip(), f"line {number} is blank"
        item = json.loads(line)
        assert isinstance(item, dict), f"line {number} is not a JSON object"
        parsed.append(item)
    return parsed


def test_corpus_is_big_enough(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 30


def test_ids_are_unique_and_well_formed(items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"demo-\d{3}", i) for i in ids), ids


def test_every_item_has_the_required_fields(items: list[dict[str, Any]]) -> None:
    for item in items:
        for field in FIELDS:
            assert isinstance(item.get(field), str) and item[field].strip(), f"{item.get('id')}: {field}"
        words = len(item["text"].split())
        assert 40 <= words <= 200, f"{item['id']}: {words} words"
        url = urlsplit(item["url"])
        assert url.scheme == "https" or url.scheme == "http", f"{item['id']}: {item['url']}"
        assert url.netloc, f"{item['id']}: {item['url']}"


def test_published_dates_parse_and_are_plausible(items: list[dict[str, Any]]) -> None:
    years = set()
    for item in items:
        assert item["published"].endswith("Z"), f"{item['id']}: not UTC"
        published = datetime.fromisoformat(item["published"])
        assert published.tzinfo is not None
        assert datetime(2023, 1, 1, tzinfo=UTC) <= published <= datetime(2026, 12, 31, tzinfo=UTC)
        years.add(published.year)
    assert years == {2023, 2024, 2025, 2026}


def test_some_items_do_not_alert_and_some_loosen(items: list[dict[str, Any]]) -> None:
    readme = README.read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| (demo-\d{3}) \|(.*)\|$", readme, flags=re.MULTILINE)
    }
    assert set(rows) == {item["id"] for item in items}, "the README table must list every corpus item"
    assert sum("no alert" in row for row in rows.values()) >= 5
    assert sum("| loosen |" in row for row in rows.values()) >= 3
    assert sum("joins demo-" in row for row in rows.values()) >= 3


def test_the_service_reads_every_item_with_its_publication_date(items: list[dict[str, Any]]) -> None:
    from monitor.ingest.payload import LineError, read_jsonl

    documents = list(read_jsonl(CORPUS, default_source="demo"))
    errors = [str(d) for d in documents if isinstance(d, LineError)]
    assert not errors
    assert [d.id for d in documents] == [item["id"] for item in items]
    # A publication date the service finds implausible (future, pre-1990) would be dropped silently.
    assert all(d.published is not None for d in documents)
    assert [d.source for d in documents] == [item["source"] for item in items]
