"""OpenAI's object shapes for the store's rows: file, fine-tuning job, event, checkpoint, list,
model, error. The store returns plain column dicts; these functions are the one place that
turns them into what `openai`'s SDK reads (`openai.types.FileObject`, `FineTuningJob`,
`FineTuningJobEvent`, `FineTuningJobCheckpoint`, `SyncCursorPage`).

Every object has its `object` tag; nullable fields are present as null; the job carries one
extra key, `safemix: {verdict, reasons}` (the SDK keeps unknown keys).
"""

from __future__ import annotations

from typing import Any

HYPERPARAMETER_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier")
TERMINAL = ("succeeded", "failed", "cancelled")


class OpenAIError(Exception):
    """An error the API answers with OpenAI's envelope and `status` (4xx/5xx); `headers` go
    with it (Retry-After of a 429)."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope: {"error": {message, type, param, code}}."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    """A files row as OpenAI's `file` object."""
    return {"id": row["id"], "object": "file", "bytes": int(row.get("bytes") or 0),
            "created_at": int(row.get("created_at") or 0), "filename": row.get("filename") or "",
            "purpose": row.get("purpose") or "fine-tune", "status": row.get("status") or "processed",
            "status_details": row.get("status_details"), "expires_at": row.get("expires_at")}


def file_deleted(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}


def _hyperparameters(row: dict[str, Any]) -> dict[str, Any]:
    """The values the run used (jobrun records them in `method.hyperparameters_used` once it
    trained), else the ones asked for, else "auto"."""
    hp = row.get("hyperparameters") or {}
    method = row.get("method") if isinstance(row.get("method"), dict) else None
    used = (method or {}).get("hyperparameters_used") or {}
    return {k: used.get(k, hp.get(k, "auto")) for k in HYPERPARAMETER_NAMES}


def job_object(row: dict[str, Any]) -> dict[str, Any]:
    """A jobs row as OpenAI's `fine_tuning.job` (+ `safemix: {verdict, reasons}`)."""
    hp = _hyperparameters(row)
    method = row.get("method") or {}
    kind = method.get("type", "supervised") if isinstance(method, dict) else "supervised"
    return {
        "id": row["id"], "object": "fine_tuning.job", "created_at": int(row.get("created_at") or 0),
        "error": row.get("error") or None, "fine_tuned_model": row.get("fine_tuned_model"),
        "finished_at": row.get("finished_at"), "hyperparameters": hp, "model": row.get("model"),
        "organization_id": row.get("org_id"), "result_files": list(row.get("result_files") or []),
        "seed": row.get("seed"), "status": row.get("status"), "trained_tokens": row.get("trained_tokens"),
        "training_file": row.get("training_file"), "validation_file": row.get("validation_file"),
        "integrations": list(row.get("integrations") or []), "metadata": row.get("metadata") or None,
        "method": {"type": kind, kind: {"hyperparameters": hp}},
        "estimated_finish": row.get("estimated_finish"), "user_provided_suffix": row.get("suffix"),
        "safemix": {"verdict": row.get("verdict"), "reasons": list(row.get("reasons") or [])},
    }


def event_object(row: dict[str, Any]) -> dict[str, Any]:
    """An events row as OpenAI's `fine_tuning.job.event`."""
    return {"id": row["id"], "object": "fine_tuning.job.event", "created_at": int(row.get("created_at") or 0),
            "level": row.get("level") or "info", "message": row.get("message") or "",
            "data": row.get("data") if row.get("data") is not None else {}, "type": row.get("type") or "message"}


def checkpoint_object(row: dict[str, Any]) -> dict[str, Any]:
    """A checkpoints row as OpenAI's `fine_tuning.job.checkpoint` (metrics always carry `step`)."""
    step = int(row.get("step") or 0)
    metrics = {"step": float(step), **(row.get("metrics") or {})}
    return {"id": row["id"], "object": "fine_tuning.job.checkpoint", "created_at": int(row.get("created_at") or 0),
            "fine_tuned_model_checkpoint": row.get("fine_tuned_model_checkpoint") or "",
            "fine_tuning_job_id": row.get("job_id"), "metrics": metrics, "step_number": step}


def list_object(data: list[dict[str, Any]], has_more: bool, *, ids: bool = False) -> dict[str, Any]:
    """OpenAI's cursor page: {object: "list", data, has_more} (+ first_id/last_id where OpenAI
    sends them: files and checkpoints)."""
    out: dict[str, Any] = {"object": "list", "data": data, "has_more": bool(has_more)}
    if ids:
        out["first_id"] = data[0]["id"] if data else None
        out["last_id"] = data[-1]["id"] if data else None
    return out


def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(created), "owned_by": owned_by}


__all__ = ["HYPERPARAMETER_NAMES", "TERMINAL", "OpenAIError", "checkpoint_object", "error_body", "event_object", "file_deleted",
           "file_object", "job_object", "list_object", "model_object"]
