"""Pipeline files are validated at load, with file, source id and field named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.ingest.sources import (
    FederalRegisterSource,
    FeedSource,
    JsonApiSource,
    load_sources,
    parse_interval,
)
from monitor.settings import PROJECT_ROOT


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), (45, 45)]
)
def test_parse_interval_accepts_durations(value: str | int, seconds: float) -> None:
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["15", "fast", "0s", "8d", "-1m", "1w"])
def test_parse_interval_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(value)


def test_loads_every_kind_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
sources:
  - id: mofcom-announcements
    kind: feed
    url: https://example.org/rss.xml
    interval: 15m
    tags: {authority: MOFCOM, country: CN}
  - id: fr-bis
    kind: federal_register
    agencies: [industry-and-security-bureau]
    interval: 1h
  - id: api
    kind: json_api
    url: https://api.example.org/notices
    items_path: data.items
    fields: {id: ref, title: attributes.title, text: attributes.body}
    enabled: false
""",
    )
    feed, fr, api = load_sources([path])
    assert isinstance(feed, FeedSource) and feed.interval == 900 and feed.enabled
    assert feed.tags == {"authority": "MOFCOM", "country": "CN"}
    assert feed.host == "example.org"
    assert isinstance(fr, FederalRegisterSource) and fr.url.startswith(
        "https://www.federalregister.gov/api/v1/"
    )
    assert isinstance(api, JsonApiSource) and not api.enabled and api.fields.title == "attributes.title"


def test_error_names_file_source_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
sources:
  - id: good
    kind: feed
    url: https://example.org/a.xml
  - id: bad-interval
    kind: feed
    url: https://example.org/b.xml
    interval: soon
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_sources([path])
    message = str(caught.value)
    assert str(path) in message and "'bad-interval'" in message and "field interval" in message


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("{id: x, kind: feed, url: 'ftp://example.org/a'}", "field url: must be an absolute http(s) URL"),
        ("{id: x, kind: rss, url: 'https://example.org/a'}", "field kind"),
        ("{id: x, url: 'https://example.org/a'}", "field kind: required"),
        ("{id: 'Bad Id', kind: feed, url: 'https://example.org/a'}", "field id"),
        ("{id: x, kind: feed, url: 'https://example.org/a', intervall: 5m}", "field intervall"),
        ("{id: x, kind: json_api, url: 'https://example.org/a'}", "field fields"),
        ("{id: x, kind: federal_register, per_page: 5000}", "field per_page"),
        (
            "{id: x, kind: feed, url: 'https://example.org/a', headers: {X-Key: '${NO_SUCH_VARIABLE_XYZ}'}}",
            "NO_SUCH_VARIABLE_XYZ",
        ),
    ],
)
def test_invalid_sources_are_config_errors(tmp_path: Path, item: str, expected: str) -> None:
    path = write(tmp_path, f"sources:\n  - {item}\n")
    with pytest.raises(ConfigError, match="source") as caught:
        load_sources([path])
    assert expected in str(caught.value)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "sources:\n  - {id: same, kind: feed, url: 'https://a.example/x'}\n", "a.yaml")
    b = write(tmp_path, "sources:\n  - {id: same, kind: feed, url: 'https://b.example/x'}\n", "b.yaml")
    with pytest.raises(ConfigError, match="duplicate") as caught:
        load_sources([a, b])
    assert str(a) in str(caught.value) and str(b) in str(caught.value)


@pytest.mark.parametrize(
    "text", ["sources: {id: x}", "- id: x", "sources:\n  - just a string\n", "sources: [\n", "other: []"]
)
def test_malformed_files(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=str(path)):
        load_sources([path])


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources([tmp_path / "absent.yaml"])


def test_relative_file_url_resolves_against_the_pipeline_file(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    path = write(tmp_path, "sources:\n  - {id: local, kind: feed, url: 'file:feeds/a.xml'}\n")
    (source,) = load_sources([path])
    assert source.url == (tmp_path / "feeds" / "a.xml").as_uri()


def test_header_values_expand_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_TEST_KEY", "s3cret")
    path = write(
        tmp_path,
        "sources:\n  - {id: k, kind: feed, url: 'https://a.example/x',"
        " headers: {X-Key: '${INGEST_TEST_KEY}'}}\n",
    )
    (source,) = load_sources([path])
    assert source.headers == {"X-Key": "s3cret"}


def test_folder_loads_every_yaml(tmp_path: Path) -> None:
    write(tmp_path, "sources:\n  - {id: a, kind: feed, url: 'https://a.example/x'}\n", "1.yaml")
    write(tmp_path, "sources:\n  - {id: b, kind: feed, url: 'https://b.example/x'}\n", "2.yaml")
    write(tmp_path, "", "3.yaml")
    assert [s.id for s in load_sources([tmp_path])] == ["a", "b"]


@pytest.mark.parametrize("name", ["sources.yaml", "offline.yaml"])
def test_shipped_pipelines_are_valid(name: str) -> None:
    sources = load_sources([PROJECT_ROOT / "pipelines" / name])
    assert sources and len({s.id for s in sources}) == len(sources)
    assert any(s.enabled for s in sources)


def test_offline_pipeline_points_at_existing_local_files() -> None:
    for source in load_sources([PROJECT_ROOT / "pipelines" / "offline.yaml"]):
        assert source.url.startswith("file://")
        assert Path(source.url.removeprefix("file://")).is_file(), source.url
