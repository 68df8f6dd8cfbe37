"""The job body `safemix wrap` accepts: an OpenAI fine-tuning job (POST /v1/fine_tuning/jobs),
validated field by field with OpenAI-style errors.

    spec = validate_job(json.loads(Path("job.json").read_text()), policy, base="jobs/")

Every error is an `ApiError` (`type` invalid_request_error, a `code` such as invalid_value or
missing_required_parameter, a `message` and the `param`, e.g. "hyperparameters.n_epochs");
`JobSpecError` carries all the errors of a body and is bad input (exit code 2). The files
(`training_file`, `validation_file`) are local paths here, relative to the job file's folder;
they must lie inside the policy's allowed roots once symlinks are resolved, and no path may use
"..". The training file needs `files.min_examples` examples (OpenAI: 10), each at most
`files.max_example_tokens` tokens (`count_tokens`: word and punctuation pieces, which a
subword tokenizer never makes fewer of).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import SafemixError

FIELDS = ("model", "training_file", "validation_file", "hyperparameters", "method", "suffix", "seed", "metadata",
          "integrations")
HYPERPARAMETERS = {  # name -> (type, low, high), inclusive; OpenAI's documented ranges
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 1e-6, 10.0),
}
MAX_SUFFIX = 64
MAX_METADATA = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_SEED = 2**31 - 1
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass
class ApiError:
    """One OpenAI-style error: {type, code, message, param}."""

    code: str
    message: str
    param: str | None = None
    type: str = "invalid_request_error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.param or '<body>'}: {self.code}: {self.message}"


class JobSpecError(SafemixError):
    """A job body (or its files) that fails validation: every error, OpenAI-style (exit code 2)."""

    def __init__(self, errors: list[ApiError]) -> None:
        self.errors = errors
        super().__init__("invalid job: " + "; ".join(str(e) for e in errors))

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's error envelope of the first error, and all of them under `errors`."""
        return {"error": self.errors[0].to_dict(), "errors": [e.to_dict() for e in self.errors]}


@dataclass
class JobSpec:
    """A validated job: the body's fields, the resolved files and what was learned reading them."""

    model: str
    training_file: Path
    validation_file: Path | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    method: str = "supervised"
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    n_examples: int = 0
    max_tokens: int = 0
    file_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        """`ftjob-` + a hash of the body and its files' contents: the same job, the same id."""
        from safemix.provider.audit import canonical

        key = canonical({"body": self.body, "files": self.file_sha256})
        return "ftjob-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]

    def train_overrides(self) -> dict[str, Any]:
        """The TrainConfig fields the body's hyperparameters set ("auto": the policy's own)."""
        hp = {k: v for k, v in self.hyperparameters.items() if v != "auto"}
        out: dict[str, Any] = {}
        if "n_epochs" in hp:
            out["n_epochs"] = float(hp["n_epochs"])
        if "batch_size" in hp:
            out["batch_size"] = int(hp["batch_size"])
        if "learning_rate_multiplier" in hp:
            out["learning_rate_multiplier"] = float(hp["learning_rate_multiplier"])
        return out


def count_tokens(text: str) -> int:
    """Word and punctuation pieces of `text` (a tokenizer-free count for the per-example limit)."""
    return len(_TOKEN.findall(text))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _hyperparameters(hp: Any, param: str, errors: list[ApiError]) -> dict[str, Any]:
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        errors.append(ApiError("invalid_type", f"{param} must be an object", param))
        return {}
    out: dict[str, Any] = {}
    for k, v in hp.items():
        p = f"{param}.{k}"
        if k not in HYPERPARAMETERS:
            errors.append(ApiError("unknown_parameter", f"unrecognized hyperparameter {k!r}; valid: "
                                   + ", ".join(HYPERPARAMETERS), p))
            continue
        tp, lo, hi = HYPERPARAMETERS[k]
        if v == "auto":
            out[k] = v
        elif not _is_number(v) or (tp is int and not float(v).is_integer()):
            errors.append(ApiError("invalid_type", f"{k} must be {'an integer' if tp is int else 'a number'} "
                                   f"or \"auto\", got {v!r}", p))
        elif not lo <= v <= hi:
            errors.append(ApiError("invalid_value", f"{k} must be between {lo:g} and {hi:g}, got {v!r}", p))
        else:
            out[k] = tp(v)
    return out


