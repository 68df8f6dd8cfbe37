"""Fixtures of the mixer tests (helpers live in mix_helpers.py)."""

from __future__ import annotations

import pytest
from mix.mix_helpers import safety_records, write_safety


@pytest.fixture
def safety_file(tmp_path):
    """Factory: safety_file(n, **kw) -> path of an OpenAI safety JSONL (+ sidecar) in tmp_path."""
    def make(n: int = 20, name: str = "safety.jsonl", provenance: bool = True, **kw):
        return write_safety(tmp_path / name, safety_records(n, **kw), provenance)
    return make
