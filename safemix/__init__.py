__version__ = "0.1.0"

# Stage entry points, imported on first use so `import safemix` stays instant.
# `safemix.mix` is the stage's package and is itself callable: safemix.mix(job, safety, ratio=0.05).
_LAZY = {"mix": "safemix.mix", "generate": "safemix.generate", "attacks": "safemix.provider.attacks"}
# Functions exported from a stage module: name -> (module, attribute).
_LAZY_ATTRS = {"evaluate": ("safemix.eval.core", "evaluate"),
               "profile": ("safemix.formats.profile", "profile_job"),
               "Example": ("safemix.formats.example", "Example"),
               "read_job": ("safemix.formats.io", "read_job"),
               "screen": ("safemix.provider.screen", "screen"),
               "wrap": ("safemix.provider.wrap", "wrap")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(_LAZY[name])
    if name in _LAZY_ATTRS:
        import importlib

        module, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'safemix' has no attribute {name!r}")
