"""The OpenAI-compatible HTTP API of `safemix serve`: `create_app(settings) -> FastAPI`.

    app = create_app(ServiceSettings(home="/srv/safemix"))      # uvicorn.run(app, ...)

Routes (all under `Authorization: Bearer <key>`; every object is visible only to its org, and
another org's object is a 404, never a 403):

    POST /v1/files  GET /v1/files  GET /v1/files/{id}  GET /v1/files/{id}/content  DELETE /v1/files/{id}
    POST /v1/fine_tuning/jobs  GET /v1/fine_tuning/jobs  GET /v1/fine_tuning/jobs/{id}
    POST /v1/fine_tuning/jobs/{id}/cancel  GET .../{id}/events  GET .../{id}/checkpoints
    GET /v1/fine_tuning/jobs/{id}/safety       safemix's extension: verdict, gate, reasons, report, audit
    POST /v1/chat/completions  GET /v1/models  GET /v1/models/{id}

Every error is OpenAI's envelope `{"error": {message, type, param, code}}` (FastAPI's 422 too,
as a 400), and nothing is stored by a request answered with a 4xx. Uploads: multipart, purpose
`fine-tune`, `.jsonl`, every line a JSON chat row (`{"messages": [...]}`), at most
`settings.max_file_bytes`; requests at most `settings.max_request_bytes`; each API key has a
token bucket of `settings.rate_limit_per_minute` requests. A filename is metadata only: its
basename is kept, and the bytes live under the store's own key.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from safemix.service import openai_types as ot
from safemix.service.openai_types import OpenAIError

if TYPE_CHECKING:
    from safemix.service.settings import ServiceSettings
    from safemix.service.store import Store

PURPOSES = ("fine-tune",)
UPLOAD_FIELDS = ("file", "purpose")
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_RATE_KEYS = 10_000  # token buckets kept; the least recently used go first
_SUFFIX = re.compile(r"^[A-Za-z0-9._-]*$")


# ------------------------------------------------------------------------------ rate limit
class RateLimiter:
    """A token bucket per API key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = max(1, int(per_minute))
        self.rate = self.capacity / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds until a token is back."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            while len(self._buckets) > MAX_RATE_KEYS:
                self._buckets.pop(next(iter(self._buckets)))
        return wait


