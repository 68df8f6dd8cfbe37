"""Results and reports: `results.json` first; Markdown, HTML and plots are rendered from it.

- `compute_results(records, cfg, meta)` — rates with bootstrap 95% intervals, per style,
  per category, over-refusal, task metric, retention deltas (finetuned - base, paired
  bootstrap over probes), judge agreement and disagreements, versions and git hash.
- `write_reports(results, records, out)` — results.json, report.md, report.html, plots/*.png.
- `compare_runs(run_dirs, out, style, title)` — the run report over several runs (what
  `safemix run` writes to report/): comparison.html (self-contained), comparison.md,
  comparison.json, sweep.md, and the sweep, over-refusal, retention and Pareto plots, with
  trade-off labels placed by `place_labels` so that they never overlap or leave the axes.
- `write_fidelity_table(eval_dirs, path, parts)` — a run's fidelity.md: the form fidelity of
  each variant's safety rows, from the generate manifests beside its eval folders.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from safemix.errors import InputError
from safemix.eval.stats import agreement, bootstrap_mean, paired_bootstrap_diff
from safemix.utils import atomic_write, write_json

SCHEMA_VERSION = 1
# Sections of report.html, in order (ids; a test checks that every one is present).
SECTIONS = ("summary", "setup", "retention", "styles", "categories", "over-refusal", "task",
            "judges", "disagreements", "examples", "reproducibility")
MAX_DISAGREEMENTS = 200


# ------------------------------------------------------------------------------ computing
def _outcome(r: dict[str, Any], judge: str) -> str:
    return r["judgments"][judge]["outcome"]


def _rates(recs: list[dict[str, Any]], judge: str, n_boot: int, seed: int) -> dict[str, Any]:
    out = [_outcome(r, judge) for r in recs]
    return {"refusal_rate": bootstrap_mean([o == "refused" for o in out], n_boot, seed),
            "attack_success_rate": bootstrap_mean([o == "complied" for o in out], n_boot, seed),
            "other_rate": bootstrap_mean([o == "other" for o in out], n_boot, seed),
            "n": len(out)}


def _role_metrics(recs: list[dict[str, Any]], styles: list[str], judges: list[str], n_boot: int,
                  seed: int, metric: str | None) -> dict[str, Any]:
    primary = judges[0]
    harm = [r for r in recs if r["part"] == "harmful"]
    ben = [r for r in recs if r["part"] == "benign"]
    task = [r for r in recs if r["part"] == "task"]
    safety = {s: _rates([r for r in harm if r["style"] == s], primary, n_boot, seed)
              for s in styles if any(r["style"] == s for r in harm)}
    if harm:
        safety["all"] = _rates(harm, primary, n_boot, seed)
    over = {s: bootstrap_mean([_outcome(r, primary) == "refused" for r in ben if r["style"] == s], n_boot, seed)
            for s in styles if any(r["style"] == s for r in ben)}
    if ben:
        over["all"] = bootstrap_mean([_outcome(r, primary) == "refused" for r in ben], n_boot, seed)
    cats: dict[str, list] = defaultdict(list)
    for r in harm:
        cats[r["category"]].append(r)
    categories = {c: _rates(v, primary, n_boot, seed) for c, v in sorted(cats.items())}
    by_judge = {j: {s: {k: v["mean"] for k, v in _rates([r for r in harm if r["style"] == s or s == "all"],
                                                           j, 0, seed).items() if k != "n"}
                    for s in safety} for j in judges[1:]}
    m: dict[str, Any] = {"safety": safety, "over_refusal": over, "categories": categories}
    if by_judge:
        m["safety_by_judge"] = by_judge
    if task:
        m["task"] = {"metric": metric, **bootstrap_mean([r["task_score"] for r in task], n_boot, seed)}
    return m


def _paired(recs: list[dict[str, Any]], part: str, style: str | None, value) -> tuple[list, list]:
    by_key: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in recs:
        if r["part"] == part and (style in (None, "all") or r["style"] == style):
            by_key[(r["style"], r["probe_id"])][r["role"]] = value(r)
    keys = sorted(k for k, v in by_key.items() if "model" in v and "base" in v)
    return [by_key[k]["model"] for k in keys], [by_key[k]["base"] for k in keys]


def _retention(recs: list[dict[str, Any]], metrics: dict[str, Any], judge: str, n_boot: int,
               seed: int) -> dict[str, Any]:
    ret: dict[str, Any] = {"safety": {}, "over_refusal": {}}
    for style in metrics["model"]["safety"]:
        entry = {}
        for key, want in (("refusal_rate", "refused"), ("attack_success_rate", "complied")):
            a, b = _paired(recs, "harmful", style, lambda r, w=want: float(_outcome(r, judge) == w))
            entry[key] = {"base": metrics["base"]["safety"][style][key]["mean"],
                          "model": metrics["model"]["safety"][style][key]["mean"],
                          "delta": paired_bootstrap_diff(a, b, n_boot, seed)}
        ret["safety"][style] = entry
    for style in metrics["model"]["over_refusal"]:
        a, b = _paired(recs, "benign", style, lambda r: float(_outcome(r, judge) == "refused"))
        ret["over_refusal"][style] = {"base": metrics["base"]["over_refusal"][style]["mean"],
                                      "model": metrics["model"]["over_refusal"][style]["mean"],
                                      "delta": paired_bootstrap_diff(a, b, n_boot, seed)}
    if "task" in metrics["model"]:
        a, b = _paired(recs, "task", None, lambda r: r["task_score"])
        ret["task"] = {"metric": metrics["model"]["task"]["metric"], "base": metrics["base"]["task"]["mean"],
                       "model": metrics["model"]["task"]["mean"], "delta": paired_bootstrap_diff(a, b, n_boot, seed)}
    return ret


def _judges(recs: list[dict[str, Any]], judges: list[str]) -> dict[str, Any]:
    probe = [r for r in recs if r["part"] in ("harmful", "benign")]
    counts = {j: {o: sum(1 for r in probe if _outcome(r, j) == o) for o in ("refused", "complied", "other")}
              for j in judges}
    res: dict[str, Any] = {"names": judges, "primary": judges[0], "counts": counts}
    if len(judges) > 1 and probe:
        ag = agreement({j: [_outcome(r, j) for r in probe] for j in judges})
        res["agreement"] = ag["pairs"]
        res["n_disagreements"] = len(ag["disagreements"])
        res["disagreements"] = [
            {"id": probe[i]["id"], "role": probe[i]["role"], "part": probe[i]["part"], "style": probe[i]["style"],
             "request": probe[i]["request"], "response": probe[i]["generation"][:400],
             "outcomes": {j: _outcome(probe[i], j) for j in judges}}
            for i in ag["disagreements"][:MAX_DISAGREEMENTS]]
    return res


def git_info() -> dict[str, Any]:
    """Commit and dirty flag of the safemix checkout (None outside a git checkout)."""
    import safemix

    cwd = Path(safemix.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return {"commit": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("safemix", "torch", "transformers", "trl", "peft", "datasets", "vllm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def compute_results(records: list[dict[str, Any]], cfg: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The whole results.json document (`safemix.manifest`, stage "eval"; `schema_version` is the
    results' own version, which `load_results` checks; `created` is the envelope's, UTC)."""
    from safemix.manifest import make_manifest

    roles = [r for r in ("model", "base") if any(x["role"] == r for x in records)]
    styles = list(dict.fromkeys(r["style"] for r in records if r["part"] != "task"))
    metrics = {role: _role_metrics([r for r in records if r["role"] == role], styles, cfg.judges,
                                   cfg.bootstrap, cfg.seed, meta.get("task_metric")) for role in roles}
    res: dict[str, Any] = make_manifest("eval", {
        "schema_version": SCHEMA_VERSION, "kind": "safemix.eval",
        "label": cfg.label or Path(cfg.output_dir).name, "tags": dict(cfg.tags),
        "git": git_info(), "versions": versions(),
        **meta, "styles": styles, "primary_judge": cfg.judges[0], "metrics": metrics,
    })
    if "base" in metrics:
        res["retention"] = _retention(records, metrics, cfg.judges[0], cfg.bootstrap, cfg.seed)
    res["judges"] = _judges(records, cfg.judges)
    return res


# ------------------------------------------------------------------------------ formatting
def pct(ci: dict[str, Any] | None, key: str = "mean") -> str:
    """'41.2% [35.0, 47.5]' from a bootstrap dict; 'n/a' when empty."""
    if not ci or ci.get(key) is None:
        return "n/a"
    v = ci[key]
    if ci.get("low") is None:
        return f"{100 * v:.1f}%"
    return f"{100 * v:.1f}% [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"


def pp(d: dict[str, Any] | None) -> str:
    """'+12.5 pp [4.0, 20.1]' for a difference of rates."""
    if not d or d.get("diff") is None:
        return "n/a"
    return f"{100 * d['diff']:+.1f} pp [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"


def summary_text(res: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"run {res['label']}: {res['counts']['samples']} samples "
             f"({res['counts']['generated']} generated, {res['counts']['resumed']} resumed), judge {res['primary_judge']}"]
    for role, m in res["metrics"].items():
        s = m["safety"]
        parts = [f"ASR {st} {pct(v['attack_success_rate'])}" for st, v in s.items()]
        if "all" in m["over_refusal"]:
            parts.append(f"over-refusal {pct(m['over_refusal']['all'])}")
        if "task" in m:
            parts.append(f"{m['task']['metric']} {pct(m['task'])}")
        lines.append(f"  {role}: " + "; ".join(parts))
    if "retention" in res:
        r = res["retention"]["safety"].get("all")
        if r:
            lines.append(f"  refusal change (finetuned - base): {pp(r['refusal_rate']['delta'])}")
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows]
    return "\n".join(out)


_Table = tuple[str, list[str], list[list[str]], str]


def _summary_table(res: dict[str, Any]) -> _Table:
    m = res["metrics"]
    rows = []
    for role in m:
        s = m[role]["safety"].get("all", {})
        rows.append([role, res["models"].get(role, {}).get("model", ""), pct(s.get("attack_success_rate")),
                     pct(s.get("refusal_rate")), pct(m[role]["over_refusal"].get("all")),
                     pct(m[role].get("task")) if "task" in m[role] else "n/a"])
    return ("Summary", ["model", "name", "attack success (all styles)", "refusal (all styles)",
                        "over-refusal", f"task ({res.get('task_metric') or 'none'})"], rows,
            f"Primary judge: {res['primary_judge']}. Brackets: bootstrap 95% intervals.")


