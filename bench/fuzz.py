"""Bad-input fuzz run: at least 100,000 mutated inputs through every untrusted entry point.

Run: ``python bench/fuzz.py [--count 100000] [--seed 1] [--time-limit 1800] [--json-out FILE]``.

Five kinds of input, each mutated from a valid seed (or pure junk) by a seeded ``random.Random``:

=============  ==========================================================  ===============================
kind           path                                                        rejections counted in
=============  ==========================================================  ===============================
documents      JSON Lines files through ``read_jsonl`` (the replay path)   none (a pure parser; the CLI
                                                                           reports each bad line)
push           ``POST /api/v1/ingest`` over real HTTP (aiohttp, loopback)  ``rejected{kind=push}``
feeds          RSS/Atom bytes through ``poll_once`` (a file:// source);    ``poll_failures{reason=parse}``
               ``parse_feed`` gives the expected figures                   per feed, ``rejected{kind=
                                                                           feed_item}`` per item
rule_files     a rule file rewritten, then ``RuleHolder.reload``           ``rejected{kind=rule_file}``
subscriptions  ``POST /api/v1/subscriptions`` of the real API on SQLite    ``rejected{kind=api}``
=============  ==========================================================  ===============================

(``rejected`` is ``monitor_input_rejected_total``, ``poll_failures`` ``monitor_ingest_poll_failures_total``.)

Per kind it prints progress to stderr, then a table and a JSON summary to stdout: inputs tried,
accepted, rejected, crashes (an exception out of the code under test, or a 5xx), violations (a
broken promise: an accepted document without an id, a 400 without a field, old rules not kept),
the metric's count of rejections and whether it equals ``rejected``, and inputs/s. The exit code is
1 when anything crashed, a promise was broken or a metric disagrees.

The shares of ``--count`` are fixed (documents 50 %, feeds 20 %, subscriptions 15 %, rule files
10 %, push 5 %: HTTP and rule loading are the slow ones). ``--time-limit`` bounds the whole run:
each kind gets an equal share of the time left when it starts and stops early (saying so) when that
runs out. The subscription API resolves receiver hosts with an offline stand-in (IDNA checks like
the system resolver, no DNS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from aiohttp import web  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from monitor.api.app import ApiDeps, create_app  # noqa: E402
from monitor.api.deps import DeliveryApiDeps  # noqa: E402
from monitor.api.keys import create_key  # noqa: E402
from monitor.api.routes import delivery_routes  # noqa: E402
from monitor.delivery.feed import AlertFeed  # noqa: E402
from monitor.delivery.testing import bound_port, fast_settings  # noqa: E402
from monitor.ingest.feed import parse_feed  # noqa: E402
from monitor.ingest.fetch import FetchPolicy  # noqa: E402
from monitor.ingest.payload import LineError, read_jsonl  # noqa: E402
from monitor.ingest.poller import poll_once  # noqa: E402
from monitor.ingest.push import INGEST_PATH, install_ingest_routes  # noqa: E402
from monitor.ingest.sources import FeedSource  # noqa: E402
from monitor.observability.metrics import Metrics  # noqa: E402
from monitor.records import Document  # noqa: E402
from monitor.store.sql import SqlAlertStore  # noqa: E402
from monitor.streaming.ruleholder import RuleHolder  # noqa: E402

SHARES = {"documents": 0.50, "push": 0.05, "feeds": 0.20, "rule_files": 0.10, "subscriptions": 0.15}
FEED_SEEDS = [
    p.read_bytes()
    for d in (REPO / "tests" / "data" / "feeds", REPO / "monitor" / "data" / "feeds")
    for p in sorted(d.iterdir())
    if p.suffix in (".xml", ".rdf", ".atom")
]
DEFAULT_RULES_TEXT = (REPO / "rules" / "default.yaml").read_text(encoding="utf-8")
DEFAULT_RULES: list[dict[str, Any]] = yaml.safe_load(DEFAULT_RULES_TEXT)["rules"]
TOKEN = "fuzz-token"
PUSH_MAX_BYTES = 64 * 1024
HTTP_CONCURRENCY = 8
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")

NASTY = [
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\r",
    "\t",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\u202e",
    "\ufffd",
    "\u2028",
]
WEIRD_DATES: list[Any] = [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1970-01-01T00:00:00Z", "2025-02-30T00:00:00Z",
    "2025-06-01", "not a date", "", -1, 1e20, 253402300800, "2025-06-01T10:00:00+25:00",
]  # fmt: skip
OVER_LIMIT = {"id": 513, "title": 4_001, "url": 4_001, "source": 201, "language": 17}
DOC_FIELDS = ["id", "title", "text", "url", "published", "source", "language", "tags"]
ENTITY_BOMB = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE rss [\n<!ENTITY a "gallium export ban ">\n'
    b'<!ENTITY b "&a;&a;&a;&a;&a;">\n<!ENTITY c "&b;&b;&b;&b;&b;">\n<!ENTITY d "&c;&c;&c;&c;&c;">\n]>\n'
)
RULE_KEYS = ["id", "type", "when", "severity", "group_by", "route_by", "suppress_for", "labels",
             "enabled", "threshold", "first_seen", "escalation", "max_evidence", "severity_policy",
             "description"]  # fmt: skip
BAD_RULE_VALUES: list[Any] = [
    None, "", "x" * 300, 10**30, -1, 0, 1.5, float("inf"), [], {}, [1, 2], {"a": 1}, "30x", "999999999999d",
    "-5d", True, "2024-13-45", {"regex": "("}, ["minerals", "minerals"], "source",
]  # fmt: skip
WHEN_MUTATIONS: list[dict[str, Any]] = [
    {"text": {"regex": "(unclosed"}}, {"text": {"regex": "a{99999999999}"}},
    {"text": {"regex": "(?i)gallium"}}, {"text": {"regex": "(?P<x>a)(?P<x>b)"}},
    {"text": {"regex": "(" * 500 + ")" * 500}}, {"text": {}}, {"exclude_text": {"keywords": [], "regex": ""}},
    {"measures": ["not_a_measure"]}, {"directions": ["sideways"]}, {"critical_lists": ["usgs_1900"]},
    {"tags": {"k": 5}}, {"minerals": "gallium"}, {"countries": [None]},
    {"text": {"keywords": ["gallium", "(", "\\"]}},
]  # fmt: skip
SUB_PATHS: list[tuple[str, ...]] = [
    ("name",), ("filters",), ("filters", "minerals"), ("filters", "countries"), ("filters", "measures"),
    ("filters", "min_severity"), ("filters", "directions"), ("channel",), ("channel", "type"),
    ("channel", "url"), ("channel", "secret"), ("delivery",), ("delivery", "mode"), ("delivery", "frequency"),
    ("delivery", "at"), ("delivery", "timezone"), ("delivery", "weekday"), ("enabled",),
]  # fmt: skip
SUB_SPECIALS: dict[str, list[Any]] = {
    "url": [
        "http://hooks.example.org:99999/x", "https://h:-1/", "http://[::1", "http://[::1]/", "https://a..b.com/",
        "https://" + "a" * 64 + ".com/", "https://\ud800.com/", "ftp://ex.org/", "https://user:pw@ex.org/",
        "https://hook.internal/x", "http://169.254.169.254/latest", "https://ex.org/" + "x" * 3000,
        "https://", "https://exa mple.org/", "https://ex\x00.org/", "javascript:alert(1)", "HTTPS://EX.ORG/",
        "https://ex.org:0/",
    ],
    "timezone": ["America", "America/", "", "/etc/passwd", "a" * 5_000, "\x00", "Europe/../Europe/Paris", ".",
                 "zone.tab", "posixrules", "UTC", "Etc/GMT+14", "\ud800"],
    "secret": [None, "", "whsec_", "whsec_" + "A" * 22, "whsec_" + "A" * 22 + "===", "x" * 10_000, 5],
    "type": ["webhook", "slack", "teams", "alertmanager", "email", ""],
    "at": ["25:00", "08:00+02:00", "8", "", "23:59:59.999999"],
    "weekday": [-1, 7, 10**30, "mon", 3.5],
}  # fmt: skip


# -- results ----------------------------------------------------------------------------------------------


@dataclass
class KindResult:
    """What one kind of input did: counts, the metric's view of them, samples of what went wrong."""

    kind: str
    target: int
    tried: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: int = 0
    violations: int = 0
    metric: str | None = None
    metric_rejected: float | None = None
    seconds: float = 0.0
    stopped_early: bool = False
    extra: dict[str, float] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    @property
    def metric_ok(self) -> bool | None:
        """True when the metric counted exactly the rejections (None when the kind has no metric)."""
        if self.metric_rejected is None:
            return None
        return self.metric_rejected == float(self.rejected)

    @property
    def rate(self) -> float:
        """Inputs per second."""
        return self.tried / self.seconds if self.seconds > 0 else 0.0

    def crash(self, what: str) -> None:
        """Record an exception out of the code under test (or a 5xx)."""
        self.crashes += 1
        if len(self.samples) < 5:
            self.samples.append(f"crash: {what}"[:2000])

    def violate(self, what: str) -> None:
        """Record a broken promise."""
        self.violations += 1
        if len(self.samples) < 5:
            self.samples.append(f"violation: {what}"[:2000])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["metric_ok"] = self.metric_ok
        out["inputs_per_s"] = round(self.rate, 1)
        out["seconds"] = round(self.seconds, 2)
        return out


