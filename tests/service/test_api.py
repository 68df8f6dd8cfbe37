"""Every 4xx of the API over real HTTP (uvicorn on 127.0.0.1, httpx): the exact OpenAI error
fields, and nothing stored (no file row, no job row, no blob) after any of them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")


def _files_on_disk(env) -> list[str]:
    root = Path(env.settings.files_root()) if hasattr(env.settings, "files_root") else None
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root and root.is_dir() else []


def _snapshot(env) -> tuple:
    """What a rejected request must leave as it was: both orgs' files and jobs, and the blobs."""
    st = env.store
    return ([f["id"] for org in (env.org, env.org2) for f in st.list_files(org, limit=1000)[0]],
            [j["id"] for org in (env.org, env.org2) for j in st.list_jobs(org, limit=100)[0]], _files_on_disk(env))


def _error(resp, status: int, *, code, param=None, type="invalid_request_error", says: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err = body["error"]
    assert (err["type"], err["param"], err["code"]) == (type, param, code), err
    assert isinstance(err["message"], str) and err["message"]
    if says:
        assert says in err["message"], err["message"]
    return err


@pytest.fixture
def api(api_env, live_api, jsonl):
    """(env, server, httpx client of org 1, an uploaded training file id of org 1)."""
    srv = live_api(api_env.settings, api_env.store)
    http = srv.http(api_env.key)
    r = http.post("/v1/files", files={"file": ("train.jsonl", jsonl())}, data={"purpose": "fine-tune"})
    assert r.status_code == 200, r.text
    yield api_env, srv, http, r.json()["id"]
    http.close()


def test_auth_missing_or_wrong_key_is_401(api):
    env, srv, _, _ = api
    before = _snapshot(env)
    for key in (None, "sk-sm-not-a-key"):
        with srv.http(key) as h:
            for method, path in (("GET", "/v1/files"), ("GET", "/v1/fine_tuning/jobs"),
                                 ("POST", "/v1/fine_tuning/jobs"), ("GET", "/v1/models")):
                _error(h.request(method, path, json={}), 401, code="invalid_api_key")
    with srv.http() as h:
        _error(h.get("/v1/files", headers={"Authorization": "Basic abc"}), 401, code="invalid_api_key")
    assert _snapshot(env) == before


def test_unknown_route_and_method_keep_the_openai_shape(api):
    _, _, http, _ = api
    _error(http.get("/v1/nothing"), 404, code="unknown_url", says="/v1/nothing")
    _error(http.put("/v1/files"), 405, code="method_not_allowed")


def test_job_body_errors_are_400_and_store_nothing(api, jsonl):
    env, _, http, fid = api
    before = _snapshot(env)
    cases = [
        ({"model": "safemix-tiny", "training_file": fid, "learning_rate": 1}, "learning_rate", "unknown_parameter"),
        ({"training_file": fid}, "model", "missing_required_parameter"),
        ({"model": "safemix-tiny"}, "training_file", "missing_required_parameter"),
        ({"model": "safemix-tiny", "training_file": fid, "hyperparameters": {"n_epochs": 0}},
         "hyperparameters.n_epochs", "invalid_value"),
        ({"model": "safemix-tiny", "training_file": fid, "hyperparameters": {"n_epochs": "many"}},
         "hyperparameters.n_epochs", "invalid_type"),
        ({"model": "safemix-tiny", "training_file": fid, "hyperparameters": {"warmup": 3}},
         "hyperparameters.warmup", "unknown_parameter"),
        ({"model": "safemix-tiny", "training_file": fid, "suffix": "x" * 65}, "suffix", "invalid_value"),
        ({"model": "safemix-tiny", "training_file": fid, "suffix": "a:b"}, "suffix", "invalid_value"),
        ({"model": "safemix-tiny", "training_file": fid, "metadata": {f"k{i}": "v" for i in range(17)}},
         "metadata", "invalid_value"),
        ({"model": "safemix-tiny", "training_file": fid, "seed": -1}, "seed", "invalid_value"),
        ({"model": "safemix-tiny", "training_file": fid, "method": {"type": "dpo"}}, "method.type", "invalid_value"),
        ({"model": "gpt-4o-mini", "training_file": fid}, "model", "model_not_available"),
        ({"model": "safemix-tiny", "training_file": "file-" + "0" * 24}, "training_file", "file_not_found"),
        ({"model": "safemix-tiny", "training_file": fid, "validation_file": "file-nope"}, "validation_file",
         "file_not_found"),
    ]
    for body, param, code in cases:
        _error(http.post("/v1/fine_tuning/jobs", json=body), 400, param=param, code=code)
    _error(http.post("/v1/fine_tuning/jobs", content=b"{not json", headers={"Content-Type": "application/json"}),
           400, code="invalid_json")
    _error(http.post("/v1/fine_tuning/jobs", json=[1, 2]), 400, code="invalid_json")
    assert _snapshot(env) == before
    # another org's file is no file at all; a deleted one neither
    with api[1].http(env.key2) as http_b:
        other = http_b.post("/v1/files", files={"file": ("b.jsonl", jsonl())}, data={"purpose": "fine-tune"}).json()
    other = other["id"]
    _error(http.post("/v1/fine_tuning/jobs", json={"model": "safemix-tiny", "training_file": other}), 400,
           param="training_file", code="file_not_found")
    assert http.delete(f"/v1/files/{fid}").json()["deleted"] is True
    _error(http.post("/v1/fine_tuning/jobs", json={"model": "safemix-tiny", "training_file": fid}), 400,
           param="training_file", code="file_not_found")
    assert env.store.list_jobs(env.org)[0] == [] and env.store.list_jobs(env.org2)[0] == []


def test_query_validation_is_a_400_not_a_422(api):
    env, _, http, fid = api
    _error(http.get("/v1/fine_tuning/jobs", params={"limit": "abc"}), 400, param="limit", code="invalid_value")
    _error(http.get("/v1/fine_tuning/jobs", params={"limit": 101}), 400, param="limit", code="invalid_value")
    _error(http.get("/v1/fine_tuning/jobs", params={"limit": 0}), 400, param="limit", code="invalid_value")
    _error(http.get("/v1/files", params={"order": "sideways"}), 400, param="order", code="invalid_value")
    job = http.post("/v1/fine_tuning/jobs", json={"model": "safemix-tiny", "training_file": fid}).json()
    _error(http.get(f"/v1/fine_tuning/jobs/{job['id']}/events", params={"limit": -3}), 400, param="limit",
           code="invalid_value")


def test_upload_errors(api, jsonl):
    env, _, http, _ = api
    before = _snapshot(env)

    def up(name, data, purpose="fine-tune", **kw):
        return http.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose} if purpose else {}, **kw)

    _error(up("a.jsonl", jsonl(), purpose="assistants"), 400, param="purpose", code="invalid_value")
    _error(up("a.jsonl", jsonl(), purpose=None), 400, param="purpose", code="missing_required_parameter")
    _error(http.post("/v1/files", data={"purpose": "fine-tune"}, files={"other": ("a.jsonl", b"{}")}), 400,
           param="other", code="unknown_parameter")
    _error(up("a.csv", b"a,b\n1,2\n"), 400, param="file", code="invalid_file_format", says="a.csv")
    bad_line = jsonl(2) + b'{"messages": [oops\n' + jsonl(1)
    _error(up("a.jsonl", bad_line), 400, param="file", code="invalid_file_format", says="a.jsonl line 3: not valid JSON")
    _error(up("a.jsonl", jsonl(1) + b'{"prompt": "p", "completion": "c"}\n'), 400, param="file",
           code="invalid_file_format", says="line 2: missing a non-empty \"messages\" list")
    no_answer = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    _error(up("a.jsonl", no_answer), 400, param="file", code="invalid_file_format", says="line 1: no assistant")
    _error(up("a.jsonl", b"[1, 2]\n"), 400, param="file", code="invalid_file_format", says="line 1")
    _error(up("a.jsonl", jsonl(1) + b"\xff\xfe\n"), 400, param="file", code="invalid_file_format",
           says="line 2: not valid UTF-8")
    _error(up("a.jsonl", b"\n\n"), 400, param="file", code="invalid_file_format", says="has no rows")
    _error(http.post("/v1/files", json={"file": "x", "purpose": "fine-tune"}), 415, code="unsupported_media_type")
    assert _snapshot(env) == before


