"""Hypothesis profiles of the property tests: ``ci`` (the default) and ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``).

``ci`` keeps hypothesis's usual 100 examples, so the whole property suite stays well under a minute;
``fuzz`` is the long bad-input run (``HYPOTHESIS_PROFILE=fuzz pytest tests/property``). Tests that
pin ``max_examples`` themselves keep their own count in both.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("fuzz", max_examples=20_000, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
