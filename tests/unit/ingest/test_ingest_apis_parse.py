"""The Federal Register and generic JSON API mappings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.ingest.apis import federal_register_url, parse_federal_register, parse_json_items
from monitor.ingest.fetch import FetchError
from monitor.ingest.jsonpath import MISSING, get_path
from monitor.ingest.sources import FederalRegisterSource, JsonApiSource

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def fr_source(**overrides: object) -> FederalRegisterSource:
    values: dict[str, object] = {"id": "fr", "kind": "federal_register", "tags": {"country": "US"}}
    values.update(overrides)
    return FederalRegisterSource.model_validate(values)


def api_source(**overrides: object) -> JsonApiSource:
    values: dict[str, object] = {
        "id": "api",
        "kind": "json_api",
        "url": "https://api.example.org/v1/notices",
        "items_path": "data.notices",
        "fields": {
            "id": "ref",
            "title": "attributes.headline",
            "text": "attributes.body",
            "url": "links.0.href",
            "published": "attributes.published_at",
        },
    }
    values.update(overrides)
    return JsonApiSource.model_validate(values)


def test_federal_register_url_has_the_conditions() -> None:
    url = federal_register_url(
        fr_source(
            term="rare earth", agencies=["industry-and-security-bureau"], document_types=["RULE"], per_page=50
        )
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://www.federalregister.gov/api/v1/documents.json"
    )
    assert query["order"] == ["newest"] and query["per_page"] == ["50"]
    assert query["conditions[term]"] == ["rare earth"]
    assert query["conditions[agencies][]"] == ["industry-and-security-bureau"]
    assert query["conditions[type][]"] == ["RULE"]
    assert "document_number" in query["fields[]"]


def test_parse_federal_register(feeds: Path) -> None:
    data = json.loads((feeds / "federal-register-page1.json").read_text())
    documents, rejected = parse_federal_register(data, fr_source(), NOW)
    assert rejected == 0
    rule, notice = documents
    assert rule.title == "Foreign-Produced Direct Product Rule Additions"
    assert rule.text == "Interim final rule.\nBIS revises controls on semiconductor items."
    assert rule.url == "https://www.federalregister.gov/documents/2024/12/05/2024-28270/fdpr"
    assert rule.published == datetime(2024, 12, 5, tzinfo=UTC)
    assert rule.tags == {"country": "US", "document_type": "Rule", "effective_on": "2024-12-02",
                         "document_number": "2024-28270"}  # fmt: skip
    assert notice.text == notice.title  # no abstract: the title stands in


def test_parse_federal_register_rejects_a_non_object() -> None:
    with pytest.raises(FetchError) as caught:
        parse_federal_register([1, 2], fr_source(), NOW)
    assert caught.value.reason == "parse"


def test_parse_json_items(feeds: Path) -> None:
    data = json.loads((feeds / "json-api.json").read_text())
    documents, rejected = parse_json_items(
        data, api_source(tags={"k": "v"}), url="https://api.example.org/v1/x", fetched=NOW
    )
    assert rejected == 1
    lithium, cobalt = documents
    assert lithium.title == "Lithium export permit regime"
    assert lithium.text == "A permit is required to export lithium concentrate."
    assert lithium.url == "https://api.example.org/notices/N-1"
    assert lithium.published == datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
    assert cobalt.published == datetime(2025, 1, 1, tzinfo=UTC) and cobalt.url is None
    assert lithium.tags == {"k": "v"} and lithium.id.startswith("api:")


def test_parse_json_items_wrong_items_path() -> None:
    with pytest.raises(FetchError, match="items_path"):
        parse_json_items({"data": {}}, api_source(), url="https://api.example.org/", fetched=NOW)


def test_top_level_list() -> None:
    source = api_source(items_path="", fields={"text": "t"})
    documents, _ = parse_json_items(
        [{"t": "one"}, {"t": "two"}, "junk"], source, url="https://x.example/", fetched=NOW
    )
    assert [d.text for d in documents] == ["one", "two"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b", 1),
        ("a.c.1", "y"),
        ("", {"a": {"b": 1, "c": ["x", "y"]}}),
        ("a.x", MISSING),
        ("a.c.9", MISSING),
        ("a.b.c", MISSING),
        ("a.c.z", MISSING),
        (None, MISSING),
    ],
)
def test_get_path(path: str | None, expected: object) -> None:
    assert (
        get_path({"a": {"b": 1, "c": ["x", "y"]}}, path) == expected
        or get_path({"a": {"b": 1, "c": ["x", "y"]}}, path) is expected
    )
