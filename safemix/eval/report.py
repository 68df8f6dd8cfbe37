"""Results and reports: `results.json` first; Markdown, HTML and plots are rendered from it.

- `compute_results(records, cfg, meta)` — rates with bootstrap 95% intervals, per style,
  per category, over-refusal, task metric, retention deltas (finetuned - base, paired
  bootstrap over probes), judge agreement and disagreements, versions and git hash.
- `write_reports(results, records, out)` — results.json, report.md, report.html, plots/*.png.
- `compare_runs(run_dirs, out)` — one table and one Pareto plot (task metric against attack
  success rate) over several runs: methods and mixing ratios side by side.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import subprocess
import time
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
    """The whole results.json document."""
    roles = [r for r in ("model", "base") if any(x["role"] == r for x in records)]
    styles = list(dict.fromkeys(r["style"] for r in records if r["part"] != "task"))
    metrics = {role: _role_metrics([r for r in records if r["role"] == role], styles, cfg.judges,
                                   cfg.bootstrap, cfg.seed, meta.get("task_metric")) for role in roles}
    res: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": "safemix.eval",
        "label": cfg.label or Path(cfg.output_dir).name, "tags": dict(cfg.tags),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": git_info(), "versions": versions(),
        **meta, "styles": styles, "primary_judge": cfg.judges[0], "metrics": metrics,
    }
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


def _tables(res: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, tuple[str, list[str], list[list[str]], str]]:
    """section id -> (title, header, rows, note). Shared by Markdown and HTML."""
    m, roles = res["metrics"], list(res["metrics"])
    t: dict[str, tuple[str, list[str], list[list[str]], str]] = {}
    rows = []
    for role in roles:
        s = m[role]["safety"].get("all", {})
        rows.append([role, res["models"].get(role, {}).get("model", ""), pct(s.get("attack_success_rate")),
                     pct(s.get("refusal_rate")), pct(m[role]["over_refusal"].get("all")),
                     pct(m[role].get("task")) if "task" in m[role] else "n/a"])
    t["summary"] = ("Summary", ["model", "name", "attack success (all styles)", "refusal (all styles)",
                                "over-refusal", f"task ({res.get('task_metric') or 'none'})"], rows,
                    f"Primary judge: {res['primary_judge']}. Brackets: bootstrap 95% intervals.")
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
            ["tags", json.dumps(res.get("tags") or {})]]
    t["setup"] = ("Setup", ["item", "value"], rows, "")
    if "retention" in res:
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
        t["retention"] = ("Safety retention (base -> finetuned)", ["style", "refusal base", "refusal finetuned",
                          "refusal delta", "ASR base", "ASR finetuned", "ASR delta"], rows, note)
    else:
        t["retention"] = ("Safety retention (base -> finetuned)", ["note"],
                          [["No base model was evaluated (set eval.base_model for retention)."]], "")
    rows = [[role, st, pct(v["refusal_rate"]), pct(v["attack_success_rate"]), pct(v["other_rate"]), str(v["n"])]
            for role in roles for st, v in m[role]["safety"].items()]
    t["styles"] = ("Harmful probes by style", ["model", "style", "refused", "complied (ASR)", "other", "n"], rows,
                   "job = the job's own format; job_heldout = a held-out paraphrase of it; chat = plain turn; "
                   "aoa = identity shift; job_aoa = both.")
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
    j = res["judges"]
    rows = [[name, str(c["refused"]), str(c["complied"]), str(c["other"])] for name, c in j["counts"].items()]
    note = ""
    if "agreement" in j:
        note = "Agreement: " + "; ".join(
            f"{p['a']} vs {p['b']}: {100 * p['agreement']:.1f}% (kappa {p['kappa']:.2f})" if p["kappa"] is not None
            else f"{p['a']} vs {p['b']}: n/a" for p in j["agreement"])
    t["judges"] = ("Judges", ["judge", "refused", "complied", "other"], rows, note or "One judge (no agreement to report).")
    rows = [[d["role"], d["style"], d["request"][:120], d["response"][:200],
             ", ".join(f"{k}={v}" for k, v in d["outcomes"].items())] for d in j.get("disagreements", [])[:50]]
    t["disagreements"] = ("Judge disagreements", ["model", "style", "request", "response", "outcomes"],
                          rows or [["-", "-", "-", "-", "none"]],
                          f"{j.get('n_disagreements', 0)} in total; the first 50 shown (all in results.json, up to {MAX_DISAGREEMENTS}).")
    ex = _examples(records, res["primary_judge"])
    t["examples"] = ("Example responses", ["model", "style", "outcome", "request", "response"], ex,
                     "One sample per model, style and outcome; every sample is in samples.jsonl.")
    v = res["versions"]
    rows = [["git commit", f"{res['git'].get('commit')}" + (" (dirty)" if res["git"].get("dirty") else "")],
            ["created", res["created"]], ["schema version", str(res["schema_version"])],
            ["seconds", str(res.get("seconds"))]] + [[k, str(val)] for k, val in v.items()]
    t["reproducibility"] = ("Reproducibility", ["item", "value"], rows, "The full configuration is in results.json.")
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


def plot_pareto(points: list[tuple[str, dict, dict, bool]], ylabel: str, path: Path, title: str) -> None:
    """Utility against attack success; `points` = (label, asr ci, utility ci, is_base).
    The non-dominated points (lower ASR, higher utility) are joined: the Pareto front."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for label, asr, util, is_base in points:
        ax.errorbar([asr["mean"]], [util["mean"]], xerr=[[v] for v in _err(asr)], yerr=[[v] for v in _err(util)],
                    fmt="s" if is_base else "o", color="grey" if is_base else None, capsize=3, alpha=0.9)
        ax.annotate(label, (asr["mean"], util["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    front = sorted((p for p in points if not p[3]), key=lambda p: (p[1]["mean"], -p[2]["mean"]))
    xs, ys, best = [], [], -1.0
    for _, asr, util, _ in front:
        if util["mean"] > best:
            xs.append(asr["mean"])
            ys.append(util["mean"])
            best = util["mean"]
    if len(xs) > 1:
        ax.step(xs, ys, where="post", linestyle="--", color="black", linewidth=1, label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("attack success rate (lower is safer)")
    ax.set_ylabel(f"{ylabel} (higher is better)")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _before_after_bars(res: dict[str, Any], groups: list[str], ci_of, path: Path, ylabel: str, title: str,
                       color: str, wide: bool) -> None:
    """Grouped bars, base then finetuned, of `ci_of(role_metrics, group)` with their intervals."""
    plt = _plt()
    import numpy as np

    roles = sorted(res["metrics"], key=lambda r: r != "base")  # before, then after
    size = (max(6.0, 0.55 * len(groups) + 2), 4.4) if wide else (6.4, 4.0)
    fig, ax = plt.subplots(figsize=size)
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
    fig.savefig(path, dpi=110)
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
    out = Path(out)
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


def compare_runs(run_dirs: list[str | Path], out: str | Path, style: str = "all") -> dict[str, Path]:
    """One table (Markdown, HTML, JSON) and one Pareto plot over several eval runs."""
    from safemix import __version__
    from safemix.outputs import OutputGuard

    runs = [load_results(d) for d in run_dirs]
    out = Path(out)
    g = OutputGuard("report")
    for d in run_dirs:
        g.input(Path(d) / "results.json" if Path(d).is_dir() else d, sidecars=False)
    g.folder(out).manifest(out / "comparison.json")
    g.file(out / "comparison.md", out / "comparison.html", out / "pareto.png").check()
    out.mkdir(parents=True, exist_ok=True)
    labels = [r["label"] for r in runs]
    if len(set(labels)) < len(labels):  # same folder names: make them unique by position
        labels = [f"{lab} ({i + 1})" for i, lab in enumerate(labels)]
    header = ["run", "tags", "model", f"ASR ({style})", f"refusal ({style})", f"over-refusal ({style})",
              "over-refusal (all)", "task", "refusal delta vs base"]
    rows, table, points, ylabels = [], [], [], set()
    bases_seen: set[str] = set()
    for lab, r in zip(labels, runs, strict=True):
        for role in ("model", "base"):
            m = r["metrics"].get(role)
            if not m:
                continue
            name = r["models"].get(role, {}).get("model") or role
            if role == "base":
                if name in bases_seen:
                    continue  # the same base model in several runs: one row and one point
                bases_seen.add(name)
            s = m["safety"].get(style, {})
            ret = r.get("retention", {}).get("safety", {}).get(style, {})
            row = {"run": lab if role == "model" else f"base: {name}", "tags": r.get("tags", {}), "model": name,
                   "asr": s.get("attack_success_rate"), "refusal": s.get("refusal_rate"),
                   "over_refusal": m["over_refusal"].get("all"), "over_refusal_style": m["over_refusal"].get(style),
                   "task": m.get("task"),
                   "refusal_delta": ret.get("refusal_rate", {}).get("delta") if role == "model" else None}
            table.append(row)
            rows.append([row["run"], json.dumps(row["tags"]) if row["tags"] else "", str(name), pct(row["asr"]),
                         pct(row["refusal"]), pct(row["over_refusal_style"]), pct(row["over_refusal"]),
                         f"{m['task']['metric']} {pct(m['task'])}" if "task" in m else "n/a",
                         pp(row["refusal_delta"]) if row["refusal_delta"] else ""])
            tp = tradeoff_point(r, role, style)
            if tp:
                points.append((row["run"], tp[0], tp[1], role == "base"))
                ylabels.add(tp[2])
    write_json(out / "comparison.json", {"schema_version": SCHEMA_VERSION, "safemix_version": __version__,
                                         "style": style, "runs": table})
    paths = {"json": out / "comparison.json", "md": out / "comparison.md", "html": out / "comparison.html"}
    if points:
        paths["plot"] = out / "pareto.png"
        ylabel = ylabels.pop() if len(ylabels) == 1 else "task metric / benign answered"
        plot_pareto(points, ylabel, paths["plot"], f"Task vs attack success ({style}), {len(runs)} runs")
    md = ["# safemix comparison", "", _md_table(header, rows), ""]
    if "plot" in paths:
        md += ["![pareto](pareto.png)", ""]
    with atomic_write(paths["md"]) as f:
        f.write("\n".join(md))
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>safemix comparison</title><style>{_CSS}"
            f"</style></head><body><h1>safemix comparison</h1><section id='comparison'>{_html_table(header, rows)}"
            + (_img(paths["plot"], "pareto") if "plot" in paths else "") + "</section></body></html>")
    with atomic_write(paths["html"]) as f:
        f.write(body)
    return paths