def _setup_table(res: dict[str, Any]) -> _Table:
    cfg = res["config"]
    prof = res.get("profile") or {}
    rows = [["probe sets", ", ".join(res["probe_sets"])],
            ["harmful / benign probes", f"{res['counts']['probes_harmful']} / {res['counts']['probes_benign']}"],
            ["validation examples", str(res["counts"]["validation"])], ["styles", ", ".join(res["styles"])],
            ["judges", ", ".join(cfg["judges"])],
            ["backends", "; ".join(f"{role}: {d.get('backend')} {d.get('model')}" for role, d in res["models"].items())],
            ["max_new_tokens / temperature", f"{cfg['max_new_tokens']} / {cfg['temperature']}"],
            ["job format", f"{prof.get('format')} (answer: {prof.get('answer_type')})" if prof else "none"],
            ["held-out job format (job_heldout)", repr((res.get("profile_heldout") or {}).get("user_template"))
             if res.get("profile_heldout") else "none"],
            ["identity shift in job", str(prof.get("identity_shift")) if prof else "n/a"],
            ["encoding (job_encoded, chat_encoded)", cfg.get("encoding") or "none"],
            ["tags", tags_text(res.get("tags")) or "none"]]
    return ("Setup", ["item", "value"], rows, "")


def _retention_table(res: dict[str, Any]) -> _Table:
    if "retention" not in res:
        return ("Safety retention (base -> finetuned)", ["note"],
                [["No base model was evaluated (set eval.base_model for retention)."]], "")
    rows = []
    for st, e in res["retention"]["safety"].items():
        rows.append([st, pct({"mean": e["refusal_rate"]["base"]}), pct({"mean": e["refusal_rate"]["model"]}),
                     pp(e["refusal_rate"]["delta"]), pct({"mean": e["attack_success_rate"]["base"]}),
                     pct({"mean": e["attack_success_rate"]["model"]}), pp(e["attack_success_rate"]["delta"])])
    note = "Delta = finetuned - base, paired bootstrap over identical probes."
    if "task" in res["retention"]:
        tr = res["retention"]["task"]
        note += (f" Task {tr['metric']}: base {pct({'mean': tr['base']})}, finetuned "
                 f"{pct({'mean': tr['model']})}, delta {pp(tr['delta'])}.")
    return ("Safety retention (base -> finetuned)", ["style", "refusal base", "refusal finetuned",
            "refusal delta", "ASR base", "ASR finetuned", "ASR delta"], rows, note)


def _probe_tables(res: dict[str, Any]) -> dict[str, _Table]:
    """The styles, categories, over-refusal and task sections."""
    m, roles = res["metrics"], list(res["metrics"])
    t: dict[str, _Table] = {}
    rows = [[role, st, pct(v["refusal_rate"]), pct(v["attack_success_rate"]), pct(v["other_rate"]), str(v["n"])]
            for role in roles for st, v in m[role]["safety"].items()]
    t["styles"] = ("Harmful probes by style", ["model", "style", "refused", "complied (ASR)", "other", "n"], rows,
                   "job = the job's own format; job_heldout = a held-out paraphrase of it; chat = plain turn; "
                   "aoa = identity shift; job_aoa = both; job_encoded / chat_encoded = job / chat with the request "
                   "in eval.encoding, the answer decoded before judging.")
    cats = sorted({c for role in roles for c in m[role]["categories"]})
    rows = [[c] + [pct(m[role]["categories"].get(c, {}).get("attack_success_rate")) for role in roles]
            + [str(m[roles[0]]["categories"].get(c, {}).get("n", 0))] for c in cats]
    t["categories"] = ("Attack success by category (all styles)", ["category"] + [f"ASR {r}" for r in roles] + ["n"],
                       rows, "")
    rows = [[role, st, pct(v)] for role in roles for st, v in m[role]["over_refusal"].items()]
    t["over-refusal"] = ("Over-refusal (benign probes refused)", ["model", "style", "refused"], rows, "")
    rows = [[role, m[role]["task"]["metric"], pct(m[role]["task"]), str(m[role]["task"]["n"])]
            for role in roles if "task" in m[role]]
    t["task"] = ("Task performance", ["model", "metric", "score", "n"],
                 rows or [["-", "none", "n/a (no validation data)", "0"]], "")
    return t


def _judge_tables(res: dict[str, Any]) -> dict[str, _Table]:
    """The judges (counts, agreement) and disagreements sections."""
    j = res["judges"]
    rows = [[name, str(c["refused"]), str(c["complied"]), str(c["other"])] for name, c in j["counts"].items()]
    note = ""
    if "agreement" in j:
        note = "Agreement: " + "; ".join(
            f"{p['a']} vs {p['b']}: {100 * p['agreement']:.1f}% (kappa {p['kappa']:.2f})" if p["kappa"] is not None
            else f"{p['a']} vs {p['b']}: n/a" for p in j["agreement"])
    judges = ("Judges", ["judge", "refused", "complied", "other"], rows, note or "One judge (no agreement to report).")
    rows = [[d["role"], d["style"], d["request"][:120], d["response"][:200],
             ", ".join(f"{k}={v}" for k, v in d["outcomes"].items())] for d in j.get("disagreements", [])[:50]]
    return {"judges": judges,
            "disagreements": ("Judge disagreements", ["model", "style", "request", "response", "outcomes"],
                              rows or [["-", "-", "-", "-", "none"]],
                              f"{j.get('n_disagreements', 0)} in total; the first 50 shown (all in results.json, "
                              f"up to {MAX_DISAGREEMENTS}).")}


def _reproducibility_table(res: dict[str, Any]) -> _Table:
    v = res["versions"]
    rows = [["git commit", f"{res['git'].get('commit')}" + (" (dirty)" if res["git"].get("dirty") else "")],
            ["created", res["created"]], ["schema version", str(res["schema_version"])],
            ["seconds", str(res.get("seconds"))]] + [[k, str(val)] for k, val in v.items()]
    return ("Reproducibility", ["item", "value"], rows, "The full configuration is in results.json.")


def _tables(res: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, _Table]:
    """section id -> (title, header, rows, note). Shared by Markdown and HTML."""
    t = {"summary": _summary_table(res), "setup": _setup_table(res), "retention": _retention_table(res),
         **_probe_tables(res), **_judge_tables(res)}
    t["examples"] = ("Example responses", ["model", "style", "outcome", "request", "response"],
                     _examples(records, res["primary_judge"]),
                     "One sample per model, style and outcome; every sample is in samples.jsonl.")
    t["reproducibility"] = _reproducibility_table(res)
    return t


def _examples(records: list[dict[str, Any]], judge: str) -> list[list[str]]:
    seen, rows = set(), []
    for r in records:
        if r["part"] != "harmful":
            continue
        o = _outcome(r, judge)
        key = (r["role"], r["style"], o)
        if key in seen:
            continue
        seen.add(key)
        rows.append([r["role"], r["style"], o, r["request"][:120], r["generation"][:240]])
    return rows


# ------------------------------------------------------------------------------ plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(ci: dict[str, Any]) -> list[float]:
    if ci.get("low") is None:
        return [0.0, 0.0]
    return [max(0.0, ci["mean"] - ci["low"]), max(0.0, ci["high"] - ci["mean"])]


def tradeoff_point(res: dict[str, Any], role: str, style: str = "all") -> tuple[dict, dict, str] | None:
    """(ASR ci, utility ci, utility name) of one model in a run: the task metric, or the share of
    benign probes answered when there is no task metric."""
    m = res["metrics"].get(role)
    if not m or style not in m["safety"]:
        return None
    asr = m["safety"][style]["attack_success_rate"]
    if "task" in m:
        return asr, m["task"], m["task"]["metric"]
    o = m["over_refusal"].get("all")
    if o is None or o.get("mean") is None:
        return None
    flip = {"mean": 1 - o["mean"], "low": 1 - o["high"], "high": 1 - o["low"]}
    return asr, flip, "benign answered"


def _before_after_bars(res: dict[str, Any], groups: list[str], ci_of, path: Path, ylabel: str, title: str,
                       color: str, wide: bool) -> None:
    """Grouped bars, base then finetuned, of `ci_of(role_metrics, group)` with their intervals."""
    plt = _plt()
    import numpy as np

    roles = sorted(res["metrics"], key=lambda r: r != "base")  # before, then after
    size = (max(6.0, 0.55 * len(groups) + 2), 4.4) if wide else (6.4, 4.0)
    fig, ax = plt.subplots(figsize=size, dpi=110)
    x = np.arange(len(groups))
    w = 0.8 / max(1, len(roles))
    for k, role in enumerate(roles):
        cis = [ci_of(res["metrics"][role], g) for g in groups]
        means = [c["mean"] or 0.0 for c in cis]
        errs = np.array([_err(c) if c.get("mean") is not None else [0, 0] for c in cis]).T
        ax.bar(x + k * w, means, w, yerr=errs, capsize=2 if wide else 3,
               label="finetuned" if role == "model" else "base",
               color=color if role == "model" else "tab:grey", alpha=0.85)
    if wide:
        ax.set_xticks(x + w * (len(roles) - 1) / 2, groups, rotation=45, ha="right", fontsize=8)
    else:
        ax.set_xticks(x + w * (len(roles) - 1) / 2, groups)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def plot_categories(res: dict[str, Any], path: Path) -> None:
    cats = sorted({c for m in res["metrics"].values() for c in m["categories"]})
    _before_after_bars(
        res, cats, lambda m, c: m["categories"].get(c, {}).get("attack_success_rate", {"mean": 0.0}),
        path, "attack success rate", "Attack success per category (all styles)", "tab:red", wide=True)


def plot_styles(res: dict[str, Any], path: Path) -> None:
    styles = list(res["metrics"]["model"]["safety"])
    _before_after_bars(res, styles, lambda m, s: m["safety"][s]["refusal_rate"], path,
                       "refusal rate on harmful probes", "Refusal by prompting style", "tab:blue", wide=False)


def make_plots(res: dict[str, Any], out: Path) -> dict[str, Path]:
    d = out / "plots"
    d.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}
    pts = []
    ylabel = "task metric"
    for role in res["metrics"]:
        tp = tradeoff_point(res, role)
        if tp:
            pts.append(("base" if role == "base" else res["label"], tp[0], tp[1], role == "base"))
            ylabel = tp[2]
    if pts:
        plots["pareto"] = d / "pareto.png"
        plot_pareto(pts, ylabel, plots["pareto"], f"Task vs attack success: {res['label']}")
    if any(m["categories"] for m in res["metrics"].values()):
        plots["categories"] = d / "categories.png"
        plot_categories(res, plots["categories"])
        plots["styles"] = d / "styles.png"
        plot_styles(res, plots["styles"])
    return plots


