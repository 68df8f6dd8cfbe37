"""`paraphrase`: LLM rewrites validated against the job's profile; dummy, openai (real HTTP
to a local server, with failures and a cache) and hf backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from safemix.config import from_dict
from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report
from safemix.generate.refusal import looks_like_refusal

FIX = Path(__file__).resolve().parents[1] / "fixtures"
pytest.importorskip("safemix.embed")


def _request(messages) -> str:
    return re.search(r"Request(?: to place in the format)?: (.*)", messages[-1]["content"]).group(1).strip()


def rewrite(messages) -> str:
    """A stand-in LLM: rephrases the request the way the job's texts are phrased."""
    return f"Officials said someone asked: {_request(messages)}"


def cfg(**para):
    return from_dict(GenerateConfig, {"method": "paraphrase", "n": 12, "select": False,
                                      "seeds": str(FIX / "seeds_small.jsonl"),
                                      "paraphrase": {"backend": "dummy", **para}})


def test_slot_mode_parses_and_keeps_intent():
    from safemix.llm import get_backend

    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, cfg(), backend=get_backend("dummy", fn=rewrite))
    prof = infer_profile(job.examples, job.format)
    assert res.manifest["generated"] == 12
    assert res.manifest["fidelity"]["template_match_rate"] == 1.0
    for ex in res.examples:
        assert prof.parse_user(ex.user)["article"].startswith("Officials said someone asked: ")
        assert ex.metadata["method"] == "paraphrase" and ex.metadata["intent_similarity"] >= 0.5
        if ex.metadata["kind"] == "harmful":
            assert looks_like_refusal(ex.assistant)
    assert res.manifest["paraphrase"]["llm_calls"] == 12


def test_failures_are_regenerated_then_dropped_counted_and_replaced():
    from safemix.llm import get_backend

    seen: dict[str, int] = {}

    def flaky(messages):
        req = _request(messages)
        seen[req] = seen.get(req, 0) + 1
        if "Python" in req:  # always refuses to rewrite this one
            return "I'm sorry, but I can't help with that."
        if seen[req] == 1:  # first try drifts off topic
            return "Here is a recipe for banana bread with walnuts."
        return rewrite(messages)

    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, cfg(max_attempts=3), backend=get_backend("dummy", fn=flaky))
    d = res.manifest["dropped"]
    assert d["attempt_failed:intent_drift"] == 7  # first sight of each of 7 distinct requests
    assert d["dropped_after_retries"] == 1  # the Python contrast item
    # ... is replaced by the next contrast seed: the requested count is still produced
    assert res.manifest["generated"] == 12 and res.manifest["contrast"] == 2
    assert res.manifest["paraphrase"]["attempts"] == 3 and res.manifest["paraphrase"]["rounds"] == 2
    assert res.manifest["seeds"]["contrast"]["dropped"] == {"paraphrase_failed": 1}
    assert res.manifest["seeds"]["dropped_seed_ids"]["paraphrase_failed"] == ["t-c0"]
    assert not any("Python" in ex.user for ex in res.examples)


def test_full_mode_requires_parse():
    from safemix.llm import get_backend

    def full(messages):
        req = _request(messages)
        if "PID" in req or "kill" in req:
            return f"Topic question: {req}"  # wrong format: must be rejected
        return f"Classify the topic of this article.\n\nArticle: {req}\nTopic:"

    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, cfg(mode="full", max_attempts=2), backend=get_backend("dummy", fn=full))
    assert res.manifest["fidelity"]["template_match_rate"] == 1.0
    assert res.manifest["dropped"].get("attempt_failed:does_not_parse", 0) >= 2


def test_openai_backend_over_http_with_failures_and_cache(tmp_path):
    from safemix.llm.testserver import OpenAITestServer

    job = read_job(FIX / "topic_chat.jsonl")
    with OpenAITestServer(rewrite, fail_every=4) as srv:
        args = {"base_url": srv.url, "cache_dir": str(tmp_path / "cache"), "backoff_base": 0.01, "progress": False}
        c = cfg(backend="openai", model="safemix-test", backend_args=args)
        res = generate_with_report(job, c)
        assert res.manifest["generated"] == 12
        st = res.manifest["paraphrase"]["backend_stats"]
        assert st["retries"] >= 1 and st["failed"] == 0
        n_http = len(srv.log)
        res2 = generate_with_report(job, c)  # resumes from the on-disk cache: no new calls
        assert len(srv.log) == n_http
        assert [e.messages for e in res2.examples] == [e.messages for e in res.examples]
