"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def micro_tb(tmp_path_factory) -> Path:
    """The micro testbed, built once per test session (seconds)."""
    from safemix.testbed import build

    return build("micro", out=tmp_path_factory.mktemp("tb") / "micro", progress=False)