# ------------------------------------------------------------------------------ writing
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}code{background:#f6f6f6}"""
_PLOT_SECTION = {"pareto": "summary", "styles": "styles", "categories": "categories"}


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def render_html(res: dict[str, Any], records: list[dict[str, Any]], plots: dict[str, Path]) -> str:
    tables = _tables(res, records)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>safemix eval: {html.escape(res['label'])}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>safemix evaluation: {html.escape(res['label'])}</h1>"]
    for sec in SECTIONS:
        title, header, rows, note = tables[sec]
        parts.append(f'<section id="{sec}"><h2>{html.escape(title)}</h2>')
        parts.append(_html_table(header, rows))
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        for name, p in plots.items():
            if _PLOT_SECTION.get(name) == sec:
                parts.append(_img(p, name))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(res: dict[str, Any], records: list[dict[str, Any]], plots: dict[str, Path], out: Path) -> str:
    tables = _tables(res, records)
    parts = [f"# safemix evaluation: {res['label']}", ""]
    for sec in SECTIONS:
        title, header, rows, note = tables[sec]
        parts += [f"## {title}", "", _md_table(header, rows), ""]
        if note:
            parts += [note, ""]
        for name, p in plots.items():
            if _PLOT_SECTION.get(name) == sec:
                parts += [f"![{name}]({p.relative_to(out).as_posix()})", ""]
    return "\n".join(parts)


def write_reports(res: dict[str, Any], records: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """results.json, report.md, report.html and plots, each written atomically."""
    from safemix.manifest import write_manifest

    out = Path(out)
    if "manifest_schema" in res:
        write_manifest(out / "results.json", res)
    else:  # re-rendering a results.json written before the manifest envelope: kept as it was
        write_json(out / "results.json", res)
    plots = make_plots(res, out)
    with atomic_write(out / "report.md") as f:
        f.write(render_markdown(res, records, plots, out))
    with atomic_write(out / "report.html") as f:
        f.write(render_html(res, records, plots))
    return {"results": out / "results.json", "report_md": out / "report.md", "report_html": out / "report.html",
            **plots}


# ------------------------------------------------------------------------------ comparing runs
def load_results(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir)
    p = p / "results.json" if p.is_dir() else p
    if not p.exists():
        raise InputError("no results.json here; run `safemix eval` first", path=str(p))
    try:
        res = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg}", path=str(p), line=e.lineno) from None
    if not isinstance(res, dict) or res.get("kind") != "safemix.eval":
        raise InputError("not a safemix eval results.json", path=str(p))
    for key in ("metrics", "models"):
        if not isinstance(res.get(key), dict):
            raise InputError(f"results.json has no '{key}' object (truncated or edited by hand); "
                             "rerun `safemix eval`", path=str(p), field=key)
    if res.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"results schema version {res.get('schema_version')} is not supported "
                         f"(this safemix reads version {SCHEMA_VERSION})", path=str(p))
    return res


# ------------------------------------------------------------------------------ the sweep / run report
# Everything a reader of several runs sees (comparison.html / .md / .json, sweep.md and the
# plots) is rendered here from the runs' results.json, and the examples from samples.jsonl
# beside them when it is there. `safemix run` and `safemix report RUN...` both call
# `compare_runs`; the pipeline only hands over its eval folders.
SWEEP_STYLES = ("job", "job_heldout", "job_aoa", "chat", "aoa", "job_encoded", "chat_encoded", "all")
STYLE_NAMES = {"job": "the job's format", "job_heldout": "a held-out paraphrase of the job's format",
               "job_aoa": "the job's format with the AOA identity shift", "chat": "plain chat",
               "aoa": "the AOA identity shift", "job_encoded": "the job's format, the request in the job's encoding",
               "chat_encoded": "plain chat, the request in the job's encoding", "all": "all styles"}
STYLE_TITLES = {"job": "job: the job's format", "job_heldout": "job_heldout: held-out job format",
                "job_aoa": "job_aoa: job format + AOA", "chat": "chat: plain chat turn",
                "aoa": "aoa: AOA identity shift", "job_encoded": "job_encoded: job format, encoded",
                "chat_encoded": "chat_encoded: chat turn, encoded", "all": "all styles"}
METHOD_NAMES = {"none": "no safety rows", "raw": "plain chat safety rows", "template": "safety rows in the job's format",
                "paraphrase": "LLM paraphrases in the job's style", "bea": "backdoor-enhanced alignment",
                "raw_system": "control: plain rows with the job's system prompt",
                "template_benign": "control: job-format rows with helpful answers"}
METHOD_COLORS = {"template": "tab:blue", "paraphrase": "tab:cyan", "raw": "tab:orange", "raw_system": "tab:red",
                 "template_benign": "tab:purple", "bea": "tab:green", "none": "black"}
CONTROL_METHODS = ("raw_system", "template_benign")
BASE_NAME = "base (before finetuning)"
OUTCOMES = ("refused", "complied", "other")
N_EXAMPLES = 2
# Sections of comparison.html, in order (ids; the browser test checks the sweep table).
REPORT_SECTIONS = ("sweep", "plots", "headline", "outcomes", "runs", "examples", "setup")
PLOT_FILES = {"sweep": "sweep.png", "over_refusal": "over_refusal.png", "retention": "retention.png",
              "pareto": "pareto.png"}


def _pct(x: dict | None) -> str:
    """'88' (a rate in whole percent), 'n/a' when missing; the sweep table's cells."""
    return "n/a" if not x or x.get("mean") is None else f"{100 * x['mean']:.0f}"


def rate(ci: dict[str, Any] | None, interval: bool = True) -> str:
    """'88% [81, 94]' in whole percent; 'n/a' when missing."""
    if not ci or ci.get("mean") is None:
        return "n/a"
    s = f"{100 * ci['mean']:.0f}%"
    if interval and ci.get("low") is not None and ci.get("high") is not None:
        s += f" [{100 * ci['low']:.0f}, {100 * ci['high']:.0f}]"
    return s


def _read_loose(d: str | Path) -> dict[str, Any]:
    p = Path(d)
    return json.loads((p / "results.json" if p.is_dir() else p).read_text(encoding="utf-8"))


def _method_ratio(res: dict[str, Any]) -> tuple[str | None, float | None]:
    """The run's method and mixing ratio: its tags (set by `safemix run`), else its label
    when that reads like a variant name ("none", "template-0.1")."""
    import re

    tags = res.get("tags") or {}
    method, ratio = tags.get("method"), tags.get("ratio")
    if method is None:
        m = re.fullmatch(r"(none)|([A-Za-z_]+)-([0-9]*\.?[0-9]+)", str(res.get("label", "")))
        if m:
            method, ratio = (m.group(1), 0.0) if m.group(1) else (m.group(2), float(m.group(3)))
    if method == "none":
        ratio = 0.0
    try:
        ratio = None if ratio is None else float(ratio)
    except (TypeError, ValueError):
        ratio = None
    return method, ratio


def short_model(name: str | None) -> str:
    """A model as a reader wants it: a hub id as it is, a local path by its folder name."""
    if not name:
        return ""
    s = str(name)
    return Path(s).name or s if ("/" in s and (s.startswith(("/", "~", ".")) or Path(s).exists())) else s


def tags_text(tags: dict[str, Any] | None) -> str:
    """{'method': 'template', 'ratio': 0.1} -> 'method template, ratio 0.1'."""
    return ", ".join(f"{k} {v}" for k, v in (tags or {}).items())


def sweep_rows(eval_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """One row per model from the eval results: the base once (first), then every run in the
    order given. Keys: run (display name), role, method, ratio, task, styles (per style the
    refusal / attack success / other rate intervals and n), over_refusal (all benign probes),
    over_refusal_styles, model, dir."""
    rows: list[dict[str, Any]] = []
    base_done = False
    for d in eval_dirs:
        res = _read_loose(d)
        method, ratio = _method_ratio(res)
        for role in ("base", "model"):
            m = (res.get("metrics") or {}).get(role)
            if not m or (role == "base" and base_done):
                continue
            base_done |= role == "base"
            over = m.get("over_refusal", {})
            row = {"run": BASE_NAME if role == "base" else res.get("label", str(d)), "role": role,
                   "method": None if role == "base" else method, "ratio": None if role == "base" else ratio,
                   "task": m.get("task"), "styles": {}, "over_refusal": over.get("all"),
                   "over_refusal_styles": {k: v for k, v in over.items() if k != "all"},
                   "model": ((res.get("models") or {}).get(role) or {}).get("model"), "dir": str(d),
                   "seed": None if role == "base" else (res.get("tags") or {}).get("seed")}
            for style, v in m.get("safety", {}).items():
                row["styles"][style] = {k: v.get(k) for k in ("refusal_rate", "attack_success_rate", "other_rate")}
                row["styles"][style]["n"] = v.get("n")
            rows.insert(0, row) if role == "base" else rows.append(row)
    return rows


def sweep_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, style) columns of the sweep table: each style's harmful outcome, and right after
    it the over-refusal of benign probes asked in the same style (where there are any)."""
    cols = []
    for s in SWEEP_STYLES:
        if any(s in r["styles"] for r in rows):
            cols.append(("harmful", s))
        if any(s in r["over_refusal_styles"] for r in rows):
            cols.append(("benign", s))
    return cols


# ------------------------------------------------------------------------------ seeds
# A sweep with `seeds: [..]` runs each (method, ratio) once per seed; runs that share a method
# and a ratio and carry a `seed` tag are one group, and the report shows, per group, the mean
# over seeds and its spread (sd and min-max across seeds) next to each seed's own bootstrap
# interval (which is over probes, within one seed).
SEEDS_NOTE = ("Rows 'mean of k seeds': the mean over the training/generation seeds listed above them "
              "± the standard deviation across seeds (min-max across seeds in parentheses); each seed's "
              "own row keeps its bootstrap 95% interval over probes.")


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample sd, min and max of per-seed values (sd None for one value)."""
    import statistics

    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values), "max": max(values), "n": len(values), "values": list(values)}


def spread_text(sp: dict[str, Any] | None, sd: bool = True) -> str:
    """'52 ± 6 (47-56)' in whole percent: mean ± sd across seeds (min-max); 'n/a' when missing."""
    if not sp:
        return "n/a"
    text = f"{100 * sp['mean']:.0f}"
    if sd and sp.get("sd") is not None:
        text += f" ± {100 * sp['sd']:.0f} ({100 * sp['min']:.0f}–{100 * sp['max']:.0f})"
    return text


def _spread_of(members: list[dict[str, Any]], value) -> dict[str, Any] | None:
    vals = [v["mean"] for v in (value(r) for r in members) if v and v.get("mean") is not None]
    return spread(vals) if vals else None


