__version__ = "0.1.0"

# Stage entry points, imported on first use so `import safemix` stays instant.
# `safemix.mix` is the stage's package and is itself callable: safemix.mix(job, safety, ratio=0.05).
_LAZY = {"mix": "safemix.mix"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(_LAZY[name])
    raise AttributeError(f"module 'safemix' has no attribute {name!r}")
