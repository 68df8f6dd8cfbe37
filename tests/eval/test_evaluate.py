"""The evaluator end to end with scripted backends (fast): numbers, files, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.errors import ConfigError, InputError
from safemix.eval import EvalConfig, evaluate
from safemix.eval.report import SECTIONS
from safemix.llm.base import EndpointError, LLMBackend
from safemix.utils import read_jsonl, sha256_file

FIX = Path(__file__).resolve().parents[1] / "fixtures"
JOB = str(FIX / "topic_chat.jsonl")
PROBES = [{"source": "builtin", "kind": "harmful", "limit": 14}, {"source": "builtin", "kind": "benign", "limit": 7}]
REFUSAL = "I'm sorry, but I can't help with that."


class Scripted(LLMBackend):
    """A real backend (the LLMBackend interface) answering by a rule; can crash after k calls."""

    name = "scripted"

    def __init__(self, fn, fail_after: int | None = None, model: str = "scripted") -> None:
        super().__init__()
        self.fn, self.fail_after, self.model = fn, fail_after, model
        self.calls = self.prompts = 0

    def _chat(self, conversations, **params):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.prompts += len(conversations)
        return [self.fn(c) for c in conversations]


def refuse_all(conv):
    return REFUSAL


def weak_base(conv):
    """Complies under the identity shift, answers 'Sports' otherwise."""
    text = " ".join(m["content"] for m in conv)
    return "Sure, here is how. Step 1: [redacted]" if "AOA" in text else "Sports"


def run(tmp_path, name="run", model=None, base=None, **kw):
    args = {"job": JOB, "validation": JOB, "probes": PROBES, "n_validation": 8, "bootstrap": 200,
            "output_dir": str(tmp_path / name), "batch_size": 8}
    args.update(kw)
    return evaluate(model or Scripted(refuse_all), base_backend_obj=base, **args)


def test_end_to_end_numbers_and_files(tmp_path):
    before = sha256_file(JOB)
    res = run(tmp_path, base=Scripted(weak_base, model="base-model"), tags={"method": "template", "ratio": 0.1})
    r = res.results
    m, b = r["metrics"]["model"], r["metrics"]["base"]
    assert set(m["safety"]) == {"job", "chat", "aoa", "job_aoa", "all"}
    assert all(v["refusal_rate"]["mean"] == 1.0 for v in m["safety"].values())
    assert b["safety"]["aoa"]["attack_success_rate"]["mean"] == 1.0
    assert b["safety"]["job_aoa"]["attack_success_rate"]["mean"] == 1.0
    assert b["safety"]["chat"]["other_rate"]["mean"] == 1.0  # a bare label is off-task, not compliance
    assert b["safety"]["all"]["attack_success_rate"]["mean"] == 0.5
    assert m["over_refusal"]["all"]["mean"] == 1.0 and b["over_refusal"]["all"]["mean"] == 0.0
    # task accuracy: the base always says "Sports"; recompute from the validation sample itself
    samples = read_jsonl(res.paths["samples"])
    task = [s for s in samples if s["part"] == "task" and s["role"] == "base"]
    assert len(task) == 8
    assert b["task"]["mean"] == sum(s["reference"] == "Sports" for s in task) / 8
    assert m["task"]["mean"] == 0.0 and r["task_metric"] == "accuracy"
    ret = r["retention"]["safety"]
    assert ret["aoa"]["refusal_rate"]["delta"]["diff"] == 1.0
    assert ret["all"]["attack_success_rate"]["delta"]["diff"] == -0.5
    lo, hi = ret["all"]["attack_success_rate"]["delta"]["low"], ret["all"]["attack_success_rate"]["delta"]["high"]
    assert lo <= -0.5 <= hi and lo < hi
    assert r["counts"] == {"probes_harmful": 14, "probes_benign": 7, "validation": 8, "samples": 2 * (14 * 4 + 7 * 2 + 8),
                           "generated": 2 * (14 * 4 + 7 * 2 + 8), "resumed": 0}
    assert r["schema_version"] == 1 and r["git"]["commit"] and r["versions"]["torch"]
    assert r["tags"] == {"method": "template", "ratio": 0.1} and r["models"]["base"]["model"] == "base-model"
    # identical prompts for both models
    by = {(s["part"], s["style"], s["probe_id"]): s for s in samples if s["role"] == "model"}
    assert all(by[(s["part"], s["style"], s["probe_id"])]["messages"] == s["messages"]
               for s in samples if s["role"] == "base")
    assert sha256_file(JOB) == before  # inputs untouched


def test_report_has_every_section_and_plots(tmp_path):
    res = run(tmp_path, base=Scripted(weak_base))
    page = res.paths["report_html"].read_text(encoding="utf-8")
    for sec in SECTIONS:
        assert f'<section id="{sec}">' in page, sec
    assert page.count("data:image/png;base64,") == 3
    md = res.paths["report_md"].read_text(encoding="utf-8")
    assert "## Safety retention" in md and "![pareto](plots/pareto.png)" in md
    for name in ("pareto", "categories", "styles"):
        assert (res.output_dir / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "refusal change" in res.summary()


def test_interrupted_eval_resumes_without_regenerating(tmp_path):
    crashing = Scripted(lambda c: "first run: " + REFUSAL, fail_after=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, model=crashing)
    path = tmp_path / "run" / "samples.jsonl"
    first = {r["id"]: r["generation"] for r in read_jsonl(path)}
    assert len(first) == 3 * 8  # three finished batches survived the crash
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "torn')  # a record cut off mid-write
    again = Scripted(lambda c: "second run: " + REFUSAL)
    res = run(tmp_path, model=again)
    total = 14 * 4 + 7 * 2 + 8
    assert again.prompts == total - len(first)  # only the missing samples were generated
    assert res.results["counts"]["resumed"] == len(first) and res.results["counts"]["generated"] == total - len(first)
    final = {r["id"]: r["generation"] for r in read_jsonl(path)}
    assert len(final) == total and all(final[i] == g for i, g in first.items())
    # a third run has nothing left to generate
    third = Scripted(refuse_all)
    run(tmp_path, model=third)
    assert third.prompts == 0
    # different generation settings are different samples
    fourth = Scripted(refuse_all)
    run(tmp_path, model=fourth, max_new_tokens=7)
    assert fourth.prompts == total - 8  # task prompts keep their own length


def test_several_judges_report_agreement(tmp_path):
    from safemix.llm.testserver import OpenAITestServer

    def grader(messages):  # says "refused" for everything: disagrees on compliances
        return "#refused: 1\n#on_task: 1\n#specific: 1\n#convincing: 1"

    with OpenAITestServer(grader) as srv:
        res = run(tmp_path, model=Scripted(weak_base), judges=["keyword", "llm"],
                  judge_args={"llm": {"model": "grader", "base_url": srv.url, "api_key": "sk-test-secret"}},
                  styles=["chat", "aoa"])
    j = res.results["judges"]
    assert j["primary"] == "keyword" and j["counts"]["llm"]["refused"] == 14 * 2 + 7 * 1
    pair = j["agreement"][0]
    assert (pair["a"], pair["b"]) == ("keyword", "llm") and pair["agreement"] == 0.0
    assert j["n_disagreements"] == 14 * 2 + 7 and len(j["disagreements"]) == j["n_disagreements"]
    assert {d["outcomes"]["llm"] for d in j["disagreements"]} == {"refused"}
    assert "safety_by_judge" in res.results["metrics"]["model"]
    assert "sk-test-secret" not in res.paths["results"].read_text()  # secrets never reach the results
    assert res.results["config"]["judge_args"]["llm"]["api_key"] == "<redacted>"


def test_in_memory_job_and_no_validation(tmp_path):
    rows = [json.loads(x) for x in Path(JOB).read_text().splitlines()]
    res = evaluate(Scripted(refuse_all), job=rows, validation=None, probes=PROBES[:1], styles=["job"],
                   output_dir=str(tmp_path / "mem"), bootstrap=0)
    assert "task" not in res.results["metrics"]["model"]
    assert res.results["profile"]["answer_type"] == "label"
    assert '<section id="task">' in res.paths["report_html"].read_text()


def test_loglik_accuracy_needs_hf_backend(tmp_path):
    with pytest.raises(ConfigError, match="hf backend"):
        run(tmp_path, task_metric="loglik_accuracy", probes=PROBES[:1], styles=["chat"])


# ------------------------------------------------------------------------------ bad input
def test_probe_file_without_prompt_column(tmp_path, capsys):
    bad = tmp_path / "probes.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="no prompt column") as e:
        run(tmp_path, probes=[{"source": str(bad), "kind": "harmful"}])
    assert str(bad) in str(e.value)
    rc = main(["eval", f"model={tmp_path}/none", f"probes=[{{source: {bad}}}]", f"output_dir={tmp_path}/o"])
    assert rc == 2 and "no prompt column" in capsys.readouterr().err


def test_misspelt_names_are_config_errors(capsys):
    with pytest.raises(ConfigError, match="did you mean 'keyword'"):
        EvalConfig(model="m", judges=["keywrod"])
    with pytest.raises(ConfigError, match="did you mean 'job_aoa'"):
        EvalConfig(model="m", styles=["job_ao"])
    with pytest.raises(ConfigError, match="not in eval.judges"):
        EvalConfig(model="m", judge_args={"llm": {"model": "x"}})
    assert main(["eval", "model=m", "judges=[keywrod]"]) == 2
    assert "did you mean 'keyword'" in capsys.readouterr().err
    assert main(["eval", "model=m", "max_new_tokns=3"]) == 2
    assert "max_new_tokens" in capsys.readouterr().err


def test_unreachable_endpoint_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(EndpointError, match="cannot reach"):
        evaluate("served-model", backend="openai", backend_args={"base_url": "http://127.0.0.1:9/v1"},
                 probes=PROBES[:1], styles=["chat"], output_dir=str(tmp_path / "o"))
    rc = main(["eval", "model=served", "backend=openai", "backend_args={base_url: 'http://127.0.0.1:9/v1'}",
               "styles=[chat]", f"output_dir={tmp_path}/o2"])
    assert rc == 2 and "cannot reach the OpenAI-compatible endpoint" in capsys.readouterr().err


def test_missing_model_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate(str(tmp_path / "no-model"), probes=PROBES[:1], styles=["chat"], output_dir=str(tmp_path / "o"))


# ------------------------------------------------------------------------------ comparing runs
def test_report_compares_runs(tmp_path, capsys):
    base = Scripted(weak_base, model="base-model")
    run(tmp_path, "r1", model=Scripted(refuse_all, model="ft-a"), base=base, tags={"ratio": 0.1})
    run(tmp_path, "r2", model=Scripted(weak_base, model="ft-b"), base=base, tags={"ratio": 0.0})
    assert main(["report", str(tmp_path / "r1"), str(tmp_path / "r2"), "--out", str(tmp_path / "cmp")]) == 0
    cmp = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert [row["run"] for row in cmp["runs"]] == ["r1", "base: base-model", "r2"]  # one row per base model
    assert (tmp_path / "cmp" / "pareto.png").exists()
    page = (tmp_path / "cmp" / "comparison.html").read_text()
    assert "r1" in page and "r2" in page and "data:image/png" in page
    # one run, no --out: re-render its report from results.json
    (tmp_path / "r1" / "report.html").unlink()
    assert main(["report", str(tmp_path / "r1")]) == 0 and (tmp_path / "r1" / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_cli_help():
    for cmd in (["eval", "--help"], ["report", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(cmd)
        assert e.value.code == 0
