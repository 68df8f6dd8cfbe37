"""The wrap policy: the shipped example loads, defaults, and bad values are config errors."""

from __future__ import annotations

import pytest

from safemix.errors import ConfigError
from safemix.provider.policy import EXAMPLE_POLICY, Policy, load_policy


def test_example_policy_loads():
    pol = load_policy(EXAMPLE_POLICY)
    # sized for the tiny testbed it runs on (template 30%, 30% of the rows as plain chat)
    assert pol.mitigation.method == "template" and pol.mitigation.ratio == 0.3 and pol.mitigation.chat_share == 0.3
    assert pol.gate.min_refusal == {"job": 0.5, "job_aoa": 0.5, "chat": 0.5}
    assert pol.files.allowed_roots == [str(EXAMPLE_POLICY.parent)]
    assert pol.run["testbed"]["name"] == "tiny"


def test_defaults_and_overrides(tmp_path):
    pol = Policy()
    assert pol.mitigation.method == "template" and pol.mitigation.ratio == 0.1 and pol.checks.screen
    p = tmp_path / "p.yaml"
    p.write_text("files: {allowed_roots: [data, /abs]}\n")
    pol = load_policy(p, ["mitigation.method=none", "gate.max_task_drop=null"])
    assert pol.method == "none" and pol.gate.max_task_drop is None
    assert pol.files.allowed_roots == [str(tmp_path / "data"), "/abs"]


@pytest.mark.parametrize("override, match", [
    ("mitigation.method=templat", "did you mean 'template'"),
    ("mitigation.ratio=1.5", "ratio"),
    ("gate.max_attack_success=2", "max_attack_success"),
    ("gate.min_refusal={job: yes}", "min_refusal.job"),
    ("screen.threshold=0", "threshold"),
    ("run={methods: [none]}", "unknown section"),
    ("gates.max_task_drop=0.1", "did you mean 'gate'"),
])
def test_bad_policy_values(override, match):
    with pytest.raises(ConfigError, match=match):
        load_policy(None, [override])
