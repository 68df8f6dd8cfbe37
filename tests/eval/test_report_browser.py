"""The report in a real browser: Debian's chromium, headless, driven by playwright.

Opens comparison.html from disk (file://, no server, no network), screenshots it, and checks
the sweep table is there and every plot loaded. Skips, saying why, without chromium or
playwright (scripts/setup.sh installs chromium where it can; `pip install playwright`, no
`playwright install`: the system browser is used)."""

from __future__ import annotations

import shutil

import pytest

from safemix.eval.report import compare_runs
from tests.eval.report_fixtures import write_sweep


def _browser_or_skip() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium on PATH (apt-get install chromium; scripts/setup.sh does it where it can)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    return chromium


def test_report_in_a_real_browser(tmp_path):
    chromium = _browser_or_skip()
    from playwright.sync_api import Error, sync_playwright

    paths = compare_runs(write_sweep(tmp_path / "run"), tmp_path / "run" / "report", style="job",
                         title="safemix run: browser test")
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Error as e:  # e.g. a chromium that cannot start in this container
            pytest.skip(f"chromium at {chromium} does not start headless: {str(e).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(paths["html"].resolve().as_uri(), wait_until="load")
            page.screenshot(path=str(shot), full_page=True)
            assert page.locator("#sweep table").count() == 1
            rows = page.locator("#sweep table tbody tr")
            assert rows.count() == 7 and rows.first.locator("td").first.inner_text() == "base (before finetuning)"
            imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
            assert len(imgs) == 4
            assert all(complete and width > 0 for _, complete, width in imgs), imgs
            assert not [u for u in requests if not u.startswith(("file:", "data:"))]  # nothing fetched from anywhere
            # the examples start collapsed, and open on a click
            first = page.locator("#examples details").first
            assert first.get_attribute("open") is None
            first.locator("summary").click()
            assert first.get_attribute("open") is not None
        finally:
            browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
