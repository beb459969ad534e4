"""Fixtures of the rules core tests: the default pack shipped in rules/."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules import RuleSet

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def default_pack() -> RuleSet:
    """The default rule pack shipped in rules/."""
    return RuleSet.load([ROOT / "rules"])