def _method(body: dict[str, Any], errors: list[ApiError]) -> tuple[str, dict[str, Any]]:
    """(method type, hyperparameters from method.supervised.hyperparameters)."""
    m = body.get("method")
    if m is None:
        return "supervised", {}
    if not isinstance(m, dict):
        errors.append(ApiError("invalid_type", "method must be an object such as {\"type\": \"supervised\"}", "method"))
        return "supervised", {}
    kind = m.get("type", "supervised")
    if kind != "supervised":
        errors.append(ApiError("invalid_value", f"method.type {kind!r} is not supported here; only \"supervised\"",
                               "method.type"))
    unknown = sorted(set(m) - {"type", "supervised"})
    if unknown:
        errors.append(ApiError("unknown_parameter", f"unrecognized key(s) {', '.join(unknown)} in method",
                               f"method.{unknown[0]}"))
    sup = m.get("supervised") or {}
    if not isinstance(sup, dict):
        errors.append(ApiError("invalid_type", "method.supervised must be an object", "method.supervised"))
        return str(kind), {}
    return str(kind), _hyperparameters(sup.get("hyperparameters"), "method.supervised.hyperparameters", errors)


def _metadata(md: Any, errors: list[ApiError]) -> dict[str, str]:
    if md is None:
        return {}
    if not isinstance(md, dict):
        errors.append(ApiError("invalid_type", "metadata must be an object of string keys and values", "metadata"))
        return {}
    if len(md) > MAX_METADATA:
        errors.append(ApiError("invalid_value", f"metadata has {len(md)} pairs; at most {MAX_METADATA}", "metadata"))
    for k, v in md.items():
        if len(k) > MAX_METADATA_KEY:
            errors.append(ApiError("invalid_value", f"metadata key longer than {MAX_METADATA_KEY} characters",
                                   f"metadata.{k[:20]}"))
        if not isinstance(v, str):
            errors.append(ApiError("invalid_type", f"metadata values must be strings, got {type(v).__name__}",
                                   f"metadata.{k}"))
        elif len(v) > MAX_METADATA_VALUE:
            errors.append(ApiError("invalid_value", f"metadata value longer than {MAX_METADATA_VALUE} characters",
                                   f"metadata.{k}"))
    return {str(k): str(v) for k, v in md.items()}


