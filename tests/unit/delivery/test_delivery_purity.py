"""The delivery policy modules stay pure: no HTTP client, database or metrics library."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "monitor.delivery.settings",
    "monitor.delivery.subscription",
    "monitor.delivery.matching",
    "monitor.delivery.payload",
    "monitor.delivery.signing",
    "monitor.delivery.backoff",
    "monitor.delivery.schedule",
    "monitor.delivery.ssrf",
]
SHELL_LIBRARIES = ("aiohttp", "sqlalchemy", "prometheus_client", "httpx")


def _loaded_after(imports: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in imports)
        + f"print(','.join(sorted(m for m in {SHELL_LIBRARIES!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(filter(None, out.stdout.strip().split(",")))


def test_pure_modules_import_no_shell_library() -> None:
    # The records are Faust records (Faust brings aiohttp along); the pure modules add nothing more.
    baseline = _loaded_after(["monitor.records"])
    assert _loaded_after(PURE) == baseline
