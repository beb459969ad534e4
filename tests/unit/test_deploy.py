"""The deployment files hang together: docker-compose.yml, the Dockerfile, Prometheus and Grafana config.

Pure file checks (no Docker): every service is there, Kafka runs in KRaft mode, bind mounts and COPY
sources exist in the repository, host ports do not collide, both workers share one consumer group on
distinct host ports, and Prometheus and Grafana point at what the compose file actually serves.
"""

from __future__ import annotations

import fnmatch
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
GRAFANA_DASHBOARDS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"

SERVICES = {"kafka", "postgres", "prometheus", "grafana", "monitor-1", "monitor-2"}
WORKERS = ("monitor-1", "monitor-2")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _yaml(COMPOSE)
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment as a dict, whichever of the two compose forms it uses."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) for item in raw)
        return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each published port (short or long syntax)."""
    published = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if "published" in entry:
                host_ip = str(entry.get("host_ip", ""))
                published.append((host_ip, int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 1:
            continue  # container port only: Docker picks a free host port
        host_ip = parts[0] if len(parts) == 3 else ""
        published.append((host_ip, int(parts[-2]), int(parts[-1])))
    return published


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume entry; type is "bind" or "volume"."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append((entry.get("type", "volume"), str(entry.get("source", "")), str(entry["target"])))
            continue
        source, target = str(entry).split(":")[:2]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append((kind, source, target))
    return mounts


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository path that a bind mount of ``service`` shows at ``container_path``."""
    best: tuple[int, Path] | None = None
    for kind, source, target in _mounts(service):
        target = target.rstrip("/")
        if kind != "bind" or not (container_path == target or container_path.startswith(target + "/")):
            continue
        rest = container_path[len(target):].lstrip("/")
        candidate = (ROOT / source / rest) if rest else (ROOT / source)
        if best is None or len(target) > best[0]:
            best = (len(target), candidate)
    return best[1] if best else None


# -- docker-compose.yml ----------------------------------------------------------------------------


def test_compose_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) >= SERVICES


def test_kafka_runs_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    env = _env(kafka)
    assert kafka["image"] == "apache/kafka:3.8.0"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env), "KRaft mode has no ZooKeeper"
    assert "zookeeper" not in services


def test_workers_reach_kafka_on_an_advertised_listener(services: dict[str, Any]) -> None:
    listeners = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split(",")
    advertised = {urlsplit(item).netloc for item in listeners}
    for name in WORKERS:
        bootstrap = _env(services[name])["KAFKA_BOOTSTRAP_SERVERS"]
        assert set(bootstrap.split(",")) <= advertised, f"{name}: {bootstrap} is not an advertised listener"