# ------------------------------------------------------------------------------ request size
class BodyLimit:
    """ASGI middleware: a request whose Content-Length, or whose body as it streams in, is over
    `limit` bytes is answered 413 (nothing behind it sees the rest)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, int(limit)

    def _error(self) -> OpenAIError:
        return OpenAIError(413, f"the request body is larger than {self.limit} bytes", code="request_too_large")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            err = self._error()
            await JSONResponse(err.body(), status_code=err.status)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg.get("type") == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise self._error()
            return msg

        await self.app(scope, limited, send)


# ------------------------------------------------------------------------------ uploads
def clean_filename(name: str | None) -> str:
    """The basename of an uploaded file's name (metadata only, never a path): both slash kinds
    split, control characters (NUL included) are an error, and "." / ".." are no names."""
    raw = name or ""
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise OpenAIError(400, "the filename contains control characters (e.g. a NUL byte)", param="file",
                          code="invalid_filename")
    base = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        raise OpenAIError(400, "the uploaded file has no filename; name it e.g. train.jsonl", param="file",
                          code="invalid_filename")
    return base[:255]


def _chat_row_error(row: Any) -> str | None:
    """Why a JSONL row is not a chat-format example, or None."""
    if not isinstance(row, dict):
        return "each line must be a JSON object such as {\"messages\": [...]}"
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "missing a non-empty \"messages\" list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in CHAT_ROLES:
            return f"messages[{i}] needs a role, one of {', '.join(CHAT_ROLES)}"
        content = m.get("content")
        if not (isinstance(content, str | list) or (content is None and m.get("role") == "assistant")):
            return f"messages[{i}].content must be a string"
    if not any(m.get("role") == "assistant" for m in msgs):
        return "no assistant message to train on"
    return None


def check_jsonl(data: bytes, filename: str) -> int:
    """The number of chat rows in `data`, or a 400 naming the first bad line (1-based)."""
    def bad(line: int, why: str) -> OpenAIError:
        return OpenAIError(400, f"Invalid file format: {filename} line {line}: {why}", param="file",
                           code="invalid_file_format")

    rows = 0
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise bad(n, "not valid UTF-8") from None
        except ValueError as e:
            raise bad(n, f"not valid JSON ({e})") from None
        why = _chat_row_error(row)
        if why:
            raise bad(n, why)
        rows += 1
    if rows == 0:
        raise OpenAIError(400, f"Invalid file format: {filename} has no rows", param="file", code="invalid_file_format")
    return rows


async def read_upload(request: Any, max_bytes: int) -> tuple[str, str, bytes]:
    """(filename, purpose, bytes) of a multipart upload; 415 when the request is not
    multipart, 400 for unknown or missing fields, 413 over `max_bytes`."""
    from starlette.datastructures import UploadFile

    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise OpenAIError(415, "upload a file as multipart/form-data (fields: file, purpose)",
                          code="unsupported_media_type")
    form = await request.form(max_files=1, max_fields=8)
    try:
        unknown = [k for k in form if k not in UPLOAD_FIELDS and not k.startswith("expires_after")]
        if unknown:
            raise OpenAIError(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                              code="unknown_parameter")
        purpose, upload = form.get("purpose"), form.get("file")
        if not purpose:
            raise OpenAIError(400, "missing required parameter: 'purpose'", param="purpose",
                              code="missing_required_parameter")
        if purpose not in PURPOSES:
            raise OpenAIError(400, f"purpose {purpose!r} is not supported; use 'fine-tune'", param="purpose",
                              code="invalid_value")
        if not isinstance(upload, UploadFile):
            raise OpenAIError(400, "missing required parameter: 'file' (a file part)", param="file",
                              code="missing_required_parameter")
        name = clean_filename(upload.filename)
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise OpenAIError(413, f"the file is larger than the limit of {max_bytes} bytes", param="file",
                              code="file_too_large")
        return name, str(purpose), data
    finally:
        await form.close()


# ------------------------------------------------------------------------------ job bodies
def job_body(store: Store, settings: ServiceSettings, org: str, body: Any) -> dict[str, Any]:
    """The validated, normalised job body to store, or the 400 of its first error: jobspec's
    field rules, the model one of `settings.models`, the files this org's `fine-tune` uploads."""
    from safemix.provider.jobspec import MAX_SEED, JobSpecError, validate_body

    try:
        spec, errors = validate_body(body)
    except JobSpecError as e:
        spec, errors = None, e.errors
    if errors or spec is None:
        e0 = errors[0]
        raise OpenAIError(400, e0.message, type=e0.type, param=e0.param, code=e0.code)
    if spec.suffix and not _SUFFIX.match(spec.suffix):
        raise OpenAIError(400, "suffix may use only letters, digits, '.', '_' and '-'", param="suffix",
                          code="invalid_value")
    if spec.model not in settings.models:
        raise OpenAIError(400, f"Model {spec.model!r} is not available for fine-tuning here; available: "
                          + ", ".join(sorted(settings.models)), param="model", code="model_not_available")
    for param in ("training_file", "validation_file"):
        fid = body.get(param)
        if fid is None:
            continue
        row = store.get_file(org, fid)
        if row is None or row.get("deleted"):
            raise OpenAIError(400, f"{param}: no such file: {fid}", param=param, code="file_not_found")
        if row.get("purpose") != "fine-tune":
            raise OpenAIError(400, f"{param}: file {fid} has purpose {row.get('purpose')!r}, not 'fine-tune'",
                              param=param, code="invalid_file_purpose")
    seed = spec.seed if spec.seed is not None else secrets.randbelow(MAX_SEED + 1)
    return {"model": spec.model, "training_file": body["training_file"], "validation_file": body.get("validation_file"),
            "hyperparameters": spec.hyperparameters, "method": {"type": spec.method}, "suffix": spec.suffix,
            "seed": seed, "metadata": spec.metadata or None, "integrations": []}


def metadata_filter(query: Any) -> dict[str, str] | None:
    """`metadata[key]=value` query parameters (how the SDK sends `metadata=`) as a dict."""
    out = {}
    for k, v in query.multi_items():
        m = re.fullmatch(r"metadata\[(.+)\]", k)
        if m:
            out[m.group(1)] = v
    return out or None


# ------------------------------------------------------------------------------ the app
@dataclass
class _Ctx:
    settings: Any
    store: Any
    limiter: RateLimiter
    auth: Any = None


