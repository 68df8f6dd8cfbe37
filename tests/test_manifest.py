"""One manifest schema (`safemix.manifest`): every stage's record carries the same versioned
envelope; a missing, foreign or unknown-version manifest is a clear error naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.manifest import (
    SCHEMA,
    STAGES,
    VERSION,
    ManifestError,
    check_manifest,
    make_manifest,
    read_manifest,
    write_manifest,
)

ENVELOPE = ("manifest_schema", "manifest_version", "stage", "safemix_version", "created",
            "inputs", "outputs", "config")


def test_make_manifest_puts_the_envelope_first_and_keeps_the_stage_fields():
    man = make_manifest("mix", {"stage": "mix", "counts": {"user": 3}, "config": {"seed": 1}},
                        inputs={"job": {"path": "a.jsonl", "sha256": "x"}})
    assert list(man)[:5] == ["manifest_schema", "manifest_version", "stage", "safemix_version", "created"]
    assert man["manifest_schema"] == SCHEMA and man["manifest_version"] == VERSION
    assert man["counts"] == {"user": 3} and man["config"] == {"seed": 1}  # the stage's own, unchanged
    assert man["inputs"]["job"]["sha256"] == "x" and man["outputs"] == {}
    assert man["created"].endswith("+00:00")
    assert check_manifest(man) is man


def test_make_manifest_refuses_an_unknown_stage_or_a_contradicting_one():
    with pytest.raises(ValueError, match="unknown manifest stage"):
        make_manifest("bake")
    with pytest.raises(ValueError, match="not 'train'"):
        make_manifest("train", {"stage": "mix"})


def test_write_and_read_round_trip(tmp_path):
    p = write_manifest(tmp_path / "m.json", make_manifest("train", {"global_step": 3}))
    man = read_manifest(p, stage="train")
    assert man["global_step"] == 3 and man["stage"] == "train"
    with pytest.raises(ManifestError, match="a train manifest, not a mix one") as e:
        read_manifest(p, stage="mix")
    assert str(p) in str(e.value)


@pytest.mark.parametrize("version, says", [(2, "newer safemix"), (0, "version 0 is not supported"),
                                           ("1", "not a whole number"), (None, "not a whole number")])
def test_an_unknown_version_is_a_clear_error_naming_the_file(tmp_path, version, says):
    man = make_manifest("generate")
    man["manifest_version"] = version
    p = tmp_path / "safety.manifest.json"
    p.write_text(json.dumps(man))
    with pytest.raises(ManifestError, match=says) as e:
        read_manifest(p)
    assert str(p) in str(e.value) and "manifest_version" in str(e.value)


def test_a_file_without_the_envelope_is_refused_unless_legacy(tmp_path):
    p = tmp_path / "mix_manifest.json"
    p.write_text(json.dumps({"stage": "mix", "counts": {}}))
    with pytest.raises(ManifestError, match="not a safemix manifest") as e:
        read_manifest(p)
    assert str(p) in str(e.value)
    assert read_manifest(p, legacy=True) == {"stage": "mix", "counts": {}}
    bad = make_manifest("mix")
    bad["manifest_version"] = 9  # an envelope is checked even when legacy files are welcome
    p.write_text(json.dumps(bad))
    with pytest.raises(ManifestError, match="newer safemix"):
        read_manifest(p, legacy=True)


def test_missing_malformed_and_broken_envelopes(tmp_path):
    with pytest.raises(ManifestError, match="no manifest here"):
        read_manifest(tmp_path / "nope.json")
    p = tmp_path / "m.json"
    p.write_text("{not json")
    with pytest.raises(ManifestError, match="malformed JSON") as e:
        read_manifest(p)
    assert f"{p}:1" in str(e.value)
    p.write_text("[1, 2]")
    with pytest.raises(ManifestError, match="JSON object, not list"):
        read_manifest(p, legacy=True)
    for key, value, says in [("stage", "bake", "unknown stage"), ("inputs", [], "inputs is missing or not"),
                             ("created", None, "created is missing")]:
        man = make_manifest("eval")
        man[key] = value
        with pytest.raises(ManifestError, match=says):
            check_manifest(man, p)


def test_write_manifest_checks_before_writing(tmp_path):
    p = tmp_path / "m.json"
    with pytest.raises(ManifestError):
        write_manifest(p, {"stage": "mix"})
    assert not p.exists()


@pytest.fixture(scope="module")
def micro_tb(tmp_path_factory) -> Path:
    """The micro testbed (seconds), as tests/pipeline/conftest.py builds it."""
    from safemix.testbed import build

    return build("micro", out=tmp_path_factory.mktemp("tb") / "micro", progress=False)


def _check_all(paths: list[Path], stage: str) -> list[dict]:
    assert paths, f"no {stage} manifest written"
    return [read_manifest(p, stage=stage) for p in paths]


@pytest.mark.integration
def test_every_stage_of_a_real_run_writes_the_one_schema(tmp_path, micro_tb):
    """`safemix run` on the micro testbed: generate, mix, train, eval, the pipeline's stage
    records and the testbed's testbed.json all validate, each stage's own keys where they were."""
    from safemix.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: it
methods: [template]
ratios: [0.1]
testbed: {{name: micro, out: {micro_tb}}}
train: {{method: full, max_steps: 2, per_device_batch_size: 8, save_steps: 2, max_seq_length: 320, show_progress: false}}
eval:
  n_validation: 4
  max_new_tokens: 4
  batch_size: 32
  bootstrap: 10
  styles: [job]
  probes: [{{source: builtin, kind: harmful, limit: 3}}, {{source: builtin, kind: benign, limit: 2}}]
""")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    (tb,) = _check_all([Path(micro_tb) / "testbed.json"], "testbed")
    assert tb["config_hash"] and tb["config"]["seed"] is not None
    (gen,) = _check_all(sorted(out.rglob("safety.manifest.json")), "generate")
    assert gen["method"] == "template" and gen["inputs"]["job"]["sha256"] == gen["job"]["sha256"]
    assert gen["outputs"]["examples"] == gen["output"]
    (mix,) = _check_all(sorted(out.rglob("mix_manifest.json")), "mix")
    assert mix["counts"]["safety"] > 0 and mix["inputs"]["job"]["sha256"]
    (train,) = _check_all(sorted(out.rglob("model/manifest.json")), "train")
    assert train["global_step"] == 2 and train["inputs"]["data"] == train["data"]
    (ev,) = _check_all(sorted(out.rglob("results.json")), "eval")
    assert ev["kind"] == "safemix.eval" and ev["schema_version"] == 1 and ev["config"]
    stages = _check_all(sorted(out.rglob("stage_manifest.json")), "pipeline")
    assert {s["name"] for s in stages} >= {"profile", "generate", "mix", "train", "eval"}
    assert all(s["key"] and isinstance(s["outputs"], dict) for s in stages)
    for man in [tb, gen, mix, train, ev, *stages]:
        assert set(ENVELOPE) <= set(man) and man["stage"] in STAGES
