"""Sources declared in ``pipelines/*.yaml``, validated when they are loaded.

A pipeline file is a mapping with one key, ``sources``, a list of sources::

    sources:
      - id: mofcom-announcements      # unique across every loaded file, stable
        kind: feed                    # feed | federal_register | json_api
        url: https://example.org/rss.xml
        interval: 15m                 # <number><s|m|h|d>
        enabled: true                 # optional, default true
        headers: {}                   # optional; values may use ${ENV_VAR}
        tags: {authority: MOFCOM, country: CN}

Any source may use a ``file:`` URL (``file:///abs/path.xml``, or ``file:relative/path.xml``
resolved against the pipeline file's folder) so that a demo runs without network.
:func:`load_sources` raises :class:`monitor.errors.ConfigError` naming the file, the source and the
field that is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from monitor.errors import ConfigError

__all__ = [
    "FEDERAL_REGISTER_API",
    "FederalRegisterSource",
    "FeedSource",
    "JsonApiSource",
    "JsonFields",
    "Source",
    "load_sources",
    "parse_interval",
]

FEDERAL_REGISTER_API = "https://www.federalregister.gov/api/v1/documents.json"

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Shortest and longest accepted poll intervals.
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 7 * 86400.0


def parse_interval(value: str | int | float) -> float:
    """Turn ``"30s"``, ``"15m"``, ``"1h"``, ``"1d"`` (or a number of seconds) into seconds.

    Raises :class:`ValueError` for anything else or outside 1 s .. 7 days.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 15m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _INTERVAL.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30s, 15m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise ValueError(f"must be between {MIN_INTERVAL_S:g}s and 7d, got {seconds:g}s")
    return seconds


def _expand_env(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(replace, value)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


class _SourceBase(BaseModel):
    """Fields every source has."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$", description="Unique, stable source id.")
    url: str
    interval: float = Field(900.0, description="Seconds between polls; written 30s, 15m, 1h in YAML.")
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict, max_length=32)
    language: str | None = Field(
        None, max_length=16, description="Language of the items when the source omits it."
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        if not isinstance(value, str | int | float):
            raise ValueError("must be a duration such as 30s, 15m or 1h")
        return parse_interval(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = _expand_env(value)
        # A local file (``file:///abs`` or ``file:relative``, resolved at load) lets demos run offline.
        return value if value.startswith("file:") else _check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _expand_env(v) for name, v in value.items()}

    @property
    def host(self) -> str:
        """The host polled (``"file"`` for local files): politeness is per host."""
        parts = urlsplit(self.url)
        return parts.netloc.lower() if parts.scheme in ("http", "https") else parts.scheme


class FeedSource(_SourceBase):
    """An RSS (0.9x, 1.0, 2.0) or Atom feed, over http(s) or from a local ``file:`` URL."""

    kind: Literal["feed"]


class FederalRegisterSource(_SourceBase):
    """A search of the Federal Register documents API (newest first, paginated by ``next_page_url``)."""

    kind: Literal["federal_register"]
    url: str = FEDERAL_REGISTER_API
    term: str | None = Field(None, max_length=500, description="Full-text search, conditions[term].")
    agencies: list[str] = Field(default_factory=list, description="Agency slugs, conditions[agencies][].")
    document_types: list[Literal["RULE", "PRORULE", "NOTICE", "PRESDOCU"]] = Field(default_factory=list)
    per_page: int = Field(20, ge=1, le=1000)
    max_pages: int = Field(1, ge=1, le=50, description="Pages followed per poll.")


class JsonFields(BaseModel):
    """Where each document field is in one item, as dotted paths (``data.attributes.title``, ``links.0``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    title: str | None = None
    text: str
    url: str | None = None
    published: str | None = None
    language: str | None = None


class JsonApiSource(_SourceBase):
    """Any JSON API returning a list of items, mapped to documents by configuration."""

    kind: Literal["json_api"]
    items_path: str = Field("", description="Dotted path of the list of items; empty for a top-level list.")
    fields: JsonFields
    params: dict[str, str] = Field(default_factory=dict, description="Query parameters added to the URL.")
    next_path: str | None = Field(None, description="Dotted path of the next page's URL, if paginated.")
    max_pages: int = Field(1, ge=1, le=50)


Source = Annotated[FeedSource | FederalRegisterSource | JsonApiSource, Field(discriminator="kind")]
_SOURCE: TypeAdapter[FeedSource | FederalRegisterSource | JsonApiSource] = TypeAdapter(Source)


def _describe(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        # Drop the discriminator's tag ("feed", "json_api") that pydantic puts first.
        if loc and loc[0] in ("feed", "federal_register", "json_api"):
            loc = loc[1:]
        if item["type"] == "union_tag_invalid":
            loc = ["kind"]
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"field {'.'.join(loc) or '(source)'}: {message}")
    return "; ".join(parts)


def _resolve_file_url(url: str, folder: Path) -> str:
    rest = url[len("file:") :]
    if rest.startswith("//"):
        return url
    return (folder / rest).resolve().as_uri()


def _load_file(path: Path) -> list[FeedSource | FederalRegisterSource | JsonApiSource]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read pipeline file: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    if raw is None:
        return []
    if not isinstance(raw, dict) or set(raw) - {"sources"}:
        raise ConfigError(f"{path}: a pipeline file is a mapping with one key, 'sources'")
    items = raw.get("sources") or []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: 'sources' must be a list")
    sources = []
    for index, item in enumerate(items):
        label = f"source #{index + 1}"
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            label = f"source {item['id']!r}"
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: {label}: must be a mapping")
        if "kind" not in item:
            raise ConfigError(f"{path}: {label}: field kind: required (feed, federal_register or json_api)")
        try:
            source = _SOURCE.validate_python(item)
        except ValidationError as err:
            raise ConfigError(f"{path}: {label}: {_describe(err)}") from err
        if source.url.startswith("file:"):
            source = source.model_copy(update={"url": _resolve_file_url(source.url, path.parent)})
        sources.append(source)
    return sources


def load_sources(paths: Iterable[Path]) -> list[FeedSource | FederalRegisterSource | JsonApiSource]:
    """Load and validate every source of the given pipeline files (a folder means its ``*.yaml``).

    Ids must be unique across all files. Raises :class:`ConfigError` with file, source id and field.
    """
    sources: list[FeedSource | FederalRegisterSource | JsonApiSource] = []
    origin: dict[str, Path] = {}
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            for source in _load_file(file):
                if source.id in origin:
                    first = origin[source.id]
                    raise ConfigError(
                        f"{file}: source {source.id!r}: field id: duplicate, already declared in {first}"
                    )
                origin[source.id] = file
                sources.append(source)
    return sources
