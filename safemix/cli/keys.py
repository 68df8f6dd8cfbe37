"""`safemix keys`: API keys of the fine-tuning service (`safemix serve`).

    safemix keys create ORG [CONFIG.yaml] [key=value ...] [--name NAME]   a new key, printed once
    safemix keys list [CONFIG.yaml] [key=value ...] [--org ORG]           prefixes only
    safemix keys revoke PREFIX [CONFIG.yaml] [key=value ...]

CONFIG.yaml and key=value are the service's settings (`safemix serve`'s: home, database_url,
...). `create` makes the organization when it does not exist. Keys are stored as sha256 hashes:
the plaintext is shown once, by `create`.
"""

from __future__ import annotations

import argparse
import sys

from safemix.cli.common import add_recipe_args

_CONFIG_HELP = "The service's settings (YAML; `safemix serve`'s), or the first key=value."
_OVERRIDES_HELP = "key=value settings (e.g. home=/srv/safemix, database_url=postgresql+psycopg://...)."


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys of the fine-tuning service: create, list, revoke.",
                       description="Manage the API keys of `safemix serve`. A key belongs to one "
                       "organization and sees only that organization's files, jobs and models.")
    p.set_defaults(func=lambda args: _no_action(p))
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    c = ks.add_parser("create", help="Create a key (and the organization, when new); prints it once.")
    c.add_argument("org", metavar="ORG", help="Organization name.")
    add_recipe_args(c, required=False, recipe_help=_CONFIG_HELP, overrides_help=_OVERRIDES_HELP,
                    metavar="CONFIG.yaml")
    c.add_argument("--name", default="default", help="The key's name (default: default).")
    c.set_defaults(func=run_create)
    ls = ks.add_parser("list", help="List keys: prefix, organization, name, created, revoked.")
    add_recipe_args(ls, required=False, recipe_help=_CONFIG_HELP, overrides_help=_OVERRIDES_HELP,
                    metavar="CONFIG.yaml")
    ls.add_argument("--org", default=None, help="Only this organization's keys.")
    ls.set_defaults(func=run_list)
    r = ks.add_parser("revoke", help="Revoke a key, named by its prefix (as `keys list` shows it).")
    r.add_argument("prefix", metavar="PREFIX", help="The key's prefix (sk-sm-XXXXXXXX) or id.")
    add_recipe_args(r, required=False, recipe_help=_CONFIG_HELP, overrides_help=_OVERRIDES_HELP,
                    metavar="CONFIG.yaml")
    r.set_defaults(func=run_revoke)


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _store(args: argparse.Namespace):
    from safemix.cli.common import load_verb_config
    from safemix.errors import require

    require("sqlalchemy", "serve")
    require("alembic", "serve")
    from safemix.service.settings import ServiceSettings
    from safemix.service.store import Store

    return Store.from_settings(load_verb_config(args, ServiceSettings))


def run_create(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        org = store.find_org(args.org) or store.create_org(args.org)
        key = store.create_api_key(org["id"], args.name)
    finally:
        store.close()
    print(f"organization {org['name']} ({org['id']}): new key {args.name!r}; it is shown once, "
          "keep it now", file=sys.stderr)
    print(key)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError

    store = _store(args)
    try:
        orgs = {o["id"]: o["name"] for o in store.list_orgs()}
        org_id = None
        if args.org is not None:
            org = store.find_org(args.org)
            if org is None:
                raise ConfigError(f"no organization {args.org!r}")
            org_id = org["id"]
        keys = store.list_api_keys(org_id)
    finally:
        store.close()
    import time

    print(f"{'PREFIX':<16} {'ORGANIZATION':<24} {'NAME':<16} {'CREATED (UTC)':<20} STATUS")
    for k in keys:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(k["created_at"]))
        status = "revoked" if k["revoked"] else "active"
        print(f"sk-sm-{k['prefix']:<10} {orgs.get(k['org_id'], k['org_id']):<24} {k['name']:<16} "
              f"{created:<20} {status}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError

    store = _store(args)
    try:
        n = store.revoke_api_key(args.prefix)
    finally:
        store.close()
    if n == 0:
        raise ConfigError(f"no active key {args.prefix!r} (`safemix keys list` shows the prefixes)")
    print(f"revoked {n} key(s) {args.prefix}")
    return 0