def test_workers_store_matches_the_postgres_service(services: dict[str, Any]) -> None:
    pg = _env(services["postgres"])
    assert services["postgres"]["image"].startswith("postgres:16")
    for name in WORKERS:
        url = urlsplit(_env(services[name])["MONITOR_STORE__URL"])
        assert url.scheme == "postgresql+asyncpg"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert (url.username, url.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
        assert url.path.lstrip("/") == pg["POSTGRES_DB"] == "monitor"


def test_workers_are_built_here_and_run_the_service(services: dict[str, Any]) -> None:
    for name in WORKERS:
        worker = services[name]
        build = worker["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
        command = worker["command"]
        assert (shlex.split(command) if isinstance(command, str) else command) == ["monitor", "run"]
        env = _env(worker)
        assert env["MONITOR_HTTP__HOST"] == "0.0.0.0"
        assert "/healthz" in " ".join(worker["healthcheck"]["test"])
        assert f":{env['MONITOR_HTTP__PORT']}/healthz" in " ".join(worker["healthcheck"]["test"])


def test_workers_wait_for_healthy_dependencies(services: dict[str, Any]) -> None:
    for name in WORKERS:
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency in ("kafka", "postgres"):
            assert depends[dependency]["condition"] == "service_healthy"
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck to wait for"
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for dependency, spec in (depends.items() if isinstance(depends, dict) else []):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}: no healthcheck"


def test_workers_share_one_consumer_group(services: dict[str, Any]) -> None:
    groups = {_env(services[name]).get("MONITOR_KAFKA__CONSUMER_GROUP") for name in WORKERS}
    assert len(groups) == 1 and None not in groups and "" not in groups


def test_workers_have_distinct_host_ports_to_the_port_they_serve(services: dict[str, Any]) -> None:
    host_ports = []
    for name in WORKERS:
        serve = int(_env(services[name])["MONITOR_HTTP__PORT"])
        mapped = [host for _, host, container in _ports(services[name]) if container == serve]
        assert mapped, f"{name}: port {serve} is not published"
        host_ports.extend(mapped)
    assert sorted(host_ports) == [8081, 8082]


def test_host_ports_do_not_collide(services: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for _, host, _ in _ports(service):
            assert host not in seen, f"host port {host} is published by both {seen[host]} and {name}"
            seen[host] = name


def test_bind_mounts_exist_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for kind, source, _ in _mounts(service):
            if kind == "bind":
                assert (ROOT / source).exists(), f"{name}: bind mount source {source} is missing"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"
    assert {"kafka-data", "postgres-data", "grafana-data"} <= declared


# -- Prometheus ------------------------------------------------------------------------------------


def test_prometheus_mounts_its_config_and_the_alert_rules(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert _host_path(prometheus, config_flag.split("=", 1)[1]) == ROOT / "deploy/prometheus/prometheus.yml"
    config = _yaml(PROMETHEUS)
    for pattern in config["rule_files"]:
        folder = _host_path(prometheus, pattern.rsplit("/", 1)[0])
        assert folder == ROOT / "dashboards" / "alerts" and folder.is_dir()


def test_prometheus_scrapes_both_workers_where_they_serve(services: dict[str, Any]) -> None:
    config = _yaml(PROMETHEUS)
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in WORKERS:
        assert f"{name}:{_env(services[name])['MONITOR_HTTP__PORT']}" in targets


# -- Grafana ---------------------------------------------------------------------------------------


def test_grafana_provisioning_is_mounted(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    assert _host_path(grafana, "/etc/grafana/provisioning/datasources/datasources.yml") == GRAFANA_DATASOURCES
    assert _host_path(grafana, "/etc/grafana/provisioning/dashboards/dashboards.yml") == GRAFANA_DASHBOARDS


def test_grafana_dashboard_providers_point_at_existing_folders(services: dict[str, Any]) -> None:
    config = _yaml(GRAFANA_DASHBOARDS)
    assert config["apiVersion"] == 1
    for provider in config["providers"]:
        folder = _host_path(services["grafana"], provider["options"]["path"])
        assert folder is not None and folder.is_dir(), f"provider {provider['name']}: {folder}"
        assert folder == ROOT / "dashboards"


def test_grafana_datasources_reach_compose_services(services: dict[str, Any]) -> None:
    config = _yaml(GRAFANA_DATASOURCES)
    assert config["apiVersion"] == 1
    by_type = {source["type"]: source for source in config["datasources"]}
    prometheus = urlsplit(by_type["prometheus"]["url"])
    assert prometheus.hostname == "prometheus" and prometheus.port == 9090
    postgres = by_type["grafana-postgresql-datasource"]
    host, port = postgres["url"].split(":")
    pg_env = _env(services["postgres"])
    assert (host, int(port)) == ("postgres", 5432)
    assert postgres["jsonData"]["database"] == pg_env["POSTGRES_DB"]
    assert postgres["user"] == pg_env["POSTGRES_USER"]
    uids = [source["uid"] for source in config["datasources"]]
    assert len(uids) == len(set(uids))
    assert sum(bool(source.get("isDefault")) for source in config["datasources"]) == 1


# -- Dockerfile ------------------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _ignored(relative: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        anywhere = pattern.startswith("**/")
        bare = pattern.removeprefix("**/")
        parts = Path(relative).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for prefix in prefixes:
            name = prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatch(prefix, pattern) or (anywhere and fnmatch.fnmatch(name, bare)):
                ignored = not negate
                break
    return ignored


def test_dockerfile_copy_sources_exist_and_are_not_ignored() -> None:
    instructions = _instructions(DOCKERFILE)
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [args for keyword, args in instructions if keyword in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies nothing"
    for args in copies:
        if any(w.startswith("--from") for w in shlex.split(args)):
            continue  # copies from another stage, not from the build context
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        sources = words[:-1]
        for source in sources:
            relative = source.rstrip("/")
            matches = list(ROOT.glob(relative)) if any(c in source for c in "*?[") else [ROOT / relative]
            assert matches and all(m.exists() for m in matches), f"COPY source {source} is missing"
            assert not _ignored(relative, patterns), f"COPY source {source} is excluded by .dockerignore"


def test_dockerfile_shape() -> None:
    instructions = _instructions(DOCKERFILE)
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the worker must not run as root"
    assert ("EXPOSE", "8080") in instructions
    assert "HEALTHCHECK" in keywords and "/healthz" in dict(instructions)["HEALTHCHECK"]
    assert dict(instructions)["CMD"] == '["monitor", "run"]'
    copied = {shlex.split(args)[0].rstrip("/") for keyword, args in instructions if keyword == "COPY"}
    assert {"rules", "pipelines", "monitor"} <= copied
    assert any(keyword == "RUN" and "pip install" in args for keyword, args in instructions)
