"""Build the embedding judge's shipped training data from the labelled development sets.

    python scripts/build_judge_train.py            # writes safemix/eval/data/judge_train_v2.jsonl
    python scripts/build_judge_train.py --check    # exit 1 if the shipped file is out of date

Concatenates the development sets under tests/data (`judge_labels.jsonl`, then
`judge_labels_dev2.jsonl`, both written by the project, then `judge_labels_dev3_smollm2.jsonl`,
real SmolLM2 answers from the 3-epoch sweep labelled blind), in file order, into records `{id, source, kind, request, response,
label}`. All are development sets labelled by the project (see
safemix/eval/README.md); no held-out or blind set may be added here. The file ships inside the
package so that the judge works from a wheel. Changing it changes the judge's cache key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("judge_labels.jsonl", "judge_labels_dev2.jsonl", "judge_labels_dev3_smollm2.jsonl")
OUT = REPO / "safemix" / "eval" / "data" / "judge_train_v2.jsonl"
FIELDS = ("id", "source", "kind", "request", "response", "label")


def build() -> str:
    lines = []
    for name in SOURCES:
        assert "heldout" not in name and "blind" not in name, name
        for line in (REPO / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = {**json.loads(line), "source": name}
                lines.append(json.dumps({k: row[k] for k in FIELDS if k in row}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="Only check that the shipped file is up to date.")
    args = ap.parse_args(argv)
    text = build()
    if args.check:
        ok = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(REPO)}: {'up to date' if ok else 'OUT OF DATE: rerun scripts/build_judge_train.py'}")
        return 0 if ok else 1
    sys.path.insert(0, str(REPO))
    from safemix.utils import atomic_write

    with atomic_write(OUT) as f:
        f.write(text)
    print(f"wrote {OUT.relative_to(REPO)}: {text.count(chr(10))} records from {', '.join(SOURCES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
