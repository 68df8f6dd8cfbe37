"""The dashboard (`safemix.service.dashboard`) over a real Store on SQLite, through FastAPI's
TestClient and once through a real uvicorn on 127.0.0.1: login with the admin key or an org key
(signed HttpOnly SameSite=Strict session, never the key), the jobs list (verdicts, first reason,
newest first, status filter, pagination), a job's page (reasons with evidence, events,
checkpoints, audit records and the chain check), the evaluator's report confined to the runs
root, another org's job a 404, and everything escaped."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from tests.service.dashboard_data import (  # noqa: E402
    ADMIN_KEY,
    dashboard_app,
    live_server,
    make_settings,
    seed,
)


@pytest.fixture
def dash(tmp_path):
    from fastapi.testclient import TestClient

    from safemix.service.store import Store

    settings = make_settings(tmp_path)
    store = Store.from_settings(settings)
    data = seed(settings, store)
    app = dashboard_app(settings, store)
    with TestClient(app) as client:
        yield SimpleNamespace(settings=settings, store=store, data=data, app=app, client=client, tmp=tmp_path)
    store.close()


def login(client, key: str, nxt: str = "/"):
    return client.post("/login", data={"key": key, "next": nxt}, follow_redirects=False)


def job_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)"', html)


def test_without_a_session_every_page_is_the_login_page(dash):
    d = dash.data
    for path in ("/", "/files", f"/jobs/{d['held']}", f"/jobs/{d['held']}/report", "/?status=failed"):
        r = dash.client.get(path)
        assert r.status_code == 401, path
        assert '<form method="post" action="/login">' in r.text
        assert d["held"] not in r.text.replace(f'value="/jobs/{d["held"]}', "")  # only as the form's next
    r = dash.client.get("/login")
    assert r.status_code == 200 and 'name="key"' in r.text and 'type="password"' in r.text


def test_bad_keys_and_forged_sessions_get_nothing(dash):
    from safemix.service.dashboard import COOKIE, Sessions, session_secret

    for key in ("", "sk-sm-not-a-key", ADMIN_KEY + "x", ADMIN_KEY[:-1]):
        r = login(dash.client, key)
        assert r.status_code == 401 and COOKIE not in r.headers.get("set-cookie", ""), key
        assert "not valid" in r.text or not key
    acme, globex = dash.data["orgs"]["acme"], dash.data["orgs"]["globex"]
    good = Sessions(session_secret(dash.settings))
    prefix = dash.data["keys"]["acme"][6:14]
    forged = [f"{acme}.{prefix}.{int(time.time()) + 999}.{'0' * 64}",                     # no signature
              good.issue(acme, prefix).replace(acme, globex),                             # org swapped
              good.issue(acme, "nokey123"),                                               # no such key
              good.issue("*", prefix),                                                    # admin, not by the admin key
              Sessions(b"another secret").issue("*", "admin"),                            # another secret
              good.issue(acme, prefix, now=time.time() - 9 * 3600),                       # expired
              "*", "", "a.b.c.d", "*.admin"]
    for token in forged:
        dash.client.cookies.set(COOKIE, token)
        assert dash.client.get("/").status_code == 401, token
    dash.client.cookies.set(COOKIE, good.issue(acme, prefix))
    assert dash.client.get("/").status_code == 200
    # a new admin key ends the sessions signed before it
    dash.client.cookies.set(COOKIE, good.issue("*", "admin"))
    assert dash.client.get("/").status_code == 200
    assert Sessions(session_secret(replace(dash.settings, admin_key="another"))).check(good.issue("*", "admin")) is None


def test_revoking_the_key_ends_its_sessions(dash):
    d = dash.data
    assert login(dash.client, d["keys"]["acme"]).status_code == 303
    assert dash.client.get(f"/jobs/{d['held']}").status_code == 200
    assert dash.store.revoke_api_key(d["keys"]["acme"][:14]) == 1
    assert dash.client.get(f"/jobs/{d['held']}").status_code == 401
    assert login(dash.client, d["keys"]["acme"]).status_code == 401


def test_cross_site_posts_and_repeated_failures_are_refused(dash):
    from safemix.service.dashboard import COOKIE, LOGIN_FAILURES

    for origin in ("http://evil.example", "null"):
        r = dash.client.post("/login", data={"key": ADMIN_KEY}, headers={"Origin": origin}, follow_redirects=False)
        assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", ""), origin
    r = dash.client.post("/login", data={"key": ADMIN_KEY}, headers={"Origin": "http://testserver"},
                         follow_redirects=False)
    assert r.status_code == 303
    r = dash.client.post("/logout", headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and dash.client.get("/").status_code == 200  # still logged in
    dash.client.cookies.clear()
    for _ in range(LOGIN_FAILURES):
        assert login(dash.client, "sk-sm-wrong").status_code == 401
    r = login(dash.client, ADMIN_KEY)  # even the right key, for a minute
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert dash.client.get("/").status_code == 401


def test_admin_login_sets_a_signed_httponly_strict_cookie_and_sees_every_org(dash):
    d = dash.data
    r = login(dash.client, ADMIN_KEY)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert ADMIN_KEY not in cookie and ADMIN_KEY[:12] not in cookie
    r = dash.client.get("/")
    assert r.status_code == 200 and "admin (all organizations)" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert job_rows(r.text) == [d["held"], d["released"]]  # newest first
    held_row = r.text.split(f'<tr data-job="{d["held"]}"')[1].split("</tr>")[0]
    released_row = r.text.split(f'<tr data-job="{d["released"]}"')[1].split("</tr>")[0]
    assert '<span class="badge held">held</span>' in held_row and "[model] refusal: style job: refusal 0.12" in held_row
    assert '<span class="badge released">released</span>' in released_row
    assert "failed" in held_row and "succeeded" in released_row and "acme" in held_row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", released_row)
    files = dash.client.get("/files").text
    assert "support.jsonl" in files and "globex-" in files  # the admin sees both orgs' files


def test_an_org_key_sees_only_its_org(dash):
    d = dash.data
    assert login(dash.client, d["keys"]["globex"]).status_code == 303
    r = dash.client.get("/")
    assert r.status_code == 200 and job_rows(r.text) == [] and "No jobs" in r.text
    for path in (f"/jobs/{d['held']}", f"/jobs/{d['released']}", f"/jobs/{d['released']}/report"):
        r = dash.client.get(path)
        assert r.status_code == 404, path
        assert "style job" not in r.text and "held run" not in r.text and "released run" not in r.text
    files = dash.client.get("/files").text
    assert "globex-" in files and "support.jsonl" not in files
    dash.client.cookies.clear()
    assert login(dash.client, d["keys"]["acme"]).status_code == 303
    assert job_rows(dash.client.get("/").text) == [d["held"], d["released"]]
    assert "globex-" not in dash.client.get("/files").text
    assert dash.client.get("/jobs/ftjob-" + "f" * 24).status_code == 404


def test_the_held_job_page_shows_every_reason_with_its_evidence(dash):
    d = dash.data
    login(dash.client, d["keys"]["acme"])
    r = dash.client.get(f"/jobs/{d['held']}")
    assert r.status_code == 200
    page = r.text
    reasons = page.split('<ol class="reasons">')[1].split("</ol>")[0]
    assert reasons.count('<li class="reason">') == 2
    assert "[model gate] refusal" in reasons and "[model gate] attack_success" in reasons
    assert "attack success 0.64 &gt; 0.20" in reasons
    assert "&#34;refusal&#34;: 0.12" in reasons and "&#34;most&#34;: 0.2" in reasons  # the evidence
    assert "<code>safety_hold</code>" in page and "Safety gate: held" in page
    assert f'href="/jobs/{d["held"]}/report"' in page
    audit = page.split('<section id="audit">')[1]
    assert "Chain verified: <span class=\"badge released\">yes</span>" in audit
    assert audit.count("<tr>") == 1 + 11  # header + received, screened, 4 x (started, done), verdict
    assert "verdict: held" in audit


def test_the_released_job_page_shows_events_checkpoints_and_audit(dash):
    d = dash.data
    login(dash.client, ADMIN_KEY)
    page = dash.client.get(f"/jobs/{d['released']}").text
    assert "Released: every gate passed." in page and "ft:safemix-tiny:acme:support-bot:abc123" in page
    events = page.split('<section id="events">')[1].split("</section>")[0]
    order = [events.index(m) for m in ("Validating training file", "Fine-tuning job started",
                                       "Checkpoint created at step 10", "The job has successfully completed")]
    assert order == sorted(order)  # a timeline: oldest first
    ckpts = page.split('<section id="checkpoints">')[1].split("</section>")[0]
    assert "ckpt-step-10" in ckpts and "ckpt-step-20" in ckpts and "train_loss" in ckpts
    assert ckpts.index("ckpt-step-10") < ckpts.index("ckpt-step-20")
    assert "stage: variants/mitigated/train" in page and "verdict: released" in page
    assert "12345" in page and "Run folder" in page  # the admin sees the run folder; an org does not
    dash.client.cookies.clear()
    login(dash.client, d["keys"]["acme"])
    assert "Run folder" not in dash.client.get(f"/jobs/{d['released']}").text


def test_a_tampered_audit_log_shows_chain_not_verified(dash):
    login(dash.client, ADMIN_KEY)
    assert "Chain verified: <span class=\"badge released\">yes</span>" in dash.client.get(f"/jobs/{dash.data['held']}").text
    path = Path(dash.settings.audit_path())
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"seconds":1.5', '"seconds":0.5')
    path.write_text("\n".join(lines) + "\n")
    page = dash.client.get(f"/jobs/{dash.data['released']}").text
    assert '<span class="badge held">no</span> — broken at line 4' in page


def test_everything_from_a_job_is_escaped(dash):
    d = dash.data
    login(dash.client, ADMIN_KEY)
    for path in ("/", f"/jobs/{d['held']}", "/files", f"/jobs/{d['released']}"):
        html = dash.client.get(path).text
        assert "<script>" not in html and "alert('xss')" not in html, path
    held = dash.client.get(f"/jobs/{d['held']}").text
    assert "evil&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in held  # suffix
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in held.split('<ol class="reasons">')[1]  # reason
    assert "&#34;note&#34;: &#34;&lt;script&gt;" in held  # metadata
    assert "globex &lt;script&gt;" in dash.client.get("/files").text  # an org's name


def test_the_report_is_served_from_the_run_folder_only(dash, tmp_path):
    d = dash.data
    login(dash.client, d["keys"]["acme"])
    r = dash.client.get(f"/jobs/{d['held']}/report")
    assert r.status_code == 200 and r.text == d["reports"]["held"].read_text()
    assert "held run" in r.text and "sandbox" in r.headers["content-security-policy"]
    assert dash.client.get(f"/jobs/{d['held']}/report?n=1").status_code == 404
    assert dash.client.get(f"/jobs/{d['held']}/report?n=-1").text == r.text  # clamped to 0
    for path in ("/jobs/..%2F..%2Fetc%2Fpasswd/report", "/jobs/../../etc/passwd", "/jobs/%2Fetc%2Fpasswd/report"):
        assert dash.client.get(path).status_code == 404, path
    # a run folder outside the runs root: no report, however it got there
    outside = tmp_path / "elsewhere"
    (outside / "variants/x/eval").mkdir(parents=True)
    (outside / "variants/x/eval/report.html").write_text("SECRET OUTSIDE")
    dash.store.update_job(d["held"], run_dir=str(outside))
    assert dash.client.get(f"/jobs/{d['held']}/report").status_code == 404
    link = Path(dash.settings.runs_root()) / "link-out"
    link.symlink_to(outside)
    dash.store.update_job(d["held"], run_dir=str(link))
    assert dash.client.get(f"/jobs/{d['held']}/report").status_code == 404
    dash.store.update_job(d["held"], run_dir=str(Path(dash.settings.runs_root()) / ".." / "elsewhere"))
    assert dash.client.get(f"/jobs/{d['held']}/report").status_code == 404
    # a report.html inside the run folder that is a symlink out of it
    run = Path(dash.settings.runs_root()) / ("ftjob-" + "2" * 24)
    report = run / "variants/mitigated/eval/report.html"
    report.unlink()
    report.symlink_to(outside / "variants/x/eval/report.html")
    dash.store.update_job(d["held"], run_dir=str(run))
    r = dash.client.get(f"/jobs/{d['held']}/report")
    assert r.status_code == 404 and "SECRET" not in r.text
    assert "No report" in dash.client.get(f"/jobs/{d['held']}").text


def test_status_filter_and_pagination(dash):
    d = dash.data
    login(dash.client, ADMIN_KEY)
    assert job_rows(dash.client.get("/?status=failed").text) == [d["held"]]
    assert job_rows(dash.client.get("/?status=succeeded").text) == [d["released"]]
    assert job_rows(dash.client.get("/?status=running").text) == []
    assert job_rows(dash.client.get("/?status=<script>").text) == [d["held"], d["released"]]  # unknown: ignored
    page1 = dash.client.get("/?limit=1").text
    assert job_rows(page1) == [d["held"]]
    nxt = re.search(r'<a rel="next" href="([^"]+)"', page1).group(1).replace("&amp;", "&")
    assert nxt == f"/?after={d['held']}&limit=1"
    page2 = dash.client.get(nxt).text
    assert job_rows(page2) == [d["released"]] and 'rel="next"' not in page2 and ">Newest</a>" in page2
    assert job_rows(dash.client.get("/?after=not-an-id").text) == [d["held"], d["released"]]
    assert job_rows(dash.client.get("/?limit=abc").text) == [d["held"], d["released"]]


def test_login_goes_back_to_the_page_asked_for_and_logout_ends_the_session(dash):
    d = dash.data
    page = dash.client.get(f"/jobs/{d['held']}")
    assert f'name="next" value="/jobs/{d["held"]}"' in page.text
    r = login(dash.client, d["keys"]["acme"], nxt=f"/jobs/{d['held']}")
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{d['held']}"
    dash.client.cookies.clear()
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        r = login(dash.client, ADMIN_KEY, nxt=evil)
        assert r.headers["location"] == "/", evil
    assert dash.client.get("/login", follow_redirects=False).status_code == 303  # logged in: to the jobs
    r = dash.client.post("/logout", follow_redirects=False)
    assert r.status_code == 303 and 'safemix_session=""' in r.headers["set-cookie"]
    assert dash.client.get("/").status_code == 401


def test_through_a_real_uvicorn_on_loopback(dash):
    d = dash.data
    with live_server(dash.app) as base:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/", timeout=10)
        assert e.value.code == 401
        req = urllib.request.Request(base + "/login", data=f"key={d['keys']['acme']}&next=/".encode(), method="POST")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.build_opener(NoRedirect).open(req, timeout=10)
        assert e.value.code == 303
        cookie = e.value.headers["set-cookie"].split(";")[0]
        with urllib.request.urlopen(urllib.request.Request(base + f"/jobs/{d['held']}",
                                                           headers={"Cookie": cookie}), timeout=10) as r:
            assert r.status == 200 and "[model gate] refusal" in r.read().decode()


def test_a_job_just_created_renders_without_a_verdict_run_or_audit(dash):
    d = dash.data
    job = dash.store.create_job(d["orgs"]["acme"], {"model": "safemix-tiny", "training_file": d["file"]})
    login(dash.client, d["keys"]["acme"])
    rows = dash.client.get("/").text
    assert job_rows(rows)[0] == job["id"]
    row = rows.split(f'<tr data-job="{job["id"]}"')[1].split("</tr>")[0]
    assert "validating_files" in row and '<span class="none">—</span>' in row
    page = dash.client.get(f"/jobs/{job['id']}").text
    assert "No verdict yet." in page and "No report" in page and "(not wrapped yet)" in page
    assert dash.client.get(f"/jobs/{job['id']}/report").status_code == 404


def test_an_org_sees_no_server_paths_the_admin_does(dash):
    """Audit records and job fields name server paths (the run folder, staged inputs); an
    organization's view shows them relative or as file ids, the provider's admin view as they are."""
    from safemix.provider.audit import AuditLog

    d, home = dash.data, dash.settings.home
    job = dash.store.get_job(None, d["held"])
    AuditLog(dash.settings.audit_path()).append(job["wrap_id"], "evaluated",
                                                results=f"{job['run_dir']}/variants/mitigated/eval/results.json")
    login(dash.client, d["keys"]["acme"])
    page = dash.client.get(f"/jobs/{d['held']}").text
    assert "variants/mitigated/eval/results.json" in page and home not in page
    dash.client.cookies.clear()
    login(dash.client, ADMIN_KEY)
    assert home in dash.client.get(f"/jobs/{d['held']}").text