def test_upload_size_limits_413(api_env, live_api, jsonl):
    settings = dataclasses.replace(api_env.settings, max_file_bytes=2_000, max_request_bytes=30_000)
    srv = live_api(settings, api_env.store)
    before = _snapshot(api_env)
    with srv.http(api_env.key) as http:
        big = jsonl(100)
        assert 2_000 < len(big) < 30_000
        _error(http.post("/v1/files", files={"file": ("big.jsonl", big)}, data={"purpose": "fine-tune"}), 413,
               param="file", code="file_too_large")
        huge = jsonl(400)
        assert len(huge) > 30_000
        _error(http.post("/v1/files", files={"file": ("huge.jsonl", huge)}, data={"purpose": "fine-tune"}), 413,
               code="request_too_large")
        _error(http.post("/v1/fine_tuning/jobs", content=b" " * 40_000, headers={"Content-Type": "application/json"}),
               413, code="request_too_large")
        chunked = (b" " * 10_000 for _ in range(4))  # no Content-Length: counted as it streams in
        _error(http.post("/v1/fine_tuning/jobs", content=chunked, headers={"Content-Type": "application/json"}),
               413, code="request_too_large")
        small = http.post("/v1/files", files={"file": ("small.jsonl", jsonl(3))}, data={"purpose": "fine-tune"})
        assert small.status_code == 200
    after = _snapshot(api_env)
    assert after[0] == [small.json()["id"], *before[0]] and after[1] == before[1]