class Progress:
    """Prints ``[kind] tried/target ...`` to stderr at most every ``every_s`` seconds."""

    def __init__(self, result: KindResult, every_s: float = 5.0) -> None:
        self.result = result
        self.started = time.perf_counter()
        self.every_s = every_s
        self.last = self.started

    def tick(self, force: bool = False) -> None:
        """Print when it is time (or ``force``)."""
        now = time.perf_counter()
        if force or now - self.last >= self.every_s:
            self.last = now
            r = self.result
            rate = r.tried / max(now - self.started, 1e-9)
            print(
                f"[{r.kind}] {r.tried}/{r.target} tried, {r.rejected} rejected, {r.crashes} crashes, "
                f"{r.violations} violations ({rate:.0f}/s)",
                file=sys.stderr,
                flush=True,
            )


def sample_sum(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def rejected_total(metrics: Metrics, kind: str) -> float:
    """``sum(monitor_input_rejected_total{kind=...})`` over every reason."""
    return sample_sum(metrics, "monitor_input_rejected_total", kind=kind)


# -- mutators ---------------------------------------------------------------------------------------------


class Mutator:
    """Seeded generators of mutated inputs of every kind."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0

    def text(self, max_size: int = 30) -> str:
        """A random string mixing ASCII, nasty characters and any code point."""
        rng = self.rng
        out = []
        for _ in range(rng.randint(0, max_size)):
            pick = rng.random()
            if pick < 0.6:
                out.append(chr(rng.randint(32, 126)))
            elif pick < 0.8:
                out.append(rng.choice(NASTY))
            else:
                out.append(chr(rng.randint(0, 0x10FFFF)))
        return "".join(out)

    def value(self, depth: int = 0) -> Any:
        """A random JSON-ish value (lone surrogates included), nested up to three levels."""
        rng = self.rng
        pick = rng.randint(0, 9 if depth < 3 else 6)
        if pick == 0:
            return None
        if pick == 1:
            return rng.choice([True, False])
        if pick == 2:
            return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, rng.randint(-(10**6), 10**6)])
        if pick == 3:
            return rng.choice([0.0, -0.0, 1.5, 1e308, -1e-308, rng.uniform(-1e6, 1e6)])
        if pick in (4, 5, 6):
            return self.text()
        if pick in (7, 8):
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {self.text(8): self.value(depth + 1) for _ in range(rng.randint(0, 4))}

    @staticmethod
    def json_bytes(value: Any) -> bytes:
        """``value`` as one line of JSON (lone surrogates and control characters escaped)."""
        return json.dumps(value, ensure_ascii=True).encode("ascii")

    # documents
    def valid_document(self) -> dict[str, Any]:
        """A valid document with a unique id."""
        self.serial += 1
        return {
            "id": f"valid-{self.serial}",
            "title": "China adds gallium to export licence list",
            "text": "MOFCOM said exports of gallium and germanium need a licence from 1 August.",
            "url": "https://ex.org/news/1?utm_source=x",
            "published": "2025-05-30T08:00:00Z",
            "source": "partner",
            "language": "en",
            "tags": {"region": "asia"},
        }

    def mutated_document(self) -> dict[str, Any]:
        """A valid document with 1-4 fields deleted, mistyped, nasty, oversize, unknown or misdated."""
        rng = self.rng
        doc = self.valid_document()
        doc["id"] = "m-" + doc["id"]
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(DOC_FIELDS)
            op = rng.choice(["delete", "wrong", "nasty", "huge", "unknown", "date", "blank"])
            if op == "delete":
                doc.pop(key, None)
            elif op == "wrong":
                doc[key] = self.value()
            elif op == "nasty":
                doc[key] = self.text(40)
            elif op == "huge" and key in OVER_LIMIT:
                doc[key] = ("https://ex.org/" if key == "url" else "") + "x" * OVER_LIMIT[key]
            elif op == "unknown":
                doc[self.text(10)] = self.value()
            elif op == "date":
                doc["published"] = rng.choice(WEIRD_DATES)
            elif op == "blank":
                doc[key] = rng.choice(["", "   ", "\n\t"])
        return doc

    def jsonl_line(self) -> tuple[bytes, bool]:
        """One line of a replay file and whether it must come out as a document."""
        rng = self.rng
        kind = rng.choice(
            ["valid", "mutated", "mutated", "value", "junk", "utf8", "surrogate", "bomb", "blank"]
        )
        if kind == "valid":
            return self.json_bytes(self.valid_document()), True
        if kind == "mutated":
            return self.json_bytes(self.mutated_document()), False
        if kind == "value":
            return self.json_bytes(self.value()), False
        if kind == "junk":
            return rng.randbytes(rng.randint(1, 60)).replace(b"\n", b" "), False
        if kind == "utf8":
            good = self.json_bytes(self.valid_document())
            at = rng.randint(1, len(good) - 1)
            return good[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88"]) + good[at:], False
        if kind == "surrogate":
            return b'{"id": "s\\ud800", "text": "lone \\udfff surrogate"}', False
        if kind == "bomb":
            if rng.random() < 0.5:
                depth = rng.choice([10, 5_000, 50_000])
                return b"[" * depth + b"]" * depth, False
            return b'{"id": "big", "text": "x", "n": ' + b"9" * rng.choice([10, 5_000]) + b"}", False
        return rng.choice([b"", b"   ", b"\t\r"]), False

    # push
    def push_body(self) -> tuple[bytes, dict[str, str]]:
        """A push body and its headers (5 % with a missing or wrong token)."""
        rng = self.rng
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        if rng.random() < 0.05:
            headers["Authorization"] = rng.choice(["", "Bearer", "Bearer wrong", f"Basic {TOKEN}", TOKEN])
        kind = rng.choice(
            ["one", "one", "batch", "wrapped", "value", "junk", "utf8", "bomb", "huge", "empty"]
        )

        def doc() -> dict[str, Any]:
            return self.valid_document() if rng.random() < 0.4 else self.mutated_document()

        if kind == "one":
            return self.json_bytes(doc()), headers
        if kind == "batch":
            items = [doc() if rng.random() < 0.8 else self.value() for _ in range(rng.randint(0, 5))]
            return self.json_bytes(items), headers
        if kind == "wrapped":
            inner: Any = [doc() for _ in range(rng.randint(0, 4))] if rng.random() < 0.8 else self.value()
            return self.json_bytes({"documents": inner}), headers
        if kind == "value":
            return self.json_bytes(self.value()), headers
        if kind == "junk":
            return rng.randbytes(rng.randint(0, 200)), headers
        if kind == "utf8":
            return self.json_bytes(self.valid_document())[:-5] + b"\xff\xfe" + b'"}', headers
        if kind == "bomb":
            if rng.random() < 0.5:
                depth = rng.choice([100, 30_000])
                return b"[" * depth + b"]" * depth, headers
            return b'{"id": "a", "text": "b", "n": ' + b"7" * 5_000 + b"}", headers
        if kind == "huge":
            if rng.random() < 0.7:
                return self.json_bytes({**self.valid_document(), "text": "x" * (PUSH_MAX_BYTES + 1)}), headers
            return self.json_bytes([{"id": f"d{i}", "text": "t"} for i in range(1_001)]), headers
        return rng.choice([b"", b"[]", b'{"documents": []}', b"null"]), headers

    # feeds
    def mutated_feed(self) -> bytes:
        """A real feed with bytes flipped, inserted or deleted, cut, spliced, an entity bomb, re-encoded."""
        rng = self.rng
        data = bytearray(rng.choice(FEED_SEEDS))
        for _ in range(rng.randint(0, 6)):
            if not data:
                break
            op = rng.choice(["flip", "insert", "delete", "truncate", "splice", "bomb", "encode", "bom"])
            at = rng.randint(0, len(data) - 1)
            if op == "flip":
                data[at] = rng.randint(0, 255)
            elif op == "insert":
                data[at:at] = rng.choice(
                    [rng.randbytes(rng.randint(0, 16)), b"<", b"&", b"]]>", b"<![CDATA[", b"\x00", b"&#0;",
                     b"&#xD800;", b"&bogus;", b"<item>"]
                )  # fmt: skip
            elif op == "delete":
                del data[at : at + rng.randint(1, 64)]
            elif op == "truncate":
                del data[at:]
            elif op == "splice":
                other = rng.choice(FEED_SEEDS)
                data = data[:at] + other[rng.randint(0, len(other) - 1) :]
            elif op == "bomb":
                body = bytes(data).split(b"?>", 1)[-1]
                body = re.sub(rb"<title>", b"<title>&d;", body, count=rng.randint(0, 3))
                data = bytearray(ENTITY_BOMB + body)
            elif op == "encode":
                text = bytes(data).decode("utf-8", "replace")
                declared = rng.choice([None, "utf-8", "iso-8859-1", "utf-16", "x-bogus", ""])
                if declared is not None:
                    text = re.sub(r'encoding="[^"]*"', f'encoding="{declared}"', text, count=1)
                encoding = rng.choice(["utf-16", "utf-16-le", "latin-1", "cp1252", "shift_jis", "koi8-r"])
                data = bytearray(text.encode(encoding, "replace"))
            else:
                data[0:0] = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])
        return bytes(data)

    # rule files
    def mutated_rule_pack(self) -> str:
        """Rules of the default pack with keys deleted, wrong types, unknown fields, bad regexes, huge
        numbers, aliases (and alias bombs), or the YAML text damaged."""
        rng = self.rng
        rules = [dict(r) for r in rng.sample(DEFAULT_RULES, rng.randint(1, min(3, len(DEFAULT_RULES))))]
        top: dict[Any, Any] = {"rules": rules}
        for _ in range(rng.randint(0, 3)):
            rule = rng.choice(rules)
            key = rng.choice(RULE_KEYS)
            op = rng.choice(["delete", "wrong", "unknown", "when", "huge", "top", "dup"])
            if op == "delete":
                rule.pop(key, None)
            elif op == "wrong":
                rule[key] = rng.choice(BAD_RULE_VALUES) if rng.random() < 0.6 else self.value()
            elif op == "unknown":
                rule[self.text(8) or "x"] = self.value()
            elif op == "when":
                when = rule.get("when")
                rule["when"] = {**(when if isinstance(when, dict) else {}), **rng.choice(WHEN_MUTATIONS)}
            elif op == "huge":
                rule[rng.choice(["max_evidence", "suppress_for"])] = rng.choice(
                    [10**20, 10**400, 1e308, "1e308d", "99999999999999999d"]
                )
            elif op == "top":
                top[rng.choice([1, None, "rulez", True])] = self.value()
            else:
                rules.append(dict(rule))
        text = yaml.safe_dump(top, allow_unicode=True, sort_keys=False)
        damage = rng.choice(["none"] * 4 + ["alias", "bomb", "recursive", "bytes", "tab", "date", "deep"])
        if damage == "alias":
            shared = "rules:\n- &shared {id: shared-a, when: {measures: [export_ban]}}\n"
            text = text.replace("rules:\n", shared, 1) + "- {id: shared-b, when: *shared}\n"
        elif damage == "bomb":
            levels = "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]\n" for i in range(1, 9))
            body = text.replace("  type:", "  labels: {k: *x8}\n  type:", 1)
            text = "x0: &x0 [a, a, a, a, a, a, a, a, a]\n" + levels + body
        elif damage == "recursive":
            text = text.replace("rules:\n", "rules:\n- &me {id: me, labels: {self: *me}}\n", 1)
        elif damage == "bytes":
            data = bytearray(text.encode("utf-8"))
            for _ in range(rng.randint(1, 5)):
                data[rng.randint(0, len(data) - 1)] = rng.randint(0, 255)
            text = data.decode("utf-8", "surrogateescape")
        elif damage == "tab":
            text = text.replace("  ", "\t", 1)
        elif damage == "date":
            text += "when: 2024-13-45\n"
        elif damage == "deep":
            text = "rules: " + "[" * 600 + "]" * 600
        return text

    # subscriptions
    @staticmethod
    def valid_subscription() -> dict[str, Any]:
        """A valid subscription body."""
        return {
            "name": "battery team",
            "filters": {"minerals": ["lithium", "cobalt"], "countries": ["CN"], "min_severity": "high"},
            "channel": {"type": "webhook", "url": "https://hooks.example.org/minerals"},
            "delivery": {"mode": "digest", "frequency": "weekly", "at": "08:30", "timezone": "Europe/Paris"},
        }

    def mutated_subscription(self) -> bytes:
        """A subscription body with 0-3 mutations, or not a JSON object at all."""
        rng = self.rng
        kind = rng.choice(["mutated"] * 8 + ["value", "junk", "bomb"])
        if kind == "value":
            return self.json_bytes(self.value())
        if kind == "junk":
            return rng.randbytes(rng.randint(0, 100))
        if kind == "bomb":
            if rng.random() < 0.5:
                return b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
            return b'{"name": "n", "delivery": {"weekday": ' + b"1" * 5_000 + b"}}"
        body = self.valid_subscription()
        for _ in range(rng.randint(0, 3)):
            path = rng.choice(SUB_PATHS)
            parent: Any = body
            for part in path[:-1]:
                parent = parent.setdefault(part, {}) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            leaf = path[-1]
            op = rng.choice(["delete", "wrong", "nasty", "unknown", "special", "special"])
            if op == "delete":
                parent.pop(leaf, None)
            elif op == "wrong":
                parent[leaf] = self.value()
            elif op == "nasty":
                parent[leaf] = self.text(40) if rng.random() < 0.9 else "x" * 10_000
            elif op == "unknown":
                parent[self.text(8) or "x"] = self.value()
            elif leaf in SUB_SPECIALS:
                parent[leaf] = rng.choice(SUB_SPECIALS[leaf])
            else:
                parent[leaf] = rng.choice([[], [""], ["ZZZ"], ["cn", " us "], "all", None])
        return self.json_bytes(body)


def check_document(document: Document, source_prefix: str | None = None) -> str | None:
    """What is wrong with an accepted document, or None."""
    if not document.id or len(document.id) > 512 or not document.id.strip(" \t\r\n"):
        return f"bad id {document.id!r}"
    if source_prefix and not (
        document.id.startswith(source_prefix) and len(document.id) > len(source_prefix)
    ):
        return f"id {document.id!r} without the source prefix"
    if not document.text.strip():
        return f"{document.id}: empty text"
    if document.url is not None and not document.url.lower().startswith(("http://", "https://")):
        return f"{document.id}: url {document.url!r}"
    if document.published is not None and document.published.tzinfo is None:
        return f"{document.id}: naive published"
    if source_prefix and document.language is not None and not _LANGUAGE.fullmatch(document.language):
        return f"{document.id}: language {document.language!r}"
    return None


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


# -- kinds ------------------------------------------------------------------------------------------------


def run_documents(target: int, mutator: Mutator, deadline: float, workdir: Path) -> KindResult:
    """Replay files of 500 lines through ``read_jsonl``: one item per non-blank line, line numbers right."""
    result = KindResult("documents", target)
    progress = Progress(result)
    path = workdir / "replay.jsonl"
    blank = 0
    for size in _chunks(target, 500):
        if time.perf_counter() > deadline:
            result.stopped_early = True
            break
        lines: list[tuple[bytes, bool]] = []
        non_blank = 0
        while non_blank < size:  # ``size`` non-blank lines, and the blank ones drawn between them
            line = mutator.jsonl_line()
            lines.append(line)
            non_blank += bool(line[0].strip())
        path.write_bytes(b"\n".join(raw for raw, _ in lines))
        expected = [(n, valid) for n, (raw, valid) in enumerate(lines, start=1) if raw.strip()]
        result.tried += len(expected)  # blank lines are skipped by design: not counted as inputs
        blank += len(lines) - len(expected)
        try:
            items = list(read_jsonl(path))
        except Exception:
            result.crash(traceback.format_exc())
            continue
        if len(items) != len(expected):
            result.violate(f"{len(items)} items for {len(expected)} non-blank lines")
            continue
        for item, (number, must_be_valid) in zip(items, expected, strict=True):
            if isinstance(item, LineError):
                result.rejected += 1
                if item.line != number or not str(item).startswith(f"{path}:{number}: "):
                    result.violate(f"line error {item} for line {number}")
                elif must_be_valid:
                    result.violate(f"valid line rejected: {item}")
            else:
                result.accepted += 1
                problem = check_document(item)
                if problem:
                    result.violate(problem)
        progress.tick()
    result.seconds = time.perf_counter() - progress.started
    result.extra["blank_lines_skipped"] = float(blank)
    progress.tick(force=True)
    return result


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(site)}"


async def _bounded(
    count: int, deadline: float, one: Callable[[], Awaitable[None]], result: KindResult
) -> None:
    """Await ``one()`` ``count`` times, HTTP_CONCURRENCY at a time, until the deadline."""
    progress = Progress(result)
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            if time.perf_counter() > deadline:
                result.stopped_early = True
                return
            await one()
            progress.tick()

    await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
    progress.tick(force=True)


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


async def run_push(target: int, mutator: Mutator, deadline: float) -> KindResult:
    """Mutated bodies to ``POST /api/v1/ingest``: 202, or 400/401/413 with a JSON error naming a field."""
    result = KindResult("push", target, metric='monitor_input_rejected_total{kind="push"}')
    metrics = Metrics(CollectorRegistry())
    published = [0]

    async def publish(documents: list[Document]) -> None:
        published[0] += len(documents)

    app = web.Application()
    install_ingest_routes(
        app, publish=publish, token=SecretStr(TOKEN), metrics=metrics, max_bytes=PUSH_MAX_BYTES
    )
    runner, base = await _serve(app)
    started = time.perf_counter()
    try:
        async with aiohttp.ClientSession() as http:

            async def one() -> None:
                body, headers = mutator.push_body()
                result.tried += 1
                try:
                    status, text = await _post(http, base + INGEST_PATH, body, headers)
                except aiohttp.ClientError as err:
                    result.crash(f"{type(err).__name__}: {err}")
                    return
                if status >= 500:
                    result.crash(f"{status}: {text[:300]} <- {body[:300]!r}")
                    return
                try:
                    answer = json.loads(text)
                except ValueError:
                    result.violate(f"{status}: not JSON: {text[:200]}")
                    return
                if status == 202:
                    result.accepted += 1
                    if not answer.get("ids"):
                        result.violate(f"202 without ids: {text[:200]}")
                    return
                result.rejected += 1
                if status == 401:
                    return
                details = answer.get("details") if status in (400, 413) else None
                if not details or not all(isinstance(d.get("field"), str) and d["field"] for d in details):
                    result.violate(f"{status} without a field: {text[:300]}")

            await _bounded(target, deadline, one, result)
    finally:
        result.seconds = time.perf_counter() - started
        await runner.cleanup()
    result.metric_rejected = rejected_total(metrics, "push")
    result.extra["documents_published"] = float(published[0])
    return result


async def run_feeds(target: int, mutator: Mutator, deadline: float, workdir: Path) -> KindResult:
    """Mutated feeds through ``poll_once`` (a file:// source), checked against ``parse_feed``."""
    metric = 'monitor_ingest_poll_failures_total{reason="parse"} (items: input_rejected{kind="feed_item"})'
    result = KindResult("feeds", target, metric=metric)
    metrics = Metrics(CollectorRegistry())
    progress = Progress(result)
    path = workdir / "feed.xml"
    source = FeedSource.model_validate({"id": "fuzz", "kind": "feed", "url": path.as_uri()})
    items_rejected = 0
    items_accepted = 0
    policy = FetchPolicy(min_host_gap_s=0.0)
    async with aiohttp.ClientSession() as session:
        for _ in range(target):
            if time.perf_counter() > deadline:
                result.stopped_early = True
                break
            body = mutator.mutated_feed()
            path.write_bytes(body)
            result.tried += 1
            try:
                expected = parse_feed(body, source, url=source.url, fetched=datetime.now(UTC))
                polls = [
                    r
                    async for r in poll_once([source], session=session, metrics=metrics, fetch_policy=policy)
                ]
            except Exception:
                result.crash(traceback.format_exc())
                continue
            (poll,) = polls
            if poll.error is not None:
                if poll.error.reason != "parse":
                    result.crash(f"poll failed: {poll.error}")
                    continue
                result.rejected += 1
                continue
            result.accepted += 1
            items_rejected += expected.rejected
            items_accepted += len(expected.documents)
            for document in poll.documents:
                problem = check_document(document, "fuzz:")
                if problem:
                    result.violate(problem)
            progress.tick()
    result.seconds = time.perf_counter() - progress.started
    item_metric = rejected_total(metrics, "feed_item")
    result.metric_rejected = sample_sum(metrics, "monitor_ingest_poll_failures_total", reason="parse")
    result.extra.update(
        items_accepted=float(items_accepted),
        items_rejected=float(items_rejected),
        items_rejected_metric=item_metric,
    )
    if item_metric != items_rejected:
        result.violate(f"feed_item metric {item_metric} != {items_rejected} rejected items")
    progress.tick(force=True)
    return result


def run_rule_files(target: int, mutator: Mutator, deadline: float, workdir: Path) -> KindResult:
    """Mutated rule packs written over the live rule file, then ``RuleHolder.reload(force=True)``."""
    result = KindResult("rule_files", target, metric='monitor_input_rejected_total{kind="rule_file"}')
    path = workdir / "rules.yaml"
    path.write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
    metrics = Metrics(CollectorRegistry())
    holder = RuleHolder([path], metrics)
    progress = Progress(result)
    for _ in range(target):
        if time.perf_counter() > deadline:
            result.stopped_early = True
            break
        text = mutator.mutated_rule_pack()
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        old = holder.current
        result.tried += 1
        try:
            changed, message = holder.reload(force=True)
        except Exception:
            result.crash(traceback.format_exc())
            continue
        if changed:
            result.accepted += 1
        else:
            result.rejected += 1
            if holder.current is not old:
                result.violate("a rejected reload replaced the rules")
            if str(path) not in message:
                result.violate(f"the rejection does not name the file: {message[:300]}")
        progress.tick()
    result.seconds = time.perf_counter() - progress.started
    result.metric_rejected = rejected_total(metrics, "rule_file")
    progress.tick(force=True)
    return result


async def offline_resolve(host: str, port: int) -> list[str]:
    """Fails like the system resolver (IDNA errors, unknown names) without DNS; ``*.internal`` is private."""
    host.encode("idna")
    if "\x00" in host or " " in host:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ["10.1.2.3"] if host.endswith(".internal") else ["93.184.216.34"]


async def run_subscriptions(target: int, mutator: Mutator, deadline: float, workdir: Path) -> KindResult:
    """Mutated bodies to ``POST /api/v1/subscriptions`` (real API, SQLite): 201 or a 400 naming a field."""
    result = KindResult("subscriptions", target, metric='monitor_input_rejected_total{kind="api"}')
    metrics = Metrics(CollectorRegistry())
    store = SqlAlertStore(f"sqlite+aiosqlite:///{workdir}/monitor.sqlite")
    await store.start()
    deps = DeliveryApiDeps(
        store=store, feed=AlertFeed(), metrics=metrics, settings=fast_settings(), resolve=offline_resolve
    )

    async def ready() -> tuple[bool, list[str]]:
        return True, []

    app = create_app(ApiDeps(metrics=metrics, readiness=ready, route_installers=[delivery_routes(deps)]))
    runner, base = await _serve(app)
    key, _ = await create_key(store, "fuzz-admin", ["admin"])
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.perf_counter()
    try:
        async with aiohttp.ClientSession() as http:

            async def one() -> None:
                body = mutator.mutated_subscription()
                result.tried += 1
                try:
                    status, text = await _post(http, f"{base}/api/v1/subscriptions", body, headers)
                except aiohttp.ClientError as err:
                    result.crash(f"{type(err).__name__}: {err}")
                    return
                if status >= 500:
                    result.crash(f"{status}: {text[:300]} <- {body[:300]!r}")
                    return
                try:
                    answer = json.loads(text)
                except ValueError:
                    result.violate(f"{status}: not JSON: {text[:200]}")
                    return
                if status == 201:
                    result.accepted += 1
                    return
                result.rejected += 1
                error = answer.get("error") if isinstance(answer, dict) else None
                if status != 400 or not isinstance(error, dict) or not error.get("field"):
                    result.violate(f"{status} without a field: {text[:300]} <- {body[:200]!r}")

            await _bounded(target, deadline, one, result)
    finally:
        result.seconds = time.perf_counter() - started
        await runner.cleanup()
        await store.close()
    result.metric_rejected = rejected_total(metrics, "api")
    return result


# -- main -------------------------------------------------------------------------------------------------


def table(results: list[KindResult]) -> str:
    """The results as a fixed-width table."""
    head = (
        f"{'kind':<14}{'tried':>9}{'accepted':>10}{'rejected':>10}{'crashes':>9}{'violations':>11}"
        f"{'metric':>9}{'metric=rej':>11}{'inputs/s':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        metric = "-" if r.metric_rejected is None else f"{r.metric_rejected:.0f}"
        ok = "-" if r.metric_ok is None else ("yes" if r.metric_ok else "NO")
        lines.append(
            f"{r.kind:<14}{r.tried:>9}{r.accepted:>10}{r.rejected:>10}{r.crashes:>9}{r.violations:>11}"
            f"{metric:>9}{ok:>11}{r.rate:>10.0f}" + ("  (stopped early)" if r.stopped_early else "")
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<14}{sum(r.tried for r in results):>9}{sum(r.accepted for r in results):>10}"
        f"{sum(r.rejected for r in results):>10}{sum(r.crashes for r in results):>9}"
        f"{sum(r.violations for r in results):>11}"
    )
    return "\n".join(lines)


async def run(count: int, seed: int, time_limit: float, kinds: list[str]) -> list[KindResult]:
    """Run every selected kind; each gets its share of ``count`` and an equal share of the time left."""
    mutator = Mutator(seed)
    share_total = sum(SHARES[k] for k in kinds)
    targets = {k: max(1, round(count * SHARES[k] / share_total)) for k in kinds}
    results: list[KindResult] = []
    end = time.perf_counter() + time_limit
    with tempfile.TemporaryDirectory(prefix="monitor-fuzz-") as tmp:
        for index, kind in enumerate(kinds):
            # The time left, shared by the kinds left: what a fast kind does not use, a slow one may.
            deadline = time.perf_counter() + (end - time.perf_counter()) / (len(kinds) - index)
            print(f"[{kind}] {targets[kind]} inputs", file=sys.stderr, flush=True)
            workdir = Path(tmp) / kind
            workdir.mkdir()
            if kind == "documents":
                results.append(run_documents(targets[kind], mutator, deadline, workdir))
            elif kind == "push":
                results.append(await run_push(targets[kind], mutator, deadline))
            elif kind == "feeds":
                results.append(await run_feeds(targets[kind], mutator, deadline, workdir))
            elif kind == "rule_files":
                results.append(run_rule_files(targets[kind], mutator, deadline, workdir))
            else:
                results.append(await run_subscriptions(targets[kind], mutator, deadline, workdir))
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print the table and the JSON summary; 1 when anything went wrong."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs in total (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mutators (default 1)")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds for the run (default 1800)")
    parser.add_argument(
        "--kinds", default=",".join(SHARES), help=f"a comma-separated subset of {','.join(SHARES)}"
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON summary to this file")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SHARES]
    if unknown or not kinds:
        parser.error(f"unknown kinds {unknown}; choose from {list(SHARES)}")
    # The code under test logs every rejection (rule reloads, failed polls): keep the output readable.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    results = asyncio.run(run(args.count, args.seed, args.time_limit, kinds))
    summary = {
        "count": args.count,
        "seed": args.seed,
        "time_limit_s": args.time_limit,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "total_tried": sum(r.tried for r in results),
        "total_crashes": sum(r.crashes for r in results),
        "total_violations": sum(r.violations for r in results),
        "metrics_agree": all(r.metric_ok is not False for r in results),
        "kinds": {r.kind: r.as_dict() for r in results},
    }
    print(table(results))
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = summary["total_crashes"] or summary["total_violations"] or not summary["metrics_agree"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
