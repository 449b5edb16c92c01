"""Shared fixtures, and the Hypothesis settings profile used in CI.

The profile comes from ``HYPOTHESIS_PROFILE`` (default ``ci``): no deadline
(a 2-core CI runner has noisy timings) and 50 examples per property, which
keeps the whole suite well under two minutes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def sample_line() -> str:
    """The real recipe-output line: three workers, one of whom drew one person."""
    return (FIXTURES / "recipe-output-one-line.manifest").read_text(encoding="utf-8")
