"""Building a (micro) testbed: a loadable HF model directory, cached, atomic, reproducible."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.errors import ConfigError
from safemix.testbed.build import build, config_hash, default_dir, read_manifest
from safemix.testbed.config import get_config
from safemix.utils import read_jsonl, sha256_file

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    return build("micro", out=tmp_path_factory.mktemp("tb") / "micro", progress=False)


def test_build_writes_a_complete_testbed(micro):
    man = read_manifest(micro)
    assert man["config_hash"] == config_hash(get_config("micro"))
    assert 0 < man["parameters"] <= 20_000_000
    assert man["training"]["pretrain"]["steps"] > 0 and man["training"]["align"]["steps"] > 0
    for key in ("refusal_rate_harmful", "benign_accuracy", "over_refusal"):
        assert 0.0 <= man["behaviour"][key] <= 1.0
    for f in ("config.json", "model.safetensors", "tokenizer.json", "seeds.jsonl", "probes_harmful.jsonl",
              "probes_benign.jsonl", "corpus/pretrain.jsonl", "jobs/topic_benign.jsonl",
              "jobs/topic_aoa.val.jsonl", "jobs/qa_benign.jsonl"):
        assert (micro / f).is_file(), f
    assert {r["kind"] for r in read_jsonl(micro / "seeds.jsonl")} == {"harmful", "contrast"}
    assert not [p for p in micro.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_loads_with_safemix_and_generates_text(micro):
    from safemix.models import load_model_and_tokenizer
    from safemix.testbed.evaluate import generate_chat

    model, tok = load_model_and_tokenizer(str(micro))
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<pad>" and "generation" in tok.chat_template
    out = generate_chat(model, tok, [[{"role": "user", "content": "What is 2 plus 3?"}]], max_new_tokens=8)
    assert isinstance(out[0], str) and out[0]


def test_second_build_is_cached(micro):
    before = (micro / "model.safetensors").stat().st_mtime_ns
    t = time.perf_counter()
    assert build("micro", out=micro) == micro
    assert time.perf_counter() - t < 2.0
    assert (micro / "model.safetensors").stat().st_mtime_ns == before


def test_refuses_to_overwrite_other_content(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--force"):
        build("micro", out=tmp_path / "x", progress=False)
    assert (tmp_path / "x" / "notes.txt").read_text() == "mine"


def test_same_config_same_weights_and_force_rebuild(micro, tmp_path):
    other = build("micro", out=tmp_path / "again", progress=False)
    assert sha256_file(other / "model.safetensors") == sha256_file(micro / "model.safetensors")
    assert sha256_file(other / "corpus") == sha256_file(micro / "corpus")
    (other / "stray.txt").write_text("x")
    assert build("micro", out=other, force=True, progress=False) == other
    assert not (other / "stray.txt").exists()
    assert read_manifest(other)["config_hash"] == read_manifest(micro)["config_hash"]


def test_default_dir_follows_the_cache_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFEMIX_TESTBED_CACHE", str(tmp_path))
    cfg = get_config("micro")
    assert default_dir(cfg) == tmp_path / f"micro-{config_hash(cfg)}"
    assert config_hash(get_config("micro", seed=1)) != config_hash(cfg)
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        get_config("tiyn")


def test_trl_sft_trainer_finetunes_the_testbed(micro, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from safemix.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(micro))
    rows = read_jsonl(micro / "jobs" / "topic_aoa.jsonl")[:16]
    args = SFTConfig(output_dir=str(tmp_path / "ft"), max_steps=2, per_device_train_batch_size=8,
                     learning_rate=1e-3, assistant_only_loss=True, max_length=256, report_to=[],
                     save_strategy="no", use_cpu=True, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    out = trainer.train()
    assert out.training_loss > 0
    trainer.save_model(str(tmp_path / "ft"))
    assert (tmp_path / "ft" / "model.safetensors").is_file()


def test_cli_build_and_eval(micro, tmp_path, capsys):
    assert main(["testbed", "build", "micro", "--out", str(micro)]) == 0
    assert capsys.readouterr().out.strip() == str(micro)
    out = tmp_path / "eval.json"
    assert main(["testbed", "eval", str(micro), "--harmful", "4", "--benign", "4", "--contrast", "2",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == {"benign": 4, "contrast": 2, "harmful": 4}
    assert set(res["requirements_met"]) == {"refusal_rate_harmful", "benign_accuracy", "over_refusal"}
    assert main(["testbed", "build", "nope"]) == 2
