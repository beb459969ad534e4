"""One typed settings object for the whole service.

Sources, lowest to highest precedence (tested in ``tests/unit/test_settings.py``):

1. defaults below;
2. a YAML config file (``--config FILE`` or env ``MONITOR_CONFIG``);
3. environment variables ``MONITOR_<SECTION>__<FIELD>`` (e.g. ``MONITOR_HTTP__PORT=9000``), plus the
   conventional ``KAFKA_BOOTSTRAP_SERVERS``;
4. command-line options (``--http-port`` ...), applied by the CLI as overrides.

Secrets are ``SecretStr`` so that they never appear in logs or reprs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.delivery.settings import DeliverySettings
from monitor.errors import ConfigError

#: The repository (or source tree) root: default rule packs and pipelines live beside the package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


class KafkaSettings(BaseModel):
    """Where the broker is and how topics are laid out.

    With ``bootstrap_servers`` unset the service starts the embedded Tansu broker (memory only);
    set it (or ``KAFKA_BOOTSTRAP_SERVERS``) to use a real cluster.
    """

    bootstrap_servers: str | None = None
    topic_prefix: str = "monitor"
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)
    consumer_group: str = "critical-minerals-monitor"
    # Kafka-sane defaults for a real cluster; the embedded mode lowers them (see streaming.app).
    rebalance_timeout_s: float = Field(60.0, gt=0)
    session_timeout_s: float = Field(60.0, gt=0)
    heartbeat_interval_s: float = Field(3.0, gt=0)
    embedded_rebalance_timeout_s: float = Field(2.0, gt=0)
    embedded_startup_timeout_s: float = Field(20.0, gt=0)
    # How long a fetch may wait for data. Kafka answers as soon as data arrives, so a long wait costs
    # nothing there; Tansu (the embedded broker) waits the full time, so every hop of the pipeline
    # waits on average half of it: 10 ms there keeps four hops within ~30 ms, for about a hundred
    # idle fetches a second.
    fetch_max_wait_ms: int = Field(500, ge=1, le=30_000)
    embedded_fetch_max_wait_ms: int = Field(10, ge=1, le=30_000)
    # A worker checks that the broker still has its topics this often, and exits (code 3) when they
    # are gone or the broker stays unreachable for longer than ``broker_lost_after_s``.
    topic_check_interval_s: float = Field(5.0, gt=0)
    broker_lost_after_s: float = Field(30.0, gt=0)
    shutdown_timeout_s: float = Field(
        20.0, gt=0, description="Longest wait for the stream processor to stop."
    )

    @property
    def embedded(self) -> bool:
        """True when no external broker is configured."""
        return not self.bootstrap_servers


class HttpSettings(BaseModel):
    """The worker's HTTP server: health, metrics and the API."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class ExtractSettings(BaseModel):
    """Extractor limits."""

    max_chars: int = Field(100_000, ge=1_000, description="Longer texts are truncated; the event records it.")
    spacy_model: str | None = Field(None, description="A statistical spaCy model to use when installed.")


class RulesSettings(BaseModel):
    """Where the rule packs are."""

    paths: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "rules"])
    reload_interval_s: float = Field(5.0, gt=0, description="How often rule files are checked for changes.")


class IngestSettings(BaseModel):
    """Sources to poll and the push endpoint."""

    sources: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "pipelines" / "sources.yaml"])
    poll: bool = Field(True, description="Poll the sources in `monitor run` (the group's leader polls).")
    push_token: SecretStr | None = None
    max_document_bytes: int = Field(1_000_000, ge=1_000)
    user_agent: str = "critical-minerals-monitor/0.1 (+https://github.com/critical-minerals-monitor)"


class StoreSettings(BaseModel):
    """The alert store: an SQLite file by default, PostgreSQL for several workers."""

    url: str = "sqlite+aiosqlite:///var/monitor.sqlite"


class LogSettings(BaseModel):
    """Logging: JSON when stderr is not a terminal, unless ``format`` says otherwise."""

    level: str = "INFO"
    format: Literal["auto", "json", "text"] = "auto"


class Settings(BaseSettings):
    """All settings of the service. Build it once with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("kafka", mode="before")
    @classmethod
    def _kafka_env_alias(cls, value: Any) -> Any:
        # The conventional variable wins over the file but not over MONITOR_KAFKA__BOOTSTRAP_SERVERS.
        plain = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if plain and not os.environ.get("MONITOR_KAFKA__BOOTSTRAP_SERVERS"):
            value = dict(value or {}) if not isinstance(value, BaseModel) else value.model_dump()
            value["bootstrap_servers"] = plain
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment over init values: the file's values are passed as init values.
        return (env_settings, init_settings)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config file must be a mapping of sections, got {type(raw).__name__}")
    return raw


def load_settings(
    config_file: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Settings:
    """Build the settings from defaults < file < environment < ``overrides`` (the CLI's options).

    ``overrides`` maps a section to field values, e.g. ``{"http": {"port": 9000}}``.
    Raises :class:`ConfigError` naming the file (or source) and the field that is wrong.
    """
    if config_file is None and os.environ.get("MONITOR_CONFIG"):
        config_file = Path(os.environ["MONITOR_CONFIG"])
    file_values = _read_config_file(config_file) if config_file else {}
    origin = str(config_file) if config_file else "settings (environment)"
    try:
        settings = Settings(**file_values)
    except ValidationError as err:
        raise ConfigError(f"{origin}: {_describe(err)}") from err
    update: dict[str, BaseModel] = {}
    for section, values in (overrides or {}).items():
        current = getattr(settings, section, None)
        if not isinstance(current, BaseModel):
            raise ConfigError(f"command line: unknown settings section {section!r}")
        try:
            update[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as err:
            raise ConfigError(f"command line: {_describe(err, prefix=section)}") from err
    return settings.model_copy(update=update) if update else settings


def _describe(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in err.errors():
        loc = [prefix] if prefix else []
        loc += [str(p) for p in item["loc"]]
        parts.append(f"{'.'.join(loc) or '(root)'}: {item['msg']}")
    return "; ".join(parts)
