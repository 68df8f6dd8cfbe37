"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright
(`executable_path="/usr/bin/chromium"`, never `playwright install`), against a real uvicorn on
127.0.0.1 over a real SQLite Store: log in with the admin key, the jobs list shows both jobs with
their verdicts, the held job's page shows its reasons, its report opens; nothing is fetched from
anywhere but the server. Skips, saying why, without chromium or playwright.

Screenshots go to tmp_path; with SAFEMIX_UPDATE_SCREENSHOTS=1 also to
docs/service_dashboard_jobs.png and docs/service_dashboard_job.png (the committed ones)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.service.dashboard_data import ADMIN_KEY, dashboard_app, live_server, make_settings, seed

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1200, "height": 800}


def _browser_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium; scripts/setup.sh does it where it can)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]'; no `playwright install`)")
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("sqlalchemy")


def _shot(page, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    page.screenshot(path=str(out))  # the viewport only: small files
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000
    if os.environ.get("SAFEMIX_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(out, DOCS / name)
    return out


def _login(page, base: str) -> None:
    page.goto(base + "/", wait_until="load")
    assert page.locator("form[action='/login'] input[name=key]").count() == 1
    page.fill("#key", ADMIN_KEY)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(base + "/")
    assert "admin (all organizations)" in page.locator("header .who").inner_text()
    assert page.context.cookies()[0]["httpOnly"] is True
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script sees the session


def _jobs_list(page, data: dict, tmp_path: Path) -> None:
    rows = page.locator("table.jobs tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).get_attribute("data-job") for i in range(2)] == [data["held"], data["released"]]
    assert rows.nth(0).locator(".badge").inner_text() == "held"
    assert rows.nth(1).locator(".badge").inner_text() == "released"
    assert "refusal 0.12 < 0.80" in rows.nth(0).locator("td.reason").inner_text()
    # the stylesheet loaded (CSP allows only our own): the header is dark
    assert page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor") == "rgb(29, 35, 48)"
    _shot(page, tmp_path, "service_dashboard_jobs.png")


def _held_job(page, base: str, data: dict, tmp_path: Path) -> None:
    page.click(f"a[href='/jobs/{data['held']}']")
    page.wait_for_url(f"{base}/jobs/{data['held']}")
    reasons = page.locator("ol.reasons li.reason")
    assert reasons.count() == 2
    first = reasons.nth(0).inner_text()
    assert "[model gate] refusal" in first and "<script>alert('xss')</script>" in first  # shown as text
    assert '"refusal": 0.12' in reasons.nth(0).locator("pre.evidence").inner_text()
    assert page.locator("#audit .chain").inner_text().startswith("Chain verified: yes")
    assert page.locator("#audit table tbody tr").count() == 11
    _shot(page, tmp_path, "service_dashboard_job.png")
    page.click("#reports a")
    page.wait_for_url(f"{base}/jobs/{data['held']}/report")
    assert page.title() and "held run" in page.content()
    assert page.locator("table").count() >= 3  # the evaluator's tables


def test_dashboard_in_a_real_browser(tmp_path):
    _browser_or_skip()
    from playwright.sync_api import Error, sync_playwright

    from safemix.service.store import Store

    settings = make_settings(tmp_path)
    store = Store.from_settings(settings)
    data = seed(settings, store)
    try:
        with live_server(dashboard_app(settings, store)) as base, sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            except Error as e:  # e.g. a chromium that cannot start in this container
                pytest.skip(f"chromium at {CHROMIUM} does not start headless: {str(e).splitlines()[0]}")
            try:
                page = browser.new_page(viewport=VIEWPORT)
                requests: list[str] = []
                page.on("request", lambda r: requests.append(r.url))
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                _login(page, base)
                _jobs_list(page, data, tmp_path)
                _held_job(page, base, data, tmp_path)
                page.goto(base + "/", wait_until="load")
                page.click("form.logout button")
                page.wait_for_url(base + "/login")
                assert page.context.cookies() == []
                assert not [u for u in requests if not u.startswith((base, "data:"))], requests
                # no CSP violation, no failed load (the login page itself comes with status 401)
                assert not [e for e in errors if "status of 401" not in e], errors
            finally:
                browser.close()
    finally:
        store.close()
