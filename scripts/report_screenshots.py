"""Render a run's report from its results and screenshot it in headless chromium (for docs/).

    python scripts/report_screenshots.py runs/quickstart docs/report_quickstart.png
    python scripts/report_screenshots.py benchmarks/smollm2/aoa docs/report_smollm2.png --title "..."

Reads RUN/variants/*/eval/results.json (a `safemix run` folder) or RUN/variants/*/results.json
(a benchmarks/ copy), in the order of RUN/run_summary.json; renders the report into --work
(default: a temporary folder; the run folder is only read) and writes two small PNGs: PNG (the
top of the page: the finding, the headline sentences and the sweep table) and PNG with
`_sweep` before the suffix (the sweep plot as the page shows it). Needs chromium on PATH and
`pip install playwright` (no `playwright install`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def eval_dirs(run: Path) -> list[Path]:
    order = []
    summary = run / "run_summary.json"
    if summary.is_file():
        order = json.loads(summary.read_text(encoding="utf-8")).get("variants", [])
    names = order + sorted(p.name for p in (run / "variants").glob("*") if p.name not in order)
    out = []
    for v in names:
        for d in (run / "variants" / v / "eval", run / "variants" / v):
            if (d / "results.json").is_file():
                out.append(d)
                break
    if not out:
        raise SystemExit(f"error: no variants/*/results.json under {run}")
    return out


def _small_png(src: Path, dst: Path, width: int) -> None:
    """Scaled to `width` pixels and reduced to a 256-colour palette: a few hundred kB at most."""
    from PIL import Image

    from safemix.utils import atomic_write

    im = Image.open(src).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    with atomic_write(dst, "wb", encoding=None) as f:
        im.save(f, format="PNG", optimize=True)


def screenshot(html: Path, png: Path, width: int = 1100) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("error: no chromium on PATH")
    sweep_png = png.with_name(png.stem + "_sweep" + png.suffix)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.goto(html.resolve().as_uri(), wait_until="load")
        top = page.locator("#runs").bounding_box()  # the finding, headline, sweep table and first plot
        page.screenshot(path=f"{tmp}/top.png", clip={"x": 0, "y": 0, "width": 1360,
                                                     "height": min(top["y"] if top else 1600, 1600)})
        page.locator("#plot-sweep").screenshot(path=f"{tmp}/sweep.png")
        browser.close()
        _small_png(Path(tmp) / "top.png", png, width)
        _small_png(Path(tmp) / "sweep.png", sweep_png, width)
    return [png, sweep_png]


def main(argv: list[str] | None = None) -> int:
    from safemix.eval.report import compare_runs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="A `safemix run` folder or a benchmarks/ copy of one.")
    ap.add_argument("png", type=Path, help="Where the screenshot goes (e.g. docs/report_quickstart.png).")
    ap.add_argument("--title", default=None, help="Report title (default: safemix run: <run folder name>).")
    ap.add_argument("--work", type=Path, default=None, help="Folder to render the report into (default: temporary).")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp) / "report"
        paths = compare_runs(eval_dirs(args.run), work, style="job", title=args.title or f"safemix run: {args.run.name}")
        for f in screenshot(paths["html"], args.png):
            print(f"{f} ({f.stat().st_size // 1024} kB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
