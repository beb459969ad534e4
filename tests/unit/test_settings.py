"""Settings precedence: defaults < file < environment < command line, with errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.settings import load_settings


def test_defaults_use_the_embedded_broker_and_loopback_http() -> None:
    settings = load_settings()
    assert settings.kafka.embedded
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)


def test_file_then_environment_then_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("http:\n  host: 0.0.0.0\n  port: 9000\nkafka:\n  partitions: 8\n", encoding="utf-8")
    settings = load_settings(config)
    assert (settings.http.host, settings.http.port, settings.kafka.partitions) == ("0.0.0.0", 9000, 8)

    monkeypatch.setenv("MONITOR_HTTP__PORT", "9100")
    settings = load_settings(config)
    assert settings.http.port == 9100
    assert settings.http.host == "0.0.0.0"  # the file's other fields stay

    settings = load_settings(config, {"http": {"port": 9200}})
    assert settings.http.port == 9200


def test_kafka_bootstrap_servers_variable_selects_an_external_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    settings = load_settings()
    assert not settings.kafka.embedded
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_config_file_via_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kafka:\n  topic_prefix: prod\n", encoding="utf-8")
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    assert load_settings().kafka.topic_prefix == "prod"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("http:\n  port: seventy\n", "http.port"),
        ("kafka:\n  partitions: 0\n", "kafka.partitions"),
        ("nonsense: 1\n", "nonsense"),
        ("- a list\n", "mapping"),
        ("http: [unclosed\n", "invalid YAML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)
    assert expected in str(caught.value)


def test_a_bad_environment_value_names_the_variable_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_HTTP__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_settings()


def test_a_bad_command_line_value_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"command line: http\.port"):
        load_settings(overrides={"http": {"port": 70000}})


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml")