def _scalars(body: dict[str, Any], errors: list[ApiError]) -> None:
    """model, training_file, validation_file, suffix, seed: presence and type."""
    for key in ("model", "training_file"):
        if key not in body or body[key] in (None, ""):
            errors.append(ApiError("missing_required_parameter", f"missing required parameter: {key!r}", key))
        elif not isinstance(body[key], str):
            errors.append(ApiError("invalid_type", f"{key} must be a string", key))
    if body.get("validation_file") is not None and not isinstance(body["validation_file"], str):
        errors.append(ApiError("invalid_type", "validation_file must be a string or null", "validation_file"))
    suffix = body.get("suffix")
    if suffix is not None:
        if not isinstance(suffix, str):
            errors.append(ApiError("invalid_type", "suffix must be a string", "suffix"))
        elif len(suffix) > MAX_SUFFIX:
            errors.append(ApiError("invalid_value", f"suffix is {len(suffix)} characters; at most {MAX_SUFFIX}",
                                   "suffix"))
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED):
        errors.append(ApiError("invalid_value", f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}", "seed"))


def validate_body(body: Any) -> tuple[JobSpec, list[ApiError]]:
    """The body's own checks (no files read): a partial JobSpec and the errors found."""
    errors: list[ApiError] = []
    if not isinstance(body, dict):
        raise JobSpecError([ApiError("invalid_type", "the job body must be a JSON object", None)])
    for k in body:
        if k not in FIELDS:
            from safemix.config import did_you_mean

            errors.append(ApiError("unknown_parameter", f"unrecognized request argument {k!r}"
                                   + did_you_mean(k, FIELDS), k))
    _scalars(body, errors)
    hp = _hyperparameters(body.get("hyperparameters"), "hyperparameters", errors)
    kind, method_hp = _method(body, errors)
    if hp and method_hp:
        errors.append(ApiError("invalid_value", "set hyperparameters either at the top level or in "
                               "method.supervised.hyperparameters, not both", "hyperparameters"))
    if body.get("integrations"):
        errors.append(ApiError("invalid_value", "integrations are not supported by safemix wrap", "integrations"))
    spec = JobSpec(model=str(body.get("model") or ""), training_file=Path(str(body.get("training_file") or "")),
                   validation_file=Path(body["validation_file"]) if isinstance(body.get("validation_file"), str) else None,
                   hyperparameters={**hp, **method_hp}, method=kind,
                   suffix=body.get("suffix") if isinstance(body.get("suffix"), str) else None,
                   seed=body.get("seed") if isinstance(body.get("seed"), int) else None,
                   metadata=_metadata(body.get("metadata"), errors), body=body)
    return spec, errors


def confine(path: str | Path, roots: list[str | Path], param: str, base: Path | None = None) -> tuple[Path | None, ApiError | None]:
    """The resolved path of a job file, or the error: '..' anywhere, missing, or (symlinks
    resolved) outside every allowed root."""
    raw = Path(path).expanduser()
    if ".." in raw.parts:
        return None, ApiError("invalid_value", f"{param} may not contain '..': {path}", param)
    p = raw if raw.is_absolute() or base is None else base / raw
    if not p.exists():
        return None, ApiError("file_not_found", f"{param}: no such file: {path}", param)
    real = p.resolve()
    real_roots = [Path(r).expanduser().resolve() for r in roots]
    if not any(real == r or real.is_relative_to(r) for r in real_roots):
        return None, ApiError("invalid_value", f"{param} resolves to {real}, outside the allowed roots "
                              f"({', '.join(map(str, real_roots))})", param)
    if not real.is_file():
        return None, ApiError("invalid_value", f"{param}: not a file: {path}", param)
    return real, None


def check_examples(path: Path, param: str, *, min_examples: int, max_tokens: int) -> tuple[int, int, list[ApiError]]:
    """(examples, most tokens in one, errors): the file reads as a job, has `min_examples`
    examples (0: no minimum), and no example is over `max_tokens` tokens."""
    from safemix.formats.io import DEFAULT_MAX_LINE_BYTES, JobReader

    errors: list[ApiError] = []
    n = most = 0
    try:
        for line, ex, _ in JobReader(path, max_line_bytes=DEFAULT_MAX_LINE_BYTES):
            n += 1
            toks = sum(count_tokens(str(m.get("content") or "")) for m in ex.messages)
            most = max(most, toks)
            if toks > max_tokens and len(errors) < 5:
                errors.append(ApiError("invalid_value", f"{path.name}:{line}: example has {toks} tokens; the "
                                       f"limit is {max_tokens}", param))
    except SafemixError as e:
        return n, most, [ApiError("invalid_file", f"{param}: {e}", param)]
    if n < min_examples:
        errors.append(ApiError("invalid_value", f"{param} has {n} examples; at least {min_examples} are required",
                               param))
    return n, most, errors


def validate_job(body: Any, policy: Any = None, base: str | Path | None = None) -> JobSpec:
    """A validated JobSpec, or JobSpecError with every error found. `policy` (a Policy) gives
    the allowed roots (default: `base`), the token limit and the minimum examples; `base` is
    the folder relative file paths are read from (the job file's)."""
    from safemix.provider.policy import FilePolicy
    from safemix.utils import sha256_file

    files = policy.files if policy is not None else FilePolicy()
    base_dir = Path(base).resolve() if base is not None else Path.cwd()
    roots = list(files.allowed_roots) or [base_dir]
    spec, errors = validate_body(body)
    if errors:
        raise JobSpecError(errors)
    for param, min_n in (("training_file", files.min_examples), ("validation_file", 0)):
        raw = getattr(spec, param)
        if raw is None:
            continue
        real, err = confine(raw, roots, param, base_dir)
        if err is not None:
            errors.append(err)
            continue
        n, most, errs = check_examples(real, param, min_examples=min_n, max_tokens=files.max_example_tokens)
        errors += errs
        setattr(spec, param, real)
        spec.file_sha256[param] = sha256_file(real)
        if param == "training_file":
            spec.n_examples, spec.max_tokens = n, most
    if errors:
        raise JobSpecError(errors)
    return spec


__all__ = ["HYPERPARAMETERS", "ApiError", "JobSpec", "JobSpecError", "check_examples", "confine", "count_tokens",
           "validate_body", "validate_job"]