def open_store(settings: ServiceSettings) -> Store:
    """The Store of `settings` (its database and files)."""
    from safemix.service.store import Store

    return Store.from_settings(settings)


def create_app(settings: ServiceSettings, store: Store | None = None) -> FastAPI:
    """The FastAPI app of `safemix serve` on `settings`. Without `store` the app opens the
    settings' Store and closes it when the server shuts down."""
    from contextlib import asynccontextmanager

    from safemix import __version__

    owned = store is None
    store = store if store is not None else open_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        yield
        if owned:
            store.close()

    app = FastAPI(title="safemix", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="OpenAI-compatible fine-tuning API where every job is screened, mitigated, "
                  "trained, gated and audited (safemix wrap).")
    ctx = _Ctx(settings, store, RateLimiter(settings.rate_limit_per_minute))
    ctx.auth = _auth_dependency(ctx)
    app.state.settings, app.state.store, app.state.ctx = settings, store, ctx
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    _file_routes(app, ctx)
    _job_routes(app, ctx)
    _job_detail_routes(app, ctx)
    _model_routes(app, ctx)
    _mount_dashboard(app, settings, store)
    return app


def _mount_dashboard(app: FastAPI, settings: ServiceSettings, store: Store) -> None:
    """The operators' dashboard at `/` (`safemix.service.dashboard`), when it is installed."""
    import importlib

    try:
        dashboard = importlib.import_module("safemix.service.dashboard")
    except ModuleNotFoundError as e:
        if e.name != "safemix.service.dashboard":
            raise
        return
    app.include_router(dashboard.dashboard_router(settings, store))


def _auth_dependency(ctx: _Ctx) -> Any:
    def auth(request: Request) -> str:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        bucket = hashlib.sha256(key.encode()).hexdigest()[:32] if key else \
            "anon:" + (request.client.host if request.client else "")
        wait = ctx.limiter.take(bucket)
        if wait > 0:
            raise OpenAIError(429, f"Rate limit reached: {ctx.limiter.capacity} requests per minute for this API "
                              f"key; try again in {wait:.1f}s", type="requests", code="rate_limit_exceeded",
                              headers={"Retry-After": str(max(1, round(wait)))})
        if scheme.lower() != "bearer" or not key:
            raise OpenAIError(401, "You didn't provide an API key: send it as 'Authorization: Bearer <key>'",
                              code="invalid_api_key")
        org = ctx.store.org_for_key(key)
        if org is None:
            client = "fail:" + (request.client.host if request.client else "")
            if ctx.limiter.take(client) > 0:  # guessing keys: each client's wrong keys share one bucket
                raise OpenAIError(429, "Rate limit reached: too many requests with wrong API keys from this "
                                  "client", type="requests", code="rate_limit_exceeded", headers={"Retry-After": "60"})
            raise OpenAIError(401, f"Incorrect API key provided: {key[:6]}...", code="invalid_api_key")
        return org

    return auth


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 (not JSON / not an object)."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError as e:
        raise OpenAIError(400, f"We could not parse the JSON body of your request ({e})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object", code="invalid_json")
    return body


