"""Chat completions on a released model, through the `openai` SDK against a live server: a real
tiny Llama (safemix.tiny) saved where the worker leaves a job's model
(`<runs>/<run>/variants/<v>/train/model`), and job rows as the worker leaves them (released,
held, still running). A held model is never served."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("transformers")
openai = pytest.importorskip("openai")


def _job(env, org: str, key_file: str) -> dict:
    return env.store.create_job(org, {"model": "safemix-tiny", "training_file": key_file, "validation_file": None,
                                      "hyperparameters": {}, "method": {"type": "supervised"}, "suffix": "chat",
                                      "seed": 1, "metadata": None, "integrations": []})


def _released(env, org: str, file_id: str, run: str, *, seed: int = 0, status: str = "succeeded",
              verdict: str | None = "released") -> tuple[str, dict]:
    """A job as the worker leaves it, with a real tiny model in its run folder; (model name, row)."""
    from safemix.tiny import save_tiny_model

    row = _job(env, org, file_id)
    run_dir = Path(env.settings.runs_root()) / run
    save_tiny_model(run_dir / "variants" / "template-0.1" / "train" / "model", seed=seed)
    name = f"ft:safemix-tiny:acme:chat:{row['id'][-8:]}"
    fields = {"status": status, "verdict": verdict, "run_dir": str(run_dir)}
    if verdict == "held":
        fields.update(fine_tuned_model=None, error={"code": "safety_hold", "param": None,
                                                    "message": "model gate: style job: refusal 0.10 < 0.50"})
    elif status == "succeeded":
        fields["fine_tuned_model"] = name
    env.store.update_job(row["id"], **fields)
    return name, env.store.get_job(org, row["id"])


@pytest.fixture
def chat_env(api_env, live_api, jsonl):
    file_id = api_env.store.add_file(api_env.org, "t.jsonl", "fine-tune", jsonl())["id"]
    srv = live_api(api_env.settings, api_env.store)
    return api_env, srv, file_id


def test_chat_on_a_released_model(chat_env):
    from safemix.tiny import tiny_tokenizer

    env, srv, fid = chat_env
    name, _ = _released(env, env.org, fid, "ftjob-run-released")
    c = srv.client(env.key)
    msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 12 plus 7?"}]
    r = c.chat.completions.create(model=name, messages=msgs, max_tokens=6, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == name
    assert len(r.choices) == 1 and r.choices[0].index == 0
    assert r.choices[0].message.role == "assistant" and isinstance(r.choices[0].message.content, str)
    assert r.choices[0].finish_reason in ("stop", "length")
    tok = tiny_tokenizer()
    n_prompt = len(tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                       add_special_tokens=False)["input_ids"])
    assert r.usage.prompt_tokens == n_prompt
    assert 1 <= r.usage.completion_tokens <= 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if r.choices[0].finish_reason == "length":
        assert r.usage.completion_tokens == 6
    again = c.chat.completions.create(model=name, messages=msgs, max_tokens=6, temperature=0)
    assert again.choices[0].message.content == r.choices[0].message.content  # greedy is deterministic
    sampled = [c.chat.completions.create(model=name, messages=msgs, max_tokens=8, temperature=1.0, seed=3)
               .choices[0].message.content for _ in range(2)]
    assert sampled[0] == sampled[1]  # a seed makes sampling reproducible
    ids = [m.id for m in c.models.list().data]
    assert ids == ["safemix-tiny", name]
    assert c.models.retrieve(name).owned_by == env.org


def test_held_unreleased_and_foreign_models_are_404(chat_env):
    env, srv, fid = chat_env
    held, _ = _released(env, env.org, fid, "ftjob-run-held", verdict="held", status="failed")
    running, _ = _released(env, env.org, fid, "ftjob-run-running", status="running", verdict=None)
    released, _ = _released(env, env.org, fid, "ftjob-run-ok")
    a, b = srv.client(env.key), srv.client(env.key2)
    msgs = [{"role": "user", "content": "hi"}]
    for client, model, says in ((a, held, "held by the safety gate"), (a, running, "is running"),
                                (b, released, "does not exist"), (a, "ft:safemix-tiny:acme:chat:deadbeef", "does not exist"),
                                (a, "safemix-tiny", "base model")):
        with pytest.raises(openai.NotFoundError) as e:
            client.chat.completions.create(model=model, messages=msgs, max_tokens=2)
        assert (e.value.code, e.value.param, e.value.type) == ("model_not_found", "model", "invalid_request_error")
        assert says in e.value.message, e.value.message
    with pytest.raises(openai.NotFoundError) as e:
        a.chat.completions.create(model=held, messages=msgs)
    assert "refusal 0.10 < 0.50" in e.value.message
    assert [m.id for m in a.models.list().data] == ["safemix-tiny", released]
    assert [m.id for m in b.models.list().data] == ["safemix-tiny"]


def test_bad_chat_bodies_are_400(chat_env):
    env, srv, fid = chat_env
    name, _ = _released(env, env.org, fid, "ftjob-run-bodies")
    c = srv.client(env.key)
    msgs = [{"role": "user", "content": "hi"}]
    cases = [({"messages": msgs, "stream": True}, "stream", "invalid_value"),
             ({"messages": msgs, "n": 2}, "n", "invalid_value"),
             ({"messages": msgs, "temperature": 3}, "temperature", "invalid_value"),
             ({"messages": msgs, "max_tokens": 0}, "max_tokens", "invalid_value"),
             ({"messages": [], }, "messages", "missing_required_parameter"),
             ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.[0].role", "invalid_value"),
             ({"messages": msgs, "extra_body": {"tools_x": 1}}, None, None)]
    for kw, param, code in cases:
        extra = kw.pop("extra_body", None)
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model=name, **kw, extra_body=extra)
        assert (e.value.param, e.value.code) == ((param, code) if param else ("tools_x", "unknown_parameter"))


def test_lru_cache_keeps_two_models(chat_env):
    env, srv, fid = chat_env
    names = [_released(env, env.org, fid, f"ftjob-run-lru{i}", seed=i)[0] for i in range(3)]
    c = srv.client(env.key)
    for name in names:
        c.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}], max_tokens=2,
                                  temperature=0)
    cached = srv.app.state.chat.cached()
    assert len(cached) == 2
    assert [Path(p).parts[-5] for p in cached] == ["ftjob-run-lru1", "ftjob-run-lru2"]
