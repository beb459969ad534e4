"""The rules core is pure: none of its modules imports a broker, HTTP, database or metrics library."""

from __future__ import annotations

import ast
from pathlib import Path

import monitor.rules

FORBIDDEN = {"faust", "aiokafka", "aiohttp", "httpx", "sqlalchemy", "prometheus_client", "requests"}


def test_rules_modules_import_no_shell_library():
    package = Path(monitor.rules.__file__).parent
    offenders = []
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    assert offenders == []
