"""`safemix wrap JOB.json --policy POLICY.yaml`: a provider's gate around a customer's finetuning
job (validate, screen, mitigate, train, evaluate, verdict; every event in the audit log). Exits
0 when the model is released, 3 when the job is held, 2 on bad input."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("wrap", help="Gate a customer's finetuning job: screen, mitigate, train, evaluate, verdict.",
                       description="Validate an OpenAI fine-tuning job body (JOB.json), screen its training file "
                       "(the data gate), train it with the policy's mitigation through the pipeline, evaluate the "
                       "model against the policy's limits (the model gate) and print the verdict, released or held, "
                       "with each reason's evidence. Rerunning on the same job resumes. Exit status: 0 released, "
                       "3 held, 2 bad input.")
    add_recipe_args(p, required=True, metavar="JOB", recipe_help="The job body: a JSON file (OpenAI POST /v1/fine_tuning/jobs); "
                    "its files are paths relative to it.",
                    overrides_help="key=value overrides of the policy (e.g. mitigation.method=none).")
    p.add_argument("--policy", default=None, metavar="POLICY.yaml",
                   help="The provider's policy (default: the built-in defaults; example: "
                   "safemix/provider/policy.example.yaml).")
    p.add_argument("--audit", default=None, metavar="LOG", help="Append the job's events to this JSONL audit log.")
    p.add_argument("--out", default=None, metavar="DIR", help="Folder of the jobs' run folders (default runs/wrap).")
    p.add_argument("--json", default=None, metavar="OUT", help="Write the verdict as JSON to OUT.")
    p.add_argument("--verify", action="store_true", help="Only verify the audit log given as JOB (its hash chain).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.provider.wrap import wrap

    if args.verify:
        from safemix.provider.audit import verify

        v = verify(args.recipe)
        print(f"{args.recipe}: {v}")
        return 0 if v.ok else 3
    from safemix.provider.policy import load_policy

    policy = load_policy(args.policy, list(args.overrides or []))
    res = wrap(args.recipe, policy, audit=args.audit, out=args.out)
    if args.json:
        from safemix.utils import write_json

        write_json(args.json, res.to_dict())
    print(res.summary())
    return res.exit_code