def _multipart(name: bytes, data: bytes) -> tuple[bytes, str]:
    """A multipart body with a raw (unescaped) filename, as a hostile client may send it."""
    b = "safemix-boundary"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n--{b}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
            + b"Content-Type: application/octet-stream\r\n\r\n" + data + f"\r\n--{b}--\r\n".encode())
    return body, f"multipart/form-data; boundary={b}"


def test_filenames_are_basenames_never_paths(api, jsonl, tmp_path):
    env, _, http, _ = api
    for raw, kept in (("../../etc/passwd.jsonl", "passwd.jsonl"), ("/etc/shadow.jsonl", "shadow.jsonl"),
                      ("..\\..\\windows\\evil.jsonl", "evil.jsonl"), ("a/../../b.jsonl", "b.jsonl")):
        r = http.post("/v1/files", files={"file": (raw, jsonl())}, data={"purpose": "fine-tune"})
        assert r.status_code == 200, r.text
        assert r.json()["filename"] == kept
        assert env.store.get_file(env.org, r.json()["id"])["filename"] == kept
    for p in (tmp_path.parent / "etc", Path("/etc/passwd.jsonl"), Path("/etc/shadow.jsonl"), tmp_path / "b.jsonl"):
        assert not p.exists()
    root = Path(env.settings.files_root())
    assert all(root in p.parents for p in map(Path, _files_on_disk(env)))
    assert not any(p.endswith(("passwd.jsonl", "shadow.jsonl", "evil.jsonl")) for p in _files_on_disk(env))
    before = _snapshot(env)
    for raw in (b"a\x00b.jsonl", b"x.jsonl\x00.png", b"..", b"dir/"):
        body, ctype = _multipart(raw, jsonl())
        r = http.post("/v1/files", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["error"]["param"] == "file"
        assert r.json()["error"]["code"] in ("invalid_filename", "missing_required_parameter")
    assert _snapshot(env) == before


def test_rate_limit_429_per_key(api_env, live_api):
    settings = dataclasses.replace(api_env.settings, rate_limit_per_minute=3)
    srv = live_api(settings, api_env.store)
    with srv.http(api_env.key) as a, srv.http(api_env.key2) as b:
        assert [a.get("/v1/files").status_code for _ in range(3)] == [200, 200, 200]
        r = a.get("/v1/files")
        _error(r, 429, type="requests", code="rate_limit_exceeded")
        assert int(r.headers["Retry-After"]) >= 1
        assert b.get("/v1/files").status_code == 200  # another key has its own bucket
        _error(a.post("/v1/fine_tuning/jobs", json={}), 429, type="requests", code="rate_limit_exceeded")
    assert api_env.store.list_jobs(api_env.org)[0] == []
    with srv.http() as h:  # guessed keys, a new one each time, share the client's bucket
        codes = [h.get("/v1/files", headers={"Authorization": f"Bearer sk-sm-guess{i}"}).status_code
                 for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_cancel_and_detail_errors(api):
    env, _, http, fid = api
    missing = "ftjob-" + "f" * 24
    for path in (f"/v1/fine_tuning/jobs/{missing}", f"/v1/fine_tuning/jobs/{missing}/events",
                 f"/v1/fine_tuning/jobs/{missing}/checkpoints", f"/v1/fine_tuning/jobs/{missing}/safety"):
        _error(http.get(path), 404, param="fine_tuning_job_id", code="fine_tuning_job_not_found", says=missing)
    _error(http.post(f"/v1/fine_tuning/jobs/{missing}/cancel"), 404, param="fine_tuning_job_id",
           code="fine_tuning_job_not_found")
    for method, path in (("GET", "/v1/files/file-nope"), ("GET", "/v1/files/file-nope/content"),
                         ("DELETE", "/v1/files/file-nope")):
        _error(http.request(method, path), 404, param="file_id", code="file_not_found", says="file-nope")
    job = http.post("/v1/fine_tuning/jobs", json={"model": "safemix-tiny", "training_file": fid}).json()
    env.store.update_job(job["id"], status="succeeded")
    _error(http.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel"), 400, param="fine_tuning_job_id",
           code="job_not_cancellable", says="succeeded")
    assert env.store.get_job(env.org, job["id"])["status"] == "succeeded"