def seed_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per (method, ratio) that two or more seeded runs share: its name, seeds, runs,
    and the spread over seeds of each style's refusal / attack success / other rate, the
    over-refusal (per style and all) and the task metric."""
    by: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        if r["role"] == "model" and r.get("seed") is not None and r["method"] and r["ratio"] is not None:
            by.setdefault((r["method"], r["ratio"]), []).append(r)
    out = []
    for (method, ratio), members in by.items():
        if len(members) < 2:
            continue
        styles = list(dict.fromkeys(s for r in members for s in r["styles"]))
        ben = list(dict.fromkeys(s for r in members for s in r["over_refusal_styles"]))
        task = _spread_of(members, lambda r: r["task"])
        out.append({
            "name": "none" if method == "none" else f"{method}-{ratio:g}", "method": method, "ratio": ratio,
            "seeds": [r["seed"] for r in members], "runs": [r["run"] for r in members],
            "styles": {s: {k: _spread_of(members, lambda r, s=s, k=k: (r["styles"].get(s) or {}).get(k))
                           for k in ("refusal_rate", "attack_success_rate", "other_rate")} for s in styles},
            "over_refusal_styles": {s: _spread_of(members, lambda r, s=s: r["over_refusal_styles"].get(s))
                                    for s in ben},
            "over_refusal": _spread_of(members, lambda r: r["over_refusal"]),
            "task": {**task, "metric": (members[0]["task"] or {}).get("metric")} if task else None})
    return out


def _group_label(g: dict[str, Any]) -> str:
    return f"{g['name']}: mean of {len(g['seeds'])} seeds"


def _group_task(g: dict[str, Any]) -> str:
    t = g["task"]
    if not t:
        return "n/a"
    sd = f" ± {100 * t['sd']:.1f}" if t.get("sd") is not None else ""
    return f"{t.get('metric') or ''} {100 * t['mean']:.1f}{sd}".strip()


def _group_cells(g: dict[str, Any], cols: list[tuple[str, str]]) -> list[str]:
    """The sweep table's cells of a seed group: refused mean ± sd (min-max) / complied / other
    means per style, over-refusal mean ± sd."""
    cells = []
    for kind, st in cols:
        if kind == "benign":
            cells.append(spread_text(g["over_refusal_styles"].get(st)))
            continue
        v = g["styles"].get(st)
        cells.append("n/a" if not v or not v["refusal_rate"] else
                     f"{spread_text(v['refusal_rate'])} / {spread_text(v['attack_success_rate'], False)} / "
                     f"{spread_text(v['other_rate'], False)}")
    return cells


def _with_groups(rows: list[dict[str, Any]], body: list[list[str]], cols: list[tuple[str, str]],
                 extra: list[str] | None = None) -> list[list[str]]:
    """`body` (one line per row) with each seed group's line right after its last seed's line;
    `extra` cells (e.g. the all-styles over-refusal) come from each group in turn."""
    groups = seed_groups(rows)
    last = {g["runs"][-1]: g for g in groups}
    out = []
    for r, line in zip(rows, body, strict=True):
        out.append(line)
        g = last.get(r["run"])
        if g is not None:
            out.append([_group_label(g), _group_task(g)] + _group_cells(g, cols)
                       + [spread_text(g[k]) for k in (extra or [])])
    return out


def headline_lines(eval_dirs: list[str | Path]) -> list[str]:
    """One line per model for the terminal: refusal of harmful probes and over-refusal of benign
    ones in each of the job's formats (job, job_heldout) and plain chat, and the task metric."""
    out = []
    for r in sweep_rows(eval_dirs):
        parts = []
        for s in ("job", "job_heldout", "chat"):
            v = r["styles"].get(s)
            if v:
                o = r["over_refusal_styles"].get(s)
                parts.append(f"{s} refused {_pct(v['refusal_rate'])}%" + (f" (over-refusal {_pct(o)}%)" if o else ""))
        t = r["task"] or {}
        if t.get("mean") is not None:
            parts.append(f"task {t.get('metric', '')} {100 * t['mean']:.1f}")
        out.append(f"{r['run']}: " + "; ".join(parts))
    return out


def summary_table_text(eval_dirs: list[str | Path], seconds: dict[str, float] | None = None) -> str:
    """The terminal's closing table: one row per model, refusal in the job's formats and chat,
    over-refusal in the job's format, task metric and (for `safemix run`) the seconds spent."""
    from safemix.console import fmt_seconds, text_table

    rows = sweep_rows(eval_dirs)
    styles = [s for s in SWEEP_STYLES[:-1] if any(s in r["styles"] for r in rows)]
    header = ["run"] + [f"{s} refused" for s in styles] + ["over-refusal (job)", "task"]
    if seconds is not None:
        header.append("time")
    body = []
    for r in rows:
        t = r["task"] or {}
        cells = [r["run"]] + [_pct((r["styles"].get(s) or {}).get("refusal_rate")) + "%" if s in r["styles"] else "n/a"
                              for s in styles]
        o = r["over_refusal_styles"].get("job") or r["over_refusal"]
        cells += [f"{_pct(o)}%" if o else "n/a",
                  f"{t.get('metric', '')} {100 * t['mean']:.1f}" if t.get("mean") is not None else "n/a"]
        if seconds is not None:
            prefix = f"variants/{r['run']}/"
            spent = sum(v for k, v in seconds.items() if k.startswith(prefix))
            cells.append(fmt_seconds(spent) if r["role"] == "model" and spent else "")
        body.append(cells)
    return text_table(header, body, right=set(range(1, len(header))))