def _install_error_handlers(app: FastAPI) -> None:
    def answer(err: OpenAIError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    async def on_error(request: Any, exc: OpenAIError) -> JSONResponse:
        return answer(exc)

    async def on_validation(request: Any, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        loc = [str(x) for x in first.get("loc", ()) if x not in ("query", "path", "body", "header")]
        code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
        param = ".".join(loc) or None
        return answer(OpenAIError(400, f"{param or 'request'}: {first.get('msg', 'invalid value')}", param=param,
                                  code=code))

    async def on_http(request: Any, exc: HTTPException) -> Response:
        if not request.url.path.startswith("/v1/"):  # the dashboard's pages: Starlette's own answer
            from fastapi.exception_handlers import http_exception_handler

            return await http_exception_handler(request, exc)
        if exc.status_code == 404:
            msg, code = f"Invalid URL ({request.method} {request.url.path})", "unknown_url"
        elif exc.status_code == 405:
            msg, code = f"Method not allowed ({request.method} {request.url.path})", "method_not_allowed"
        else:
            msg, code = str(exc.detail), None
        return answer(OpenAIError(exc.status_code, msg, code=code, headers=dict(exc.headers or {})))

    async def on_crash(request: Any, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("safemix.service").exception("internal error on %s %s", request.method, request.url.path)
        return answer(OpenAIError(500, "The server had an error while processing your request", type="server_error",
                                  code="internal_error"))

    app.add_exception_handler(OpenAIError, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


# ------------------------------------------------------------------------------ routes
def _file_not_found(file_id: str) -> OpenAIError:
    return OpenAIError(404, f"No such File object: {file_id}", param="file_id", code="file_not_found")


def _job_not_found(job_id: str) -> OpenAIError:
    return OpenAIError(404, f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id",
                       code="fine_tuning_job_not_found")


def _file_routes(app: FastAPI, ctx: _Ctx) -> None:
    st = ctx.store

    async def upload_form(request: Request) -> tuple[str, str, bytes]:
        return await read_upload(request, ctx.settings.max_file_bytes)

    @app.post("/v1/files")
    def create_file(org: str = Depends(ctx.auth), form: tuple = Depends(upload_form)) -> dict:
        name, purpose, data = form
        if not name.lower().endswith(".jsonl"):
            raise OpenAIError(400, f"Invalid file format for fine-tuning: {name}; upload a .jsonl file",
                              param="file", code="invalid_file_format")
        check_jsonl(data, name)
        return ot.file_object(st.add_file(org, name, purpose, data))

    @app.get("/v1/files")
    def list_files(org: str = Depends(ctx.auth), after: str | None = None, limit: int = Query(10_000, ge=1, le=10_000),
                   order: Literal["asc", "desc"] = "desc", purpose: str | None = None) -> dict:
        rows, more = st.list_files(org, purpose=purpose, after=after, limit=limit, order=order)
        return ot.list_object([ot.file_object(r) for r in rows], more, ids=True)

    def own_file(org: str, file_id: str) -> dict:
        row = st.get_file(org, file_id)
        if row is None or row.get("deleted"):
            raise _file_not_found(file_id)
        return row

    @app.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str, org: str = Depends(ctx.auth)) -> dict:
        return ot.file_object(own_file(org, file_id))

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str, org: str = Depends(ctx.auth)) -> Response:
        own_file(org, file_id)
        try:
            data = st.read_file(org, file_id)
        except (KeyError, FileNotFoundError):  # deleted meanwhile
            raise _file_not_found(file_id) from None
        return Response(data, media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str, org: str = Depends(ctx.auth)) -> dict:
        own_file(org, file_id)
        if not st.delete_file(org, file_id):
            raise _file_not_found(file_id)
        return ot.file_deleted(file_id)


def _job_routes(app: FastAPI, ctx: _Ctx) -> None:
    st = ctx.store

    @app.post("/v1/fine_tuning/jobs")
    def create_job(org: str = Depends(ctx.auth), body: dict = Depends(json_body)) -> dict:
        job = st.create_job(org, job_body(st, ctx.settings, org, body))
        st.add_event(job["id"], "Created fine-tuning job", data={})
        return ot.job_object(st.get_job(org, job["id"]) or job)

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request, org: str = Depends(ctx.auth), after: str | None = None,
                  limit: int = Query(20, ge=1, le=100)) -> dict:
        rows, more = st.list_jobs(org, after=after, limit=limit, metadata=metadata_filter(request.query_params))
        return ot.list_object([ot.job_object(r) for r in rows], more)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str, org: str = Depends(ctx.auth)) -> dict:
        row = st.get_job(org, job_id)
        if row is None:
            raise _job_not_found(job_id)
        return ot.job_object(row)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str, org: str = Depends(ctx.auth)) -> dict:
        row = st.get_job(org, job_id)
        if row is None:
            raise _job_not_found(job_id)
        if row["status"] in ot.TERMINAL:
            raise OpenAIError(400, f"Job {job_id} has already {row['status']}; it cannot be cancelled",
                              param="fine_tuning_job_id", code="job_not_cancellable")
        row = st.request_cancel(org, job_id)
        if row is None:
            raise _job_not_found(job_id)
        if row["status"] == "cancelled":
            st.add_event(job_id, "Fine-tuning job cancelled", data={})
        else:
            st.add_event(job_id, "Cancellation requested; the worker stops the job", data={})
        return ot.job_object(row)


