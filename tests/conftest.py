"""Shared fixtures and the hypothesis profiles (``ci`` is derandomized)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, settings

import acctstate
from acctstate.presets import isp

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def wf() -> acctstate.Workflow:
    """The reference ISP workflow (immutable, so shared)."""
    return isp.workflow()


@pytest.fixture
def t0() -> dt.datetime:
    """A fixed, timezone-aware instant."""
    return T0