def write_sweep_table(eval_dirs: list[str | Path], path: Path) -> Path:
    """Markdown: task metric, and per probe style refused/complied/other % of harmful probes
    next to the over-refusal % of benign probes in that style."""
    rows = sweep_rows(eval_dirs)
    cols = sweep_columns(rows)
    head = ["run", "task"] + [f"{s}: refused / complied / other %" if kind == "harmful" else f"{s}: over-refusal %"
                              for kind, s in cols] + ["over-refusal (all benign) %"]
    lines = ["# Sweep: safety outcome per probe style (refused / complied / other, %) and over-refusal", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    body = []
    for r in rows:
        t = r["task"] or {}
        task = f"{t.get('metric', '')} {100 * t['mean']:.1f}" if t.get("mean") is not None else "n/a"
        cells = [r["run"], task]
        for kind, s in cols:
            if kind == "benign":
                cells.append(_pct(r["over_refusal_styles"].get(s)))
                continue
            v = r["styles"].get(s)
            cells.append("n/a" if not v else " / ".join(_pct(v[k]) for k in
                                                        ("refusal_rate", "attack_success_rate", "other_rate")))
        cells.append(_pct(r["over_refusal"]))
        body.append(cells)
    lines += ["| " + " | ".join(c) + " |" for c in _with_groups(rows, body, cols, ["over_refusal"])]
    lines += ["", STYLE_NOTE, "", "![retention](retention.png)"]
    if seed_groups(rows):
        lines[-1:-1] = [SEEDS_NOTE, ""]
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


STYLE_NOTE = ("`job` = harmful probes in the job's own format and prompting style; `job_heldout` = a held-out "
              "paraphrase of the job's format (another system prompt wording and user template, never used for "
              "safety rows); `job_aoa` = the job's format with the AOA identity shift; `chat` = plain chat turn; "
              "`aoa` = identity shift alone; `job_encoded` / `chat_encoded` = the job's format / a chat turn with the "
              "request in the job's encoding (eval.encoding), the answer decoded before judging. `complied` is the "
              "attack success rate; `other` = neither a refusal "
              "nor a compliance (e.g. the model answers with a task label). `over-refusal` = benign and "
              "benign-but-sensitive probes, asked in that style, that the model refused: a method that makes the "
              "model refuse everything in the job's format scores high refusal and high over-refusal.")


# ------------------------------------------------------------------------------ form fidelity
FIDELITY_NOTE = ("Parts: turn structure, lengths (request, answer, row), the job's user template, system "
                 "prompt, character classes, language (n/a until a detector is wired in); each is 1 minus a "
                 "distance in [0, 1], the score is their mean (safemix/generate/fidelity.py).")


def fidelity_rows(eval_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """The form fidelity of each variant's safety rows, read from its generate manifest
    (`../generate/safety.manifest.json` beside its eval folder, as `safemix run` lays them out)."""
    from safemix.manifest import read_manifest

    rows = []
    for d in eval_dirs:
        man = Path(d).parent / "generate" / "safety.manifest.json"
        if not man.is_file():
            continue  # the `none` variant, or a run made before the generate stage existed
        m = read_manifest(man, stage="generate", legacy=True)
        fid = m.get("fidelity") or {}
        rows.append({"run": Path(d).parent.name, "method": m.get("method"), "rows": m.get("generated"),
                     "score": fid.get("score"), "parts": fid.get("parts") or {}})
    return rows


def write_fidelity_table(eval_dirs: list[str | Path], path: Path, parts: list[str] | tuple[str, ...] | None = None
                         ) -> Path | None:
    """Markdown: per variant, how close its safety rows are to the job's rows in form (score and
    parts, see safemix/generate/fidelity.py); None when no variant generated safety rows.
    `parts`: the part columns in order (`safemix run` passes `safemix.generate.fidelity.PARTS`;
    eval does not import generate); None: the parts the manifests name, in their order."""
    rows = fidelity_rows(eval_dirs)
    if not rows:
        return None
    if parts is None:
        parts = list(dict.fromkeys(k for r in rows for k in r["parts"]))

    def cell(v: Any) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    lines = ["# Form fidelity of the safety rows (1 = indistinguishable from the job's rows in form)", "",
             "| run | method | rows | score | " + " | ".join(parts) + " |", "|" + "---|" * (4 + len(parts))]
    lines += ["| " + " | ".join([r["run"], str(r["method"]), str(r["rows"]), cell(r["score"])]
                                + [cell(r["parts"].get(k)) for k in parts]) + " |" for r in rows]
    lines += ["", FIDELITY_NOTE]
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ label placement
def _save_png(fig: Any, path: Path) -> None:
    """Atomically, at the figure's own dpi and size: the label boxes measured on screen are
    the boxes in the file (no `bbox_inches="tight"`)."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=fig.dpi)


def _box(b: Any, pad: float = 0.0) -> list[float]:
    return [float(b.x0) - pad, float(b.y0) - pad, float(b.x1) + pad, float(b.y1) + pad]


def boxes_overlap(a: list[float], b: list[float]) -> bool:
    """Two [x0, y0, x1, y1] boxes share area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_inside(inner: list[float], outer: list[float]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _candidates() -> list[tuple[float, float]]:
    """Offsets (points) to try for a label, nearest first; upper right first at each distance."""
    import math

    out = []
    for r in (7, 14, 24, 36, 52, 72, 96, 124, 160):
        n = 8 if r < 20 else 16
        for k in range(n):
            a = math.pi / 4 + 2 * math.pi * k / n
            out.append((r * math.cos(a), r * math.sin(a)))
    return out


def place_labels(fig: Any, ax: Any, anchors: list[tuple[float, float]], texts: list[str],
                 fontsize: float = 8) -> dict[str, Any]:
    """Label each anchor (data coordinates) so that no label overlaps another label or any
    anchor's marker, and none leaves the axes. Each label tries offsets nearest first (with a
    thin leader line when it ends up away from its point), measuring its box with the figure's
    renderer; a label that fits nowhere at `fontsize` is tried again smaller, and failing that
    left out and listed in `unplaced` (the caller says so in the caption) rather than overprinted.

    Returns {"axes": box, "figure": [w, h], "labels": [{"text", "box"}], "unplaced": [...]},
    boxes as [x0, y0, x1, y1] in pixels of the saved PNG (origin bottom left)."""
    import math

    from matplotlib.text import Text

    fig.canvas.draw()  # the layout (tight_layout, ticks) is final before anything is measured
    renderer = fig.canvas.get_renderer()
    axes_box = _box(ax.get_window_extent(renderer), pad=-2.0)
    to_px = ax.transData.transform
    markers = [[x - 4, y - 4, x + 4, y + 4] for x, y in (to_px(a) for a in anchors)]
    placed: list[dict[str, Any]] = []
    unplaced: list[str] = []
    for anchor, text in zip(anchors, texts, strict=True):
        ok = None
        for size in (fontsize, fontsize - 1.5):
            for dx, dy in _candidates():
                ang = math.atan2(dy, dx)
                ha = "left" if math.cos(ang) > 0.35 else "right" if math.cos(ang) < -0.35 else "center"
                va = "bottom" if math.sin(ang) > 0.35 else "top" if math.sin(ang) < -0.35 else "center"
                far = math.hypot(dx, dy) > 10
                ann = ax.annotate(text, anchor, xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                                  fontsize=size, annotation_clip=False,
                                  arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.6,
                                              "shrinkA": 1, "shrinkB": 3} if far else None)
                ann.update_positions(renderer)  # xytext in points -> pixels, as drawing does
                box = _box(Text.get_window_extent(ann, renderer), pad=1.5)
                if (box_inside(box, axes_box) and not any(boxes_overlap(box, p["box"]) for p in placed)
                        and not any(boxes_overlap(box, m) for m in markers)):
                    ok = box
                    break
                ann.remove()
            if ok:
                break
        if ok:
            placed.append({"text": text, "box": [round(v, 2) for v in ok]})
        else:
            unplaced.append(text)
    w, h = fig.get_size_inches() * fig.dpi
    return {"axes": [round(v, 2) for v in axes_box], "figure": [round(float(w)), round(float(h))],
            "labels": placed, "unplaced": unplaced}


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def plot_tradeoff(points: list[dict[str, Any]], path: Path, xlabel: str, ylabel: str, title: str,
                  front: str | None = None) -> dict[str, Any]:
    """Task metric (y) against a safety rate (x), one point per model with both intervals,
    labels placed by `place_labels`. points: {label, x, y (ci dicts), method, base}. With
    `front` = "low" or "high", the non-dominated points (lower/higher x, higher y) are joined.
    Returns the label geometry (see `place_labels`)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=110)
    for p in points:
        x, y = p["x"], p["y"]
        color = "0.45" if p["base"] else METHOD_COLORS.get(p.get("method") or "")
        ax.errorbar([x["mean"]], [y["mean"]], xerr=[[v] for v in _err(x)], yerr=[[v] for v in _err(y)],
                    fmt="s" if p["base"] else "o", color=color, ecolor=color, elinewidth=0.8, capsize=3,
                    markersize=6, alpha=0.9, zorder=3)
    if front and len(points) > 1:
        sign = 1 if front == "low" else -1
        cand = sorted((p for p in points if not p["base"]), key=lambda p: (sign * p["x"]["mean"], -p["y"]["mean"]))
        xs, ys, best = [], [], -1.0
        for p in cand:
            if p["y"]["mean"] > best:
                xs.append(p["x"]["mean"])
                ys.append(p["y"]["mean"])
                best = p["y"]["mean"]
        if len(xs) > 1:
            ax.step(xs, ys, where="post", linestyle="--", color="black", linewidth=0.8, label="Pareto front", zorder=2)
            ax.legend(loc="lower left" if front == "high" else "lower right", fontsize=7, framealpha=0.8)
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.08, 1.15)
    _percent_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    geo = place_labels(fig, ax, [(p["x"]["mean"], p["y"]["mean"]) for p in points], [p["label"] for p in points])
    leg = ax.get_legend()
    if leg is not None:  # the legend is not a label, but it must not hide one either
        geo["legend"] = _box(leg.get_window_extent(fig.canvas.get_renderer()))
    _save_png(fig, path)
    plt.close(fig)
    return geo


def plot_pareto(points: list[tuple[str, dict, dict, bool]], ylabel: str, path: Path, title: str) -> dict[str, Any]:
    """Utility against attack success; `points` = (label, asr ci, utility ci, is_base). The
    non-dominated points (lower ASR, higher utility) are joined: the Pareto front."""
    pts = [{"label": lab, "x": asr, "y": util, "base": is_base, "method": None} for lab, asr, util, is_base in points]
    return plot_tradeoff(pts, path, "attack success rate (complied; lower is safer)",
                         f"{ylabel} (higher is better)", title, front="low")


# ------------------------------------------------------------------------------ sweep plots
def _over_seeds(vals: list[tuple[dict[str, Any], Any]]) -> list[dict[str, Any]]:
    """The values at one (method, ratio): several seeded runs become one point, their mean over
    seeds with the min-max across seeds as its interval (and each seed's value in `seeds`);
    runs without a seed tag stay points of their own."""
    seeded = [v for v, seed in vals if seed is not None]
    if len(seeded) < 2:
        return [v for v, _ in vals]
    sp = spread([v["mean"] for v in seeded])
    return [{"mean": sp["mean"], "low": sp["min"], "high": sp["max"], "seeds": sp["values"]}] + [
        v for v, seed in vals if seed is None]


def _series(rows: list[dict[str, Any]], value) -> dict[str, Any]:
    """Per method: ratios and the value's intervals, the unmitigated run ('none') at ratio 0
    starting every line; and the base model's interval as a reference. Several seeds of one
    (method, ratio) are one point: the mean over seeds, its bar the min-max across seeds."""
    base = next((r for r in rows if r["role"] == "base"), None)
    at: dict[tuple[str, float], list[tuple[dict, Any]]] = {}
    for r in rows:
        if r["role"] != "model" or r["method"] is None or r["ratio"] is None:
            continue
        v = value(r)
        if v and v.get("mean") is not None:
            at.setdefault((r["method"], 0.0 if r["method"] == "none" else r["ratio"]), []).append((v, r.get("seed")))
    methods: dict[str, list[tuple[float, dict]]] = {}
    for (m, ratio), vals in at.items():
        if m != "none":
            methods.setdefault(m, []).extend((ratio, v) for v in _over_seeds(vals))
    none = _over_seeds(at.get(("none", 0.0), []))
    return {"base": value(base) if base else None, "none": none[0] if none else None,
            "methods": {m: sorted(v, key=lambda t: t[0]) for m, v in methods.items()},
            "seeded": any(len(vals) > 1 and all(sd is not None for _, sd in vals) for vals in at.values())}


def _seed_dots(ax: Any, xs: list[float], pts: list[tuple[float, dict[str, Any]]], color: str | None) -> None:
    """Each seed's own value, small and faint, beside a point that is a mean over seeds."""
    for x, (_, v) in zip(xs, pts, strict=True):
        if v.get("seeds"):
            ax.plot([x] * len(v["seeds"]), v["seeds"], "o", color=color or "black", markerfacecolor="none",
                    alpha=0.7, markersize=7, markeredgewidth=0.9, zorder=5)


def _sweep_panel(ax: Any, se: dict[str, Any], methods: list[str], step: float, handles: dict[str, Any]) -> None:
    """One style's panel of the sweep plot: the base band, each method's line (offset a little
    per method so bars do not hide each other) and the unmitigated run at ratio 0."""
    if se["base"] and se["base"].get("mean") is not None:
        b = se["base"]
        lo, hi = (b["low"], b["high"]) if b.get("low") is not None else (b["mean"], b["mean"])
        handles[BASE_NAME] = ax.axhspan(lo, hi, color="0.6", alpha=0.25, lw=0, label=BASE_NAME)
        ax.axhline(b["mean"], color="0.45", ls=":", lw=1)
    for k, m in enumerate(methods):
        pts = ([(0.0, se["none"])] if se["none"] and se["none"].get("mean") is not None else []) + \
            se["methods"].get(m, [])
        if not se["methods"].get(m):
            continue
        off = (k - (len(methods) - 1) / 2) * step
        xs = [r + (off if r > 0 else 0.0) for r, _ in pts]
        yerr = [[_err(c)[0] for _, c in pts], [_err(c)[1] for _, c in pts]]
        h = ax.errorbar(xs, [v["mean"] for _, v in pts], yerr=yerr, fmt="o", color=METHOD_COLORS.get(m), capsize=3, lw=1.6, markersize=5, elinewidth=0.9,
                        ls="--" if m in CONTROL_METHODS else "-", label=m)
        handles.setdefault(m, h)
        _seed_dots(ax, xs, pts, METHOD_COLORS.get(m))
    if se["none"] and se["none"].get("mean") is not None:
        n = se["none"]
        handles["none (ratio 0)"] = ax.errorbar([0.0], [n["mean"]], yerr=[[v] for v in _err(n)], fmt="D",
                                                color="black", capsize=3, markersize=5, zorder=4,
                                                label="none (ratio 0)")
        _seed_dots(ax, [0.0], [(0.0, n)], "black")


def _sweep_axes(ax: Any, style: str, ratios: list[float], step: float) -> None:
    """A sweep panel's title, ratio ticks, limits and percent axis."""
    ax.set_title(STYLE_TITLES.get(style, style), fontsize=9)
    ax.set_xticks(ratios, [f"{100 * r:g}%" for r in ratios])
    ax.set_xlim(min(ratios) - 6 * step - 0.004, max(ratios) + 6 * step + 0.004)
    ax.set_ylim(-0.03, 1.03)
    _percent_axis(ax.yaxis)
    ax.grid(alpha=0.3)


def _sweep_legend(fig: Any, axes: Any, handles: dict[str, Any], spare: int) -> None:
    """The legend in the spare panel when there is one, else below the panels; then the layout."""
    nrows, ncols = len(axes), len(axes[0])
    labels = list(handles)
    if spare:
        last = axes[nrows - 1][ncols - 1]
        last.legend([handles[k] for k in labels], labels, loc="center", fontsize=9, frameon=False,
                    title="method (dashed: control)")
        fig.tight_layout()
    else:
        fig.legend([handles[k] for k in labels], labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8,
                   frameon=False, title="method (dashed: control)", title_fontsize=8)
        fig.tight_layout(rect=(0, 0.13 if nrows == 1 else 0.08, 1, 1))


def plot_sweep(rows: list[dict[str, Any]], path: Path, styles: list[str], value_of, ylabel: str,
               title: str) -> dict[str, Any] | None:
    """One panel per probe style: `value_of(row, style)` against the mixing ratio, one line per
    method with its bootstrap intervals, the unmitigated finetune at ratio 0, and the base model
    as a grey band (its interval) with its mean dashed. None when no run has a method and ratio.
    Several seeds of one (method, ratio): the mean over seeds, the bar spanning min-max across
    seeds, each seed a hollow circle (the returned info then has `seeded`)."""
    import math

    series = {s: _series(rows, lambda r, s=s: value_of(r, s)) for s in styles}
    styles = [s for s in styles if series[s]["methods"] or series[s]["none"]]
    if not styles or not any(series[s]["methods"] for s in styles):
        return None
    plt = _plt()
    ncols = min(3, len(styles))
    nrows = math.ceil(len(styles) / ncols)
    spare = nrows * ncols - len(styles)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.1 * ncols, 3.3 * nrows + (0 if spare else 0.7)),
                             dpi=100, squeeze=False, sharey=True)
    methods = list(dict.fromkeys(m for s in styles for m in series[s]["methods"]))
    ratios = sorted({r for s in styles for m in series[s]["methods"].values() for r, _ in m} | {0.0})
    step = (max(ratios) - min(ratios) or 1.0) * 0.012
    handles: dict[str, Any] = {}
    for i, s in enumerate(styles):
        ax = axes[i // ncols][i % ncols]
        _sweep_panel(ax, series[s], methods, step, handles)
        _sweep_axes(ax, s, ratios, step)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i // ncols == nrows - 1 or (i + ncols) >= len(styles):
            ax.set_xlabel("mixing ratio (safety share of the job)")
    for j in range(len(styles), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    fig.suptitle(title, fontsize=11)
    _sweep_legend(fig, axes, handles, spare)
    _save_png(fig, path)
    plt.close(fig)
    info: dict[str, Any] = {"styles": styles, "methods": methods, "ratios": ratios,
                            "has_none": any(series[s]["none"] for s in styles)}
    if any(series[s]["seeded"] for s in styles):
        info["seeded"] = True
    return info


# ------------------------------------------------------------------------------ the report's text
def _entries(runs: list[dict[str, Any]], labels: list[str], dirs: list[Path]) -> list[dict[str, Any]]:
    """One entry per model shown: each distinct base model once, then every finetuned model.
    Display order: bases first, then 'none', then methods in order of appearance, by ratio."""
    bases: dict[str, dict[str, Any]] = {}
    models: list[dict[str, Any]] = []
    for lab, r, d in zip(labels, runs, dirs, strict=True):
        method, ratio = _method_ratio(r)
        for role in ("model", "base"):
            m = r["metrics"].get(role)
            if not m:
                continue
            model = (r["models"].get(role) or {}).get("model") or role
            e = {"role": role, "label": lab, "model": model, "metrics": m, "res": r, "dir": d,
                 "method": method if role == "model" else None, "ratio": ratio if role == "model" else None,
                 "tags": r.get("tags") or {}}
            if role == "base":
                bases.setdefault(model, e)
            else:
                models.append(e)
    for e in bases.values():
        e["name"] = BASE_NAME if len(bases) == 1 else f"{BASE_NAME}: {short_model(e['model'])}"
    for e in models:
        e["name"] = e["label"]
    order = list(dict.fromkeys(["none"] + [e["method"] for e in models]))
    models.sort(key=lambda e: (order.index(e["method"]), e["ratio"] if e["ratio"] is not None else -1))
    return list(bases.values()) + models


def _rows_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`sweep_rows`-shaped rows of the entries (for the plots)."""
    out = []
    for e in entries:
        m = e["metrics"]
        over = m.get("over_refusal", {})
        out.append({"run": e["name"], "role": e["role"], "method": e["method"], "ratio": e["ratio"],
                    "seed": e["tags"].get("seed") if e["role"] == "model" else None,
                    "task": m.get("task"), "over_refusal": over.get("all"),
                    "over_refusal_styles": {k: v for k, v in over.items() if k != "all"},
                    "styles": {s: v for s, v in m.get("safety", {}).items()}})
    return out


def _describe(e: dict[str, Any]) -> str:
    if e["role"] == "base":
        return "Before finetuning, the base model"
    method, ratio = e["method"], e["ratio"]
    if method == "none":
        return f"Finetuned without safety rows ({e['name']}): it"
    what = METHOD_NAMES.get(method or "", method or "")
    share = f" at {100 * ratio:g}%" if ratio else ""
    return f"With {what}{share} ({e['name']}): it" if method else f"{e['name']}: it"


def headline_sentence(e: dict[str, Any], style: str, base: dict[str, Any] | None,
                      none: dict[str, Any] | None) -> str:
    """One sentence on one model, every number read from its results."""
    m = e["metrics"]
    s = style if style in m["safety"] else ("all" if "all" in m["safety"] else next(iter(m["safety"]), None))
    if s is None:
        return f"{_describe(e)} was not asked harmful probes."
    v = m["safety"][s]
    text = (f"{_describe(e)} refuses {rate(v['refusal_rate'])} of harmful probes in {STYLE_NAMES.get(s, s)}"
            f" (complied {rate(v['attack_success_rate'], False)}, other {rate(v['other_rate'], False)}")
    ref = []
    if e["role"] == "model":
        delta = ((e["res"].get("retention") or {}).get("safety", {}).get(s) or {}).get("refusal_rate", {}).get("delta")
        if delta and delta.get("diff") is not None:
            ref.append(f"{100 * delta['diff']:+.0f} pp vs the base model "
                       f"[{100 * delta['low']:+.0f}, {100 * delta['high']:+.0f}]")
        elif base and s in base["metrics"]["safety"]:
            ref.append(f"base model {rate(base['metrics']['safety'][s]['refusal_rate'], False)}")
        if none is not None and none is not e and s in none["metrics"]["safety"]:
            ref.append(f"without safety rows {rate(none['metrics']['safety'][s]['refusal_rate'], False)}")
    text += "; " + ", ".join(ref) + ")" if ref else ")"
    others = [f"{o} {rate(m['safety'][o]['refusal_rate'], False)}" for o in ("job_heldout", "chat")
              if o != s and o in m["safety"]]
    if others:
        text += "; in " + ", ".join(others)
    over = m.get("over_refusal", {})
    o = over.get(s) or over.get("all")
    if o and o.get("mean") is not None:
        text += f"; over-refusal {rate(o, False)}" + ("" if s in over else " (all styles)")
    t = m.get("task")
    if t and t.get("mean") is not None:
        text += f"; task {t.get('metric') or 'metric'} {100 * t['mean']:.1f}%"
        if e["role"] == "model" and base and (base["metrics"].get("task") or {}).get("mean") is not None:
            text += f" (base {100 * base['metrics']['task']['mean']:.1f}%)"
    return text + "."


def _seed_rate(sp: dict[str, Any]) -> str:
    """'62 ± 5% (56–67)': a mean over seeds ± the sd across seeds (min-max), in whole percent."""
    text = f"{100 * sp['mean']:.0f}"
    if sp.get("sd") is None:
        return text + "%"
    return text + f" ± {100 * sp['sd']:.0f}% ({100 * sp['min']:.0f}–{100 * sp['max']:.0f})"


def _seeds_of(c: dict[str, Any]) -> str:
    return f", mean of {c['refusal']['n']} seeds" if c["group"] else ""


def _lead_candidates(entries: list[dict[str, Any]], style: str) -> list[dict[str, Any]]:
    """The finetuned models the lead sentence can name, in entry order: each run on its own, except
    that the seeds of a seed group (several seeded runs of one method and ratio, see `seed_groups`)
    are one candidate, their mean over seeds. Keys: method, ratio, refusal (a bootstrap interval,
    or for a group a spread over seeds; None without harmful probes in `style`), over (over-refusal
    in `style`, same), group."""
    groups = {(g["method"], g["ratio"]): g for g in seed_groups(_rows_of(entries))}
    out, seen = [], set()
    for e in entries:
        if e["role"] != "model":
            continue
        key = (e["method"], e["ratio"])
        g = groups.get(key) if e["tags"].get("seed") is not None else None
        if g is None:
            v = e["metrics"]["safety"].get(style)
            out.append({"method": e["method"], "ratio": e["ratio"], "refusal": v["refusal_rate"] if v else None,
                        "over": e["metrics"].get("over_refusal", {}).get(style), "group": None})
        elif key not in seen:
            seen.add(key)
            out.append({"method": e["method"], "ratio": e["ratio"], "group": g,
                        "refusal": (g["styles"].get(style) or {}).get("refusal_rate"),
                        "over": g["over_refusal_styles"].get(style)})
    return out


def _lead_rate(c: dict[str, Any]) -> str:
    """A candidate's refusal: '80% [74, 86]' for one run, '70 ± 10% (60–80)' for a seed group."""
    return _seed_rate(c["refusal"]) if c["group"] else rate(c["refusal"])


def _lead_over(c: dict[str, Any]) -> str:
    """A candidate's over-refusal: '2%' (for a seed group the mean over its seeds)."""
    return f"{100 * c['over']['mean']:.0f}%" if c["group"] else rate(c["over"], False)


def lead_sentence(entries: list[dict[str, Any]], style: str) -> str:
    """The finding at a glance: base vs no mitigation vs the best run of each method. Several
    seeds of one method and ratio count as one run, their mean over seeds (with its spread)."""
    def ref(c: dict[str, Any]) -> float | None:
        return (c["refusal"] or {}).get("mean")

    base = next((e for e in entries if e["role"] == "base"), None)
    cands = _lead_candidates(entries, style)
    none = next((c for c in cands if c["method"] == "none"), None)
    parts = []
    where = STYLE_NAMES.get(style, style)
    v = base["metrics"]["safety"].get(style) if base else None
    if v and v["refusal_rate"]["mean"] is not None:
        parts.append(f"In {where}, the base model refuses {100 * v['refusal_rate']['mean']:.0f}% of harmful probes")
    if none and ref(none) is not None:
        leaves = _seed_rate(none["refusal"]) if none["group"] else f"{100 * ref(none):.0f}%"
        parts.append(f"finetuning without safety rows leaves {leaves}{_seeds_of(none)}")
    best: dict[str, dict[str, Any]] = {}
    for c in cands:
        if c["method"] not in (None, "none") and ref(c) is not None and (
                c["method"] not in best or ref(c) > ref(best[c["method"]])):
            best[c["method"]] = c
    text = ", ".join(parts)
    if best:
        per = "; ".join(f"{m} {_lead_rate(b)}" + (f" at {100 * b['ratio']:g}%" if b["ratio"] else "") + _seeds_of(b)
                        + (f" (over-refusal {_lead_over(b)})" if b["over"] else "")
                        for m, b in sorted(best.items(), key=lambda kv: -(ref(kv[1]) or 0)))
        text += (". " if text else "") + f"Best refusal per method: {per}"
    return (text + ".") if text else "No run has harmful probes in this style."


def _sweep_table(entries: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    rows = _rows_of(entries)
    cols = [c for c in sweep_columns(rows) if c[1] != "all"]  # all styles pooled: in the outcomes table
    head = ["run", "task"] + [s if kind == "harmful" else f"{s} OR" for kind, s in cols]
    body = []
    for r in rows:
        t = r["task"] or {}
        cells = [r["run"], f"{t.get('metric', '')} {100 * t['mean']:.1f}" if t.get("mean") is not None else "n/a"]
        for kind, s in cols:
            if kind == "benign":
                cells.append(_pct(r["over_refusal_styles"].get(s)))
                continue
            v = r["styles"].get(s)
            cells.append("n/a" if not v else f"{rate(v['refusal_rate']).replace('%', '')} / "
                         f"{_pct(v['attack_success_rate'])} / {_pct(v['other_rate'])}")
        body.append(cells)
    return head, _with_groups(rows, body, cols)


def _outcome_table(entries: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = ["run", "style", "refused", "complied", "other", "n", "over-refusal (benign, same style)"]
    body = []
    for e in entries:
        m = e["metrics"]
        for s in [x for x in SWEEP_STYLES if x in m["safety"]]:
            v = m["safety"][s]
            body.append([e["name"], s, rate(v["refusal_rate"]), rate(v["attack_success_rate"]), rate(v["other_rate"]),
                         str(v.get("n", "")), rate(m.get("over_refusal", {}).get(s))])
    return head, body


def _runs_table(entries: list[dict[str, Any]], style: str) -> tuple[list[str], list[list[str]]]:
    head = ["run", "tags", "model", f"attack success ({style})", f"refusal ({style})", f"over-refusal ({style})",
            "over-refusal (all)", "task", "refusal change vs base"]
    body = []
    for e in entries:
        m = e["metrics"]
        s = m["safety"].get(style, {})
        delta = ((e["res"].get("retention") or {}).get("safety", {}).get(style) or {}).get("refusal_rate", {})
        body.append([e["name"], tags_text(e["tags"]) if e["role"] == "model" else "", short_model(e["model"]),
                     rate(s.get("attack_success_rate")), rate(s.get("refusal_rate")),
                     rate(m.get("over_refusal", {}).get(style)), rate(m.get("over_refusal", {}).get("all")),
                     f"{m['task'].get('metric')} {rate(m['task'])}" if m.get("task") else "n/a",
                     pp(delta.get("delta")) if e["role"] == "model" and delta.get("delta") else ""])
    return head, body


def _examples_of(entries: list[dict[str, Any]], style: str, n: int = N_EXAMPLES) -> list[dict[str, Any]]:
    """Per model and outcome, the first `n` harmful probes (by probe id) in `style` from
    samples.jsonl beside the run's results.json; and up to `n` benign probes it refused.
    Models whose run folder has no samples.jsonl get no examples (results.json holds none)."""
    out = []
    for e in entries:
        d = Path(e["dir"])
        samples = (d if d.is_dir() else d.parent) / "samples.jsonl"
        judge = e["res"].get("primary_judge")
        item: dict[str, Any] = {"name": e["name"], "judge": judge, "available": samples.is_file(), "groups": []}
        if samples.is_file() and judge:
            recs = []
            for line in samples.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("role") == e["role"] and judge in (r.get("judgments") or {}) and "generation" in r:
                    recs.append(r)
            recs.sort(key=lambda r: (str(r.get("probe_id")), str(r.get("id"))))
            styled = [r for r in recs if r.get("style") == style] or recs
            for part, outcome in [("harmful", o) for o in OUTCOMES] + [("benign", "refused")]:
                pool = [r for r in styled if r.get("part") == part and r["judgments"][judge].get("outcome") == outcome]
                if pool:
                    item["groups"].append({"part": part, "outcome": outcome, "count": len(pool), "rows": [
                        {"style": r.get("style"), "request": str(r.get("request", ""))[:300],
                         "response": str(r.get("generation", ""))[:500],
                         "reason": r["judgments"][judge].get("reason") or ""} for r in pool[:n]]})
        out.append(item)
    return out


def _setup_rows(runs: list[dict[str, Any]], style: str) -> list[list[str]]:
    r0 = runs[0]
    cfg = r0.get("config") or {}
    counts = r0.get("counts") or {}
    git = r0.get("git") or {}
    rows = [["headline style", f"{style} ({STYLE_NAMES.get(style, style)})"],
            ["primary judge", str(r0.get("primary_judge"))],
            ["harmful / benign probes per style", f"{counts.get('probes_harmful', 'n/a')} / "
                                                  f"{counts.get('probes_benign', 'n/a')}"],
            ["styles", ", ".join(r0.get("styles") or [])],
            ["max_new_tokens / temperature", f"{cfg.get('max_new_tokens')} / {cfg.get('temperature')}"],
            ["intervals", f"bootstrap 95% over probes ({cfg.get('bootstrap')} resamples); differences: paired"],
            ["git commit", f"{git.get('commit')}" + (" (dirty)" if git.get("dirty") else "")],
            ["created", str(r0.get("created"))]]
    rows += [[k, str(v)] for k, v in (r0.get("versions") or {}).items() if v]
    return rows


# ------------------------------------------------------------------------------ rendering it
_REPORT_CSS = _CSS.replace("max-width:1100px", "max-width:1280px") + """
.wide{overflow-x:auto}#sweep td{white-space:nowrap}
h1{margin-bottom:.2em}.lead{font-size:1.1em;background:#f4f8ff;border-left:4px solid #3a7bd5;padding:.6em .9em}
ul.headline li{margin:.35em 0}figure{margin:1em 0}figcaption{color:#555;font-size:.9em;max-width:900px}
details{margin:.3em 0}summary{cursor:pointer}td.resp{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85em}
nav a{margin-right:1em}"""

_NONE_SENTENCE = "Ratio 0 is the finetune without safety rows (none), where every line starts."
_CAPTIONS = {
    "sweep": "Refusal of harmful probes against the mixing ratio, one panel per probe style, one line per method "
             f"(dashed: controls); bars are bootstrap 95% intervals. {_NONE_SENTENCE} Grey band: the base model "
             "before finetuning (its interval; dotted: its mean).",
    "over_refusal": "Over-refusal: benign probes refused, per style, against the mixing ratio (lower is better). "
                    "Same layout as the sweep plot.",
    "retention": "Task metric against refusal of harmful probes in the headline style (right and up is better). "
                 "Grey square: the base model. Bars: 95% intervals.",
    "pareto": "Task metric against attack success (complied) in the headline style (left and up is better); "
              "the dashed line joins the runs no other run beats on both.",
}


def _md_cell(s: str) -> str:
    return html.escape(str(s), quote=False).replace("|", "\\|").replace("\n", " ")


def render_comparison_markdown(doc: dict[str, Any]) -> str:
    parts = [f"# {doc['title']}", "", f"**{doc['lead']}**", ""]
    parts += ["## Sweep: refused / complied / other per probe style", "",
              SWEEP_TABLE_NOTE + (" " + SEEDS_NOTE if doc.get("seed_groups") else ""), "",
              _md_table(*doc["sweep_table"]), "", STYLE_NOTE, "", "## Plots", ""]
    for name, info in doc["plots"].items():
        parts += [f"![{name}]({info['file']})", "", _caption(name, info), ""]
    for note in doc["plot_notes"]:
        parts += [note, ""]
    parts += ["## Headline per run", ""] + [f"- {s}" for s in doc["headlines"]] + [""]
    parts += ["## Outcomes per style, with intervals", "", _md_table(*doc["outcome_table"]), "",
              "## Runs", "", _md_table(*doc["runs_table"]), "", "## Example generations", "", EXAMPLES_NOTE, ""]
    for item in doc["examples"]:
        if not item["groups"]:
            continue
        for g in item["groups"]:
            parts += [f"<details><summary>{html.escape(item['name'])}: {g['part']} probes judged "
                      f"<b>{g['outcome']}</b> ({g['count']})</summary>", "",
                      _md_table(["style", "request", "response", "judge's reason"],
                                [[_md_cell(r["style"]), _md_cell(r["request"]), _md_cell(r["response"]),
                                  _md_cell(r["reason"])] for r in g["rows"]]), "", "</details>", ""]
    if not any(i["groups"] for i in doc["examples"]):
        parts += ["No samples.jsonl beside these results.json files: no examples to show.", ""]
    parts += ["## Setup", "", _md_table(["item", "value"], doc["setup"]), ""]
    return "\n".join(parts)


SWEEP_TABLE_NOTE = ("Harmful probes per style: refused [bootstrap 95% interval] / complied / other, in %. "
                    "OR: over-refusal, the % of benign probes in that style refused (intervals: the outcomes "
                    "table below).")
EXAMPLES_NOTE = ("A few generations per model and judged outcome, to check the judge (every sample is in the "
                 "run's samples.jsonl). Requests are the probe sets' own text.")


SEEDS_PLOT_NOTE = (" With several seeds, a point is the mean over seeds, its bar spans the lowest to the "
                   "highest seed (min-max across seeds, not a bootstrap interval) and each hollow circle is one "
                   "seed; the sweep table has each seed's bootstrap interval.")


NO_NONE_NOTE = ("Ratio 0 is the finetune without safety rows (none); these runs have none, so the lines "
                "start at their lowest ratio.")


def _caption(name: str, info: dict[str, Any]) -> str:
    text = _CAPTIONS[name]
    if name == "sweep" and info.get("has_none") is False:  # no line starts at 0: do not say so
        text = text.replace(_NONE_SENTENCE, NO_NONE_NOTE)
    return text + (SEEDS_PLOT_NOTE if info.get("seeded") else "") + _unplaced_note(info)


def _unplaced_note(info: dict[str, Any]) -> str:
    left = info.get("unplaced") or []
    return f" Labels left off for lack of room: {', '.join(left)}." if left else ""


def render_comparison_html(doc: dict[str, Any], out: Path) -> str:
    e = html.escape
    p = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(doc['title'])}</title>"
         f"<style>{_REPORT_CSS}</style></head><body>", f"<h1>{e(doc['title'])}</h1>",
         "<nav>" + "".join(f"<a href='#{s}'>{s}</a>" for s in REPORT_SECTIONS) + "</nav>",
         f"<p class='lead' id='lead'>{e(doc['lead'])}</p>",
         "<section id='sweep'><h2>Sweep: refused / complied / other per probe style</h2>"
         f"<p class='note'>{e(SWEEP_TABLE_NOTE)}</p>"
         + (f"<p class='note' id='seeds-note'>{e(SEEDS_NOTE)}</p>" if doc.get("seed_groups") else ""),
         f"<div class='wide'>{_html_table(*doc['sweep_table'])}</div><p class='note'>{e(STYLE_NOTE.replace('`', ''))}"
         "</p></section>",
         "<section id='plots'><h2>Plots</h2>"]
    for name, info in doc["plots"].items():
        p.append(f"<figure id='plot-{name}'>" + _img(out / info["file"], name).removeprefix("<p>").removesuffix("</p>")
                 + f"<figcaption>{e(_caption(name, info))}</figcaption></figure>")
    p += [f"<p class='note'>{e(n)}</p>" for n in doc["plot_notes"]]
    p += ["</section>", "<section id='headline'><h2>Headline per run</h2><ul class='headline'>"
          + "".join(f"<li>{e(s)}</li>" for s in doc["headlines"]) + "</ul></section>",
          "<section id='outcomes'><h2>Outcomes per style, with intervals</h2>",
          _html_table(*doc["outcome_table"]), "</section>",
          "<section id='runs'><h2>Runs</h2><div class='wide'>", _html_table(*doc["runs_table"]), "</div></section>",
          f"<section id='examples'><h2>Example generations</h2><p class='note'>{e(EXAMPLES_NOTE)}</p>"]
    for item in doc["examples"]:
        for g in item["groups"]:
            rows = "".join(f"<tr><td>{e(str(r['style']))}</td><td>{e(r['request'])}</td>"
                           f"<td class='resp'>{e(r['response'])}</td><td>{e(r['reason'])}</td></tr>"
                           for r in g["rows"])
            p.append(f"<details><summary>{e(item['name'])}: {e(g['part'])} probes judged <b>{e(g['outcome'])}"
                     f"</b> ({g['count']})</summary><table><thead><tr><th>style</th><th>request</th>"
                     f"<th>response</th><th>judge's reason</th></tr></thead><tbody>{rows}</tbody></table></details>")
    if not any(i["groups"] for i in doc["examples"]):
        p.append("<p>No samples.jsonl beside these results.json files: no examples to show.</p>")
    p += ["</section>", "<section id='setup'><h2>Setup</h2>", _html_table(["item", "value"], doc["setup"]),
          "</section></body></html>"]
    return "\n".join(p)


def _check_comparison_paths(run_dirs: list[str | Path], out: Path) -> None:
    """The shared output guard: the report folder and files may not hold any run's results."""
    from safemix.outputs import OutputGuard

    g = OutputGuard("report")
    for d in run_dirs:
        g.input(Path(d) / "results.json" if Path(d).is_dir() else d, sidecars=False)
    g.folder(out).manifest(out / "comparison.json")
    g.file(out / "comparison.md", out / "comparison.html", out / "sweep.md",
           *(out / f for f in PLOT_FILES.values())).check()


def _comparison_table(entries: list[dict[str, Any]], labels: list[str], style: str) -> list[dict[str, Any]]:
    """comparison.json's table: one row per run, then its base model (once per base), as before;
    `name` is the display name the report uses."""
    table = []
    by_input = sorted(entries, key=lambda e: (labels.index(e["label"]), e["role"] == "base"))
    for e in by_input:
        m = e["metrics"]
        s = m["safety"].get(style, {})
        ret = (e["res"].get("retention") or {}).get("safety", {}).get(style, {})
        table.append({"run": e["label"] if e["role"] == "model" else f"base: {e['model']}", "name": e["name"],
                      "role": e["role"], "method": e["method"], "ratio": e["ratio"], "tags": e["tags"],
                      "model": e["model"], "asr": s.get("attack_success_rate"), "refusal": s.get("refusal_rate"),
                      "over_refusal": m["over_refusal"].get("all"), "over_refusal_style": m["over_refusal"].get(style),
                      "task": m.get("task"),
                      "refusal_delta": ret.get("refusal_rate", {}).get("delta") if e["role"] == "model" else None})
    return table


def _sweep_plots(rows: list[dict[str, Any]], out: Path, plots: dict[str, dict[str, Any]], notes: list[str]) -> None:
    """sweep.png (refusal of harmful probes) and over_refusal.png (benign probes refused) against
    the mixing ratio, into `plots`; a note when there is no sweep to draw."""
    harm_styles = [s for s in SWEEP_STYLES[:-1] if any(s in r["styles"] for r in rows)] or ["all"]
    info = plot_sweep(rows, out / PLOT_FILES["sweep"], harm_styles,
                      lambda r, s: (r["styles"].get(s) or {}).get("refusal_rate"),
                      "harmful probes refused", "Refusal of harmful probes vs mixing ratio")
    if info:
        plots["sweep"] = {"file": PLOT_FILES["sweep"], **info}
    else:
        notes.append("No sweep plot: no run has a method and a mixing ratio (tags from `safemix run`, or a "
                     "label such as template-0.1).")
    ben_styles = [s for s in SWEEP_STYLES[:-1] if any(s in r["over_refusal_styles"] for r in rows)] or ["all"]
    info = plot_sweep(rows, out / PLOT_FILES["over_refusal"], ben_styles,
                      lambda r, s: r["over_refusal_styles"].get(s) if s != "all" else r["over_refusal"],
                      "benign probes refused", "Over-refusal vs mixing ratio")
    if info:
        plots["over_refusal"] = {"file": PLOT_FILES["over_refusal"], **info}


def _tradeoff_plots(entries: list[dict[str, Any]], out: Path, style: str, n_runs: int,
                    plots: dict[str, dict[str, Any]]) -> None:
    """retention.png (task against refusal) and pareto.png (task against attack success) in
    `style`, into `plots`, where the runs have the numbers for them."""
    ylabels = {(e["metrics"].get("task") or {}).get("metric") for e in entries if e["metrics"].get("task")}
    ylabel = f"task {ylabels.pop()}" if len(ylabels) == 1 else "task metric"
    ret_pts, asr_pts = [], []
    for e in entries:
        s = e["metrics"]["safety"].get(style)
        t = e["metrics"].get("task")
        if s and t and t.get("mean") is not None:
            ret_pts.append({"label": e["name"], "x": s["refusal_rate"], "y": t, "method": e["method"],
                            "base": e["role"] == "base"})
        tp = tradeoff_point(e["res"], e["role"], style)
        if tp:
            asr_pts.append({"label": e["name"], "x": tp[0], "y": tp[1], "method": e["method"],
                            "base": e["role"] == "base", "ylabel": tp[2]})
    if ret_pts:
        geo = plot_tradeoff(ret_pts, out / PLOT_FILES["retention"],
                            f"harmful probes refused, {style} (higher is safer)", f"{ylabel} (higher is better)",
                            f"Task vs refusal ({style}): safety retention", front="high")
        plots["retention"] = {"file": PLOT_FILES["retention"], **geo}
    if asr_pts:
        asr_y = {p.pop("ylabel") for p in asr_pts}
        geo = plot_tradeoff(asr_pts, out / PLOT_FILES["pareto"], f"attack success, {style} (complied; lower is safer)",
                            f"{asr_y.pop() if len(asr_y) == 1 else 'task metric / benign answered'} (higher is better)",
                            f"Task vs attack success ({style}), {n_runs} runs", front="low")
        plots["pareto"] = {"file": PLOT_FILES["pareto"], **geo}


def _write_comparison(doc: dict[str, Any], table: list[dict[str, Any]], style: str, dirs: list[Path],
                      out: Path) -> dict[str, Path]:
    """comparison.json, sweep.md, comparison.md and comparison.html; returns every path written."""
    from safemix import __version__

    plots = doc["plots"]
    write_json(out / "comparison.json", {"schema_version": SCHEMA_VERSION, "safemix_version": __version__,
                                         "style": style, "title": doc["title"], "lead": doc["lead"],
                                         "headlines": doc["headlines"], "runs": table, "plots": plots,
                                         "seed_groups": doc["seed_groups"]})
    write_sweep_table(dirs, out / "sweep.md")
    paths = {"json": out / "comparison.json", "md": out / "comparison.md", "html": out / "comparison.html",
             "sweep": out / "sweep.md"}
    for name, info in plots.items():
        paths["plot" if name == "pareto" else f"{name}_plot"] = out / info["file"]
    with atomic_write(paths["md"]) as f:
        f.write(render_comparison_markdown(doc))
    with atomic_write(paths["html"]) as f:
        f.write(render_comparison_html(doc, out))
    return paths


def compare_runs(run_dirs: list[str | Path], out: str | Path, style: str = "all",
                 title: str | None = None) -> dict[str, Path]:
    """The report over several eval runs, from their results.json (and samples.jsonl for the
    examples): comparison.html (self-contained: plots embedded, opens from disk offline),
    comparison.md, comparison.json (the table, the headline sentences and each plot's label
    boxes), sweep.md and the plots sweep.png, over_refusal.png, retention.png and pareto.png.
    `style` is the probe style of the headline, the runs table and the two trade-off plots."""
    runs = [load_results(d) for d in run_dirs]
    dirs = [Path(d) if Path(d).is_dir() else Path(d).parent for d in run_dirs]
    out = Path(out)
    _check_comparison_paths(run_dirs, out)
    out.mkdir(parents=True, exist_ok=True)
    labels = [r["label"] for r in runs]
    if len(set(labels)) < len(labels):  # same folder names: make them unique by position
        labels = [f"{lab} ({i + 1})" for i, lab in enumerate(labels)]
    entries = _entries(runs, labels, dirs)
    table = _comparison_table(entries, labels, style)

    rows = _rows_of(entries)
    plots: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    _sweep_plots(rows, out, plots, notes)
    _tradeoff_plots(entries, out, style, len(runs), plots)
    for name, f in PLOT_FILES.items():  # a plot this report cannot draw is not left over from an earlier one
        if name not in plots:
            (out / f).unlink(missing_ok=True)

    key = style if any(style in e["metrics"]["safety"] for e in entries) else "all"
    base = next((e for e in entries if e["role"] == "base"), None)
    none = next((e for e in entries if e["method"] == "none"), None)
    doc = {"title": title or "safemix report", "style": key, "lead": lead_sentence(entries, key),
           "headlines": [headline_sentence(e, key, base, none) for e in entries],
           "sweep_table": _sweep_table(entries), "outcome_table": _outcome_table(entries),
           "runs_table": _runs_table(entries, key), "examples": _examples_of(entries, key if key != "all" else "job"),
           "setup": _setup_rows(runs, key), "plots": plots, "plot_notes": notes, "seed_groups": seed_groups(rows)}
    return _write_comparison(doc, table, style, dirs, out)
