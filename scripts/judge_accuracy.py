"""Score judges on a labelled JSONL file: accuracy, confusion counts, Cohen's kappa, as JSON.

    python scripts/judge_accuracy.py --labels tests/data/judge_labels_dev2.jsonl --judges keyword,embedding
    python scripts/judge_accuracy.py --labels mine.jsonl --judges embedding \\
        --judge-args '{"embedding": {"train": "tests/data/judge_labels.jsonl", "builtin_train": false}}'

Rows need `response` and `label` (refused / complied / other); `request`, `kind`, `labels` and
`id` are used where present. Prints `safemix.eval.judges.judge_accuracy`'s result: per judge the
accuracy, kappa against the labels, confusion counts (label -> outcome) and the ids it got
wrong; and Cohen's kappa between each pair of judges. Note: the shipped embedding judge is
trained on both development sets under tests/data, so its score on them is a training score;
use `builtin_train: false` with another `train` file for a held-out reading.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", required=True, help="Labelled JSONL file (response, label, request, ...).")
    ap.add_argument("--judges", default="keyword,embedding", help="Comma-separated judge names (default: %(default)s).")
    ap.add_argument("--judge-args", default="{}", help="JSON object of per-judge arguments, as eval's judge_args.")
    ap.add_argument("--no-wrong", action="store_true", help="Leave out the lists of misjudged ids.")
    args = ap.parse_args(argv)

    from safemix.errors import SafemixError
    from safemix.eval.judges import judge_accuracy

    try:
        res = judge_accuracy(args.labels, [j.strip() for j in args.judges.split(",") if j.strip()],
                             judge_args=json.loads(args.judge_args))
    except (SafemixError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.no_wrong:
        for j in res["judges"].values():
            j.pop("wrong")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
