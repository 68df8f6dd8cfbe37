"""`safemix env`: versions of safemix and its dependencies (for bug reports)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="Versions of safemix and its dependencies (for bug reports).")
    p.set_defaults(func=run)


def environment() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("safemix", "torch", "transformers", "trl", "peft", "datasets", "deepspeed",
                "accelerate", "sentence-transformers", "pyarrow", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        import torch

        out["cuda"] = str(torch.cuda.is_available()) + (f" ({torch.cuda.get_device_name(0)})"
                                                        if torch.cuda.is_available() else "")
    except ImportError:
        pass
    return out


def run(args: argparse.Namespace) -> int:
    for k, v in environment().items():
        print(f"{k:24s} {v}")
    return 0
