"""Alert identity: a stable fingerprint of the rule and its grouping labels, as in Alertmanager.

The fingerprint is a SHA-256 over a canonical JSON of the rule id, the scalar grouping labels
(sorted by name) and, for rules grouping by ``minerals``, the sorted minerals of the report that
opened the alert. Later reports join the alert while their minerals overlap; the fingerprint does not
change. The alert id is the fingerprint's first 16 hex digits, with ``-<n>`` appended when the same
fingerprint fires again after its suppression window ended (n = 2, 3, ...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping


def fingerprint(rule_id: str, labels: Mapping[str, str], minerals: Iterable[str] = ()) -> str:
    """Return the stable hex fingerprint of a rule and its grouping labels (and anchor minerals)."""
    payload = {
        "rule": rule_id,
        "labels": sorted((str(k), str(v)) for k, v in labels.items()),
        "minerals": sorted(set(minerals)),
    }
    canonical = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def alert_id(fingerprint_hex: str, sequence: int = 1) -> str:
    """The alert id for the ``sequence``-th firing of a fingerprint (1 for the first)."""
    base = fingerprint_hex[:16]
    return base if sequence <= 1 else f"{base}-{sequence}"
