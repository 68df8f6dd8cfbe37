"""Print the repository's file tree with one line per file (for the README).

    .venv/bin/python scripts/file_tree.py > /tmp/tree.md

The line is the file's module docstring (first sentence), its first comment, or a
description from DESCRIPTIONS for data files.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DESCRIPTIONS = {
    ".ci/run": "CI entry point: exactly the README's test command",
    ".gitignore": "ignored: venv, caches, run outputs, model files",
    "pyproject.toml": "package metadata, extras (data, ml, dev), ruff and pytest config",
    "README.md": "this file",
}


def describe(path: Path) -> str:
    rel = str(path.relative_to(REPO))
    if rel in DESCRIPTIONS:
        return DESCRIPTIONS[rel]
    text = path.read_text(encoding="utf-8", errors="replace") if path.stat().st_size < 2_000_000 else ""
    if path.suffix == ".py":
        try:
            doc = ast.get_docstring(ast.parse(text))
        except SyntaxError:
            doc = None
        if doc:
            return doc.strip().split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
    for line in text.splitlines()[:5]:
        s = line.strip()
        if s.startswith("#") and not s.startswith("#!") and len(s) > 3:
            return s.lstrip("# ").rstrip(".")
    if path.suffix in (".jsonl", ".json"):
        return f"data ({sum(1 for _ in text.splitlines())} lines)"
    return ""


def main() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    print("```")
    for f in sorted(files):
        d = describe(REPO / f)
        print(f"{f:56s} {d}"[:150].rstrip())
    print("```")


if __name__ == "__main__":
    main()
