"""`safemix train RECIPE [key=value ...]`: finetune a model on a (mixed) job (the recipe's
`train:` section, then overrides; `train.` prefixes are optional)."""

from __future__ import annotations

import argparse
import sys

from safemix.cli.common import add_recipe_args, config_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="Finetune a model on a (mixed) job: LoRA/full, DeepSpeed ZeRO, resumable.",
        description="Finetune with TRL SFTTrainer + PEFT (+ DeepSpeed). Reads the `train:` section "
        "of RECIPE; overrides are key=value (train. prefix optional), e.g. max_steps=20 "
        "deepspeed=zero3. Run under torchrun/deepspeed for several processes (see `safemix launch`).")
    add_recipe_args(p, required=True, recipe_help="Recipe YAML (a path or a shipped recipe name).",
                    overrides_help="Dotted key=value overrides of the train section.")
    p.add_argument("--debug-masking", action="store_true",
                   help="Show which tokens of a few examples are trained (green) and check all "
                   "examples' masking; loads only the tokenizer, trains nothing.")
    config_flag(p, "debug_masking_examples", "-n", "--examples", type=int, metavar="EXAMPLES",
                help="With --debug-masking: how many examples to show (default: the recipe's "
                "debug_masking_examples).")
    p.add_argument("--tokens", action="store_true", help="With --debug-masking: also list tokens one per line.")
    p.add_argument("--no-color", action="store_true", help="Mark trained text with «...» instead of colour.")
    # The deepspeed launcher appends --local_rank=N; the rank is read from the environment.
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def load_train_config(args: argparse.Namespace):
    from safemix.cli.common import load_verb_config
    from safemix.train.config import TrainConfig

    return load_verb_config(args, TrainConfig, "train")


def run(args: argparse.Namespace) -> int:
    cfg = load_train_config(args)
    if args.debug_masking:
        return debug_masking(cfg, cfg.debug_masking_examples,
                             color=not args.no_color and sys.stdout.isatty(), tokens=args.tokens)
    from safemix.train.trainer import MANIFEST_FILE, run_training

    manifest = run_training(cfg)
    from safemix.train.distributed import is_main_process

    if is_main_process():
        loss = (f"loss {manifest['first_loss']:.4f} -> {manifest['last_loss']:.4f}"
                if manifest["first_loss"] is not None else "no loss logged")
        print(f"trained {manifest['global_step']} steps ({loss}); model: {cfg.output_dir}/model "
              f"(manifest: {cfg.output_dir}/model/{MANIFEST_FILE})")
    return 0


def debug_masking(cfg, n: int, color: bool = True, tokens: bool = False, out=None) -> int:
    """Print the masking of the first `n` examples, then check every example."""
    from safemix.train.data import (
        GREEN,
        GREY,
        RESET,
        read_training_examples,
        render_masking,
        token_table,
        tokenize_examples,
        verify_masking,
    )
    from safemix.train.trainer import check_paths, load_train_tokenizer

    out = out or sys.stdout
    check_paths(cfg)
    tok = load_train_tokenizer(cfg)
    examples = read_training_examples(cfg.data, cfg.data_format, cfg.column_map)
    tokenized = tokenize_examples(tok, examples, cfg.masking, cfg.max_seq_length)
    legend = (f"{GREEN}trained{RESET} {GREY}not trained{RESET}" if color
              else "«trained» not trained")
    print(f"masking={cfg.masking}  max_seq_length={cfg.max_seq_length}  legend: {legend}", file=out)
    for ex, t in list(zip(examples, tokenized, strict=True))[:n]:
        print(f"\n--- {ex.path}:{ex.line}  {t.n_trained}/{len(t.input_ids)} tokens trained", file=out)
        print(render_masking(tok, t, color=color), file=out)
        if tokens:
            print(token_table(tok, t), file=out)
    keep = verify_masking(tok, examples, tokenized, cfg.masking, cfg.max_seq_length, cfg.on_untrainable)
    n_tok = sum(len(tokenized[i].input_ids) for i in keep)
    n_tr = sum(tokenized[i].n_trained for i in keep)
    print(f"\nmasking check OK: {len(keep)} examples ({len(examples) - len(keep)} dropped), "
          f"{n_tr}/{n_tok} tokens trained ({n_tr / max(n_tok, 1):.1%})", file=out)
    return 0
