"""`safemix serve [CONFIG.yaml] [key=value ...] [--host 127.0.0.1] [--port 8000]`: the
OpenAI-compatible fine-tuning API (files, fine-tuning jobs, events, checkpoints, safety, chat
completions on released models) on uvicorn. Jobs are run by `safemix worker`."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="Serve the OpenAI-compatible fine-tuning API (jobs go through wrap).",
                       description="Run the OpenAI-compatible fine-tuning API: POST/GET /v1/files, "
                       "/v1/fine_tuning/jobs (+ cancel, events, checkpoints, safety), /v1/chat/completions on "
                       "released models, /v1/models. Point any OpenAI client at http://HOST:PORT/v1 with a key from "
                       "`safemix keys create ORG`. Jobs are claimed and run by `safemix worker` on the same "
                       "settings (database, files, runs, audit log).")
    add_recipe_args(p, required=False, metavar="CONFIG", recipe_help="The service settings (YAML; default: "
                    "everything under ~/.safemix/service).",
                    overrides_help="key=value overrides of the settings (e.g. home=/srv/safemix "
                    "database_url=postgresql+psycopg://...).")
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    p.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000).")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.errors import require

    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    from safemix.cli.common import recipe_and_overrides
    from safemix.service.api import create_app
    from safemix.service.settings import load_settings

    recipe, overrides = recipe_and_overrides(args)
    settings = load_settings(recipe, overrides)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