def _job_detail_routes(app: FastAPI, ctx: _Ctx) -> None:
    st = ctx.store

    def own_job(org: str, job_id: str) -> dict:
        row = st.get_job(org, job_id)
        if row is None:
            raise _job_not_found(job_id)
        return row

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, org: str = Depends(ctx.auth), after: str | None = None,
                    limit: int = Query(20, ge=1, le=100)) -> dict:
        own_job(org, job_id)
        rows, more = st.list_events(org, job_id, after=after, limit=limit)
        return ot.list_object([ot.event_object(r) for r in rows], more)

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, org: str = Depends(ctx.auth), after: str | None = None,
                         limit: int = Query(10, ge=1, le=100)) -> dict:
        own_job(org, job_id)
        rows, more = st.list_checkpoints(org, job_id, after=after, limit=limit)
        return ot.list_object([ot.checkpoint_object(r) for r in rows], more, ids=True)

    @app.get("/v1/fine_tuning/jobs/{job_id}/safety")
    def safety(job_id: str, org: str = Depends(ctx.auth)) -> dict:
        return safety_object(ctx.settings, own_job(org, job_id))


def _model_routes(app: FastAPI, ctx: _Ctx) -> None:
    from safemix.service.chat import ChatEngine, released_models

    engine = ChatEngine(ctx.settings, ctx.store)
    app.state.chat = engine

    @app.post("/v1/chat/completions")
    def chat_completions(org: str = Depends(ctx.auth), body: dict = Depends(json_body)) -> dict:
        return engine.complete(org, body)

    @app.get("/v1/models")
    def list_models(org: str = Depends(ctx.auth)) -> dict:
        return ot.list_object(released_models(ctx.settings, ctx.store, org), False)

    @app.get("/v1/models/{model_id:path}")
    def retrieve_model(model_id: str, org: str = Depends(ctx.auth)) -> dict:
        for m in released_models(ctx.settings, ctx.store, org):
            if m["id"] == model_id:
                return m
        raise OpenAIError(404, f"The model `{model_id}` does not exist or you do not have access to it.",
                          param="model", code="model_not_found")


# ------------------------------------------------------------------------------ safety
def under_runs(settings: ServiceSettings, path: str | None) -> Any:
    """`path` (absolute, or relative to the runs folder) resolved, when it lies inside the runs
    folder; else None (a row never leads the API outside it)."""
    if not path:
        return None
    root = Path(settings.runs_root()).expanduser().resolve()
    p = Path(path).expanduser()
    real = (p if p.is_absolute() else root / p).resolve()
    return real if real == root or real.is_relative_to(root) else None


def _relative(settings: ServiceSettings, path: Any) -> str | None:
    real = under_runs(settings, str(path)) if path else None
    if real is None or not real.exists():
        return None
    return str(real.relative_to(Path(settings.runs_root()).expanduser().resolve()))


def safety_object(settings: ServiceSettings, row: dict[str, Any]) -> dict[str, Any]:
    """GET .../{id}/safety: the verdict, the gate that held the job, the reasons, the eval
    report's paths (relative to the runs folder) and this job's audit records, with no server
    path in them (`jobrun.scrub`: the job's input files named by their file ids, other paths
    relative to the runs folder or cut to their basename)."""
    from safemix.provider.audit import read_log
    from safemix.service.jobrun import scrub, tenant_paths

    run_dir = under_runs(settings, row.get("run_dir"))
    verdict: dict[str, Any] = {}
    if run_dir is not None and (run_dir / "verdict.json").is_file():
        try:
            verdict = json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
        except ValueError:
            verdict = {}
    reasons = row.get("reasons") or verdict.get("reasons") or []
    gate = verdict.get("gate") or next((r.get("gate") for r in reasons if isinstance(r, dict)), None)
    results = verdict.get("results")
    report = None
    if results and _relative(settings, results):
            report = {"results": _relative(settings, results),
                  "html": _relative(settings, Path(results).parent / "report.html")}
    audit = read_log(settings.audit_path(), row["wrap_id"]) if row.get("wrap_id") else []
    pairs = tenant_paths(settings, row)
    return {"object": "fine_tuning.job.safety", "job_id": row["id"], "status": row.get("status"),
            "verdict": row.get("verdict") or verdict.get("verdict"), "gate": gate if row.get("verdict") == "held"
            or verdict.get("verdict") == "held" else None, "reasons": scrub(reasons, pairs), "report": report,
            "audit": scrub(audit, pairs)}


__all__ = ["BodyLimit", "RateLimiter", "check_jsonl", "clean_filename", "create_app", "job_body", "safety_object"]
