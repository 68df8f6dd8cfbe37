"""The operators' dashboard, mounted at `/` by the API (`dashboard_router(settings, store)`).

Server-rendered Jinja2 (autoescape on), no JavaScript. Pages: `/` the jobs (newest first,
`?status=` filter, cursor pagination with `?after=`), `/jobs/{id}` one job (verdict, every reason
with its evidence, events, checkpoints, the audit records of its wrap id and whether the audit
chain verifies), `/jobs/{id}/report` the evaluator's `report.html` from the job's run folder,
`/files` the files.

Who sees what: the provider's `settings.admin_key` sees every organization; an organization's API
key sees only its own jobs and files (another organization's job is a 404). The login form posts
the key once; the browser then holds an HttpOnly, SameSite=Strict cookie with a signed session
(`<org>.<key prefix>.<expiry>.<hmac-sha256>`, 8 hours), never the key; revoking the API key ends
its sessions at the next request. Form posts from another site's page (Origin) are refused, and
failed logins are limited per client address (10 a minute). The signing secret is derived from the settings
(database URL, admin key hash) and a random per-installation secret: `settings.home`'s
`dashboard.secret` (created 0600 on first use), or `$SAFEMIX_DASHBOARD_SECRET` to share one across
several API hosts. Changing the admin key ends every session.

No path from a request reaches the filesystem: the report is found from the job's `run_dir` as
stored by the worker (`run_dir/variants/*/eval/report.html`), chosen by index, and served only when
its resolved path (symlinks followed) is inside `settings.runs_root()`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, Undefined

COOKIE = "safemix_session"
SESSION_SECONDS = 8 * 3600
ADMIN = "*"  # the session's org for the admin key: every organization
STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
PAGE_SIZE = 25
MAX_PAGE = 100
MAX_LIST = 500  # events / checkpoints / audit records shown on a job's page
MAX_FORM_BYTES = 4096
LOGIN_FAILURES = 10  # failed logins per client address per minute before a 429
_JOB_ID = re.compile(r"^ftjob-[0-9a-zA-Z]{1,64}$")
_FILE_ID = re.compile(r"^file-[0-9a-zA-Z]{1,64}$")
_ORG = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_NEXT = re.compile(r"^/(?!/)[A-Za-z0-9/_.?=&%-]{0,300}$")
TEMPLATES = Path(__file__).parent / "templates"
CSS = Path(__file__).parent / "static" / "dashboard.css"

# Every dashboard page: nothing but our own stylesheet, no scripts, no framing.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# The evaluator's report: inline CSS and data: images only, sandboxed (no scripts, own origin).
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


# ------------------------------------------------------------------------------ sessions

def session_secret(settings: Any) -> bytes:
    """The key sessions are signed with: HMAC of the installation's random secret over the
    settings that define the deployment (database URL, admin key hash)."""
    base = os.environ.get("SAFEMIX_DASHBOARD_SECRET", "").encode() or _secret_file(settings)
    admin = hashlib.sha256((getattr(settings, "admin_key", None) or "").encode()).hexdigest()
    msg = f"safemix-dashboard-session|{_db_url(settings)}|{admin}".encode()
    return hmac.new(base, msg, hashlib.sha256).digest()


def _db_url(settings: Any) -> str:
    try:
        return str(settings.db_url())
    except Exception:  # noqa: BLE001 - a settings object without a database: still a secret
        return ""


def _secret_file(settings: Any) -> bytes:
    """`<home>/dashboard.secret`: 32 random bytes (hex), created once, 0600, moved into place
    whole (a hard link, so two processes starting at once read the same complete secret); a
    process-only secret when the home is not writable (sessions then end with the process)."""
    home = getattr(settings, "home", None)
    if not home:
        return secrets.token_bytes(32)
    path = Path(str(home)).expanduser() / "dashboard.secret"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".dashboard.secret.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process was first: use its secret
                pass
            finally:
                tmp.unlink()
        secret = path.read_text().strip()
    except OSError:
        return secrets.token_bytes(32)
    return secret.encode() if len(secret) >= 32 else secrets.token_bytes(32)


class Sessions:
    """Signed, expiring session tokens `<org>.<key>.<expiry>.<hmac-sha256 hex>`: `key` is the
    API key's prefix (so revoking the key ends the session), `*.admin` the admin."""

    def __init__(self, secret: bytes, seconds: int = SESSION_SECONDS) -> None:
        self.secret, self.seconds = secret, seconds

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, org: str, key: str, now: float | None = None) -> str:
        payload = f"{org}.{key}.{int((now or time.time()) + self.seconds)}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, token: str | None, now: float | None = None) -> tuple[str, str] | None:
        """(org, key prefix) of the session, or None: missing, malformed, forged or expired."""
        parts = (token or "").split(".")
        if len(parts) != 4 or not (parts[0] == ADMIN or _ORG.match(parts[0])) or not _ORG.match(parts[1]):
            return None
        if not parts[2].isdigit() or not hmac.compare_digest(self._sign(".".join(parts[:3])), parts[3]):
            return None
        return (parts[0], parts[1]) if int(parts[2]) > (now or time.time()) else None


def login_for(settings: Any, store: Any, key: str) -> tuple[str, str] | None:
    """(session org, key prefix) a key logs in as: (`*`, `admin`) for the admin key, the org of a
    valid (not revoked) API key; None for anything else."""
    from safemix.service.store import key_prefix

    key = key.strip()
    if not key:
        return None
    admin = getattr(settings, "admin_key", None)
    if admin and hmac.compare_digest(hashlib.sha256(key.encode()).digest(),
                                     hashlib.sha256(admin.encode()).digest()):
        return ADMIN, "admin"
    org = store.org_for_key(key)
    return (org, key_prefix(key)) if org else None


class Throttle:
    """Failed logins per client address: at most `limit` in `window` seconds (in-process)."""

    def __init__(self, limit: int = LOGIN_FAILURES, window: float = 60.0) -> None:
        self.limit, self.window, self.failures = limit, window, {}

    def _recent(self, who: str, now: float) -> list[float]:
        times = [t for t in self.failures.get(who, []) if t > now - self.window]
        self.failures[who] = times
        return times

    def blocked(self, who: str) -> bool:
        return len(self._recent(who, time.time())) >= self.limit

    def failed(self, who: str) -> None:
        now = time.time()
        if len(self.failures) > 10_000:  # many addresses: forget the quiet ones
            self.failures = {k: v for k, v in self.failures.items() if v and v[-1] > now - self.window}
        self._recent(who, now).append(now)


# ------------------------------------------------------------------------------ formatting

def fmt_time(t: Any) -> str:
    if not isinstance(t, (int, float, str)) or t == "":
        return "—"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(t)))
    except (TypeError, ValueError, OverflowError):
        return str(t)


def fmt_json(obj: Any) -> str:
    if isinstance(obj, Undefined):
        return "—"
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def first_reason(job: dict[str, Any]) -> str:
    reasons = job.get("reasons") or []
    if reasons and isinstance(reasons[0], dict):
        r = reasons[0]
        return f"[{r.get('gate', '?')}] {r.get('check', '')}: {r.get('message', '')}"
    if reasons:
        return str(reasons[0])
    err = job.get("error") or {}
    return str(err.get("message", "")) if isinstance(err, dict) else str(err)


def audit_summary(rec: dict[str, Any]) -> str:
    """One line for an audit record: its stage, verdict, error or policy."""
    data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
    for key in ("stage", "verdict", "error", "policy"):
        if data.get(key):
            return f"{key}: {data[key]}"
    return ""


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(time=fmt_time, pretty=fmt_json)
    env.globals.update(first_reason=first_reason, audit_summary=audit_summary, statuses=STATUSES)
    return env


# ------------------------------------------------------------------------------ reports

def find_reports(settings: Any, job: dict[str, Any]) -> list[Path]:
    """The evaluator's report.html files of a job's run, each resolved (symlinks followed) and
    inside `settings.runs_root()`; [] when the job has no run folder or it lies elsewhere."""
    if not job.get("run_dir"):
        return []
    root = Path(settings.runs_root()).expanduser().resolve()
    run = Path(str(job["run_dir"])).expanduser().resolve()
    if not run.is_relative_to(root) or not run.is_dir():
        return []
    found = []
    for p in sorted(run.glob("variants/*/eval/report.html")):
        real = p.resolve()
        if real.is_relative_to(root) and real.is_relative_to(run) and real.is_file():
            found.append(real)
    return found


def _variant(path: Path) -> str:
    return path.parent.parent.name  # variants/<name>/eval/report.html


# ------------------------------------------------------------------------------ the pages

class Dashboard:
    """The pages; `dashboard_router` exposes them. `scope` is the store's org argument: the
    session's org, or None (every org) for the admin."""

    def __init__(self, settings: Any, store: Any) -> None:
        self.settings, self.store = settings, store
        self.sessions = Sessions(session_secret(settings))
        self.env = _environment()
        self.throttle = Throttle()
        self._verified: tuple[tuple[Any, ...], Any] | None = None  # (log stamp, Verification)

    # -- plumbing
    def render(self, name: str, request: Request, code: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(request_path=request.url.path, **ctx)
        return HTMLResponse(html, status_code=code, headers={**HEADERS, "Content-Security-Policy": PAGE_CSP})

    def who(self, request: Request) -> str | None:
        """The session's org (`*` for the admin); None without a valid session or when the API key
        it was opened with has been revoked since."""
        found = self.sessions.check(request.cookies.get(COOKIE))
        if found is None:
            return None
        org, key = found
        if org == ADMIN:
            return ADMIN if key == "admin" else None
        alive = any(k.get("prefix") == key and not k.get("revoked") for k in self.store.list_api_keys(org))
        return org if alive else None

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A form post from a page of this server, or from no page (no Origin header: curl, a
        script). `Origin: null` (a sandboxed or opaque page) is refused; our pages send their
        origin (Referrer-Policy same-origin)."""
        origin = request.headers.get("origin")
        return not origin or urlsplit(origin).netloc == request.headers.get("host", "")

    def login_page(self, request: Request, code: int = 401, error: str | None = None) -> HTMLResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        nxt = target if _NEXT.match(target) and not target.startswith("/login") else "/"
        return self.render("login.html", request, code=code, user=None, next=nxt, error=error)

    def not_found(self, request: Request, user: str, what: str) -> HTMLResponse:
        return self.render("error.html", request, code=404, user=user, title="Not found",
                           message=f"No {what} here.")

    @staticmethod
    def scope(user: str) -> str | None:
        return None if user == ADMIN else user

    # -- login / logout
    def login_form(self, request: Request) -> Response:
        if self.who(request):
            return RedirectResponse("/", status_code=303)
        return self.login_page(request, code=200)

    async def login(self, request: Request) -> Response:
        body = await request.body()
        form = parse_qs(body.decode("utf-8", "replace")) if len(body) <= MAX_FORM_BYTES else {}
        nxt = (form.get("next") or ["/"])[0]
        nxt = nxt if _NEXT.match(nxt) and not nxt.startswith("/login") else "/"
        client = request.client.host if request.client else "?"
        if not self.same_origin(request):
            return self.render("error.html", request, code=403, user=None, title="Forbidden",
                               message="A login from another site's page.")
        if self.throttle.blocked(client):
            return self.render("login.html", request, code=429, user=None, next=nxt,
                               error="Too many failed logins from here; wait a minute.")
        found = await run_in_threadpool(login_for, self.settings, self.store, (form.get("key") or [""])[0])
        if found is None:
            self.throttle.failed(client)
            return self.render("login.html", request, code=401, user=None, next=nxt, error="That key is not valid.")
        resp = RedirectResponse(nxt, status_code=303, headers=HEADERS)
        resp.set_cookie(COOKIE, self.sessions.issue(*found), max_age=self.sessions.seconds, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
        return resp

    def logout(self, request: Request) -> Response:
        if not self.same_origin(request):
            return self.render("error.html", request, code=403, user=None, title="Forbidden",
                               message="A logout from another site's page.")
        resp = RedirectResponse("/login", status_code=303, headers=HEADERS)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    def css(self, request: Request) -> Response:
        return Response(CSS.read_text(encoding="utf-8"), media_type="text/css",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=300"})

    # -- jobs
    def org_names(self, user: str) -> dict[str, str]:
        """Organization id -> name, of the orgs this user sees."""
        if user == ADMIN:
            return {o["id"]: o["name"] for o in self.store.list_orgs()}
        org = self.store.get_org(user)
        return {user: org["name"]} if org else {}

    def jobs(self, request: Request) -> Response:
        user = self.who(request)
        if user is None:
            return self.login_page(request)
        q = request.query_params
        status = q.get("status") if q.get("status") in STATUSES else None
        after = q.get("after") if _JOB_ID.match(q.get("after") or "") else None
        limit = _int(q.get("limit"), PAGE_SIZE, 1, MAX_PAGE)
        rows, has_more = self.store.list_jobs(self.scope(user), after=after, limit=limit, status=status)
        nxt = None
        if has_more and rows:
            nxt = "/?" + urlencode({k: v for k, v in (("status", status), ("after", rows[-1]["id"]),
                                                       ("limit", limit if limit != PAGE_SIZE else None)) if v})
        return self.render("jobs.html", request, user=user, jobs=rows, status=status, after=after, orgs=self.org_names(user),
                           next_url=nxt, first_url="/?" + urlencode({"status": status}) if status else "/")

    def job(self, request: Request) -> Response:
        user = self.who(request)
        if user is None:
            return self.login_page(request)
        job_id = request.path_params["job_id"]
        job = self.store.get_job(self.scope(user), job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            return self.not_found(request, user, "such job")
        events = self._all(self.store.list_events, self.scope(user), job_id)
        ckpts = self._all(self.store.list_checkpoints, self.scope(user), job_id)
        audit, audit_total, verified = self.audit(job)
        reports = [(i, _variant(p)) for i, p in enumerate(find_reports(self.settings, job))]
        if user != ADMIN:  # an organization sees file ids and relative paths, never the server's paths
            from safemix.service.jobrun import scrub, tenant_paths

            pairs = tenant_paths(self.settings, job)
            job, events, audit = scrub(job, pairs), scrub(events, pairs), scrub(audit, pairs)
        return self.render("job.html", request, user=user, job=job, events=list(reversed(events)),
                           checkpoints=list(reversed(ckpts)), audit=audit, audit_total=audit_total, verified=verified,
                           reports=reports, admin=user == ADMIN, orgs=self.org_names(user))

    def _all(self, fn: Any, scope: str | None, job_id: str) -> list[dict[str, Any]]:
        """Every row of a paged per-job list (newest first), up to MAX_LIST."""
        out: list[dict[str, Any]] = []
        after, more = None, True
        while more and len(out) < MAX_LIST:
            rows, more = fn(scope, job_id, after=after, limit=MAX_PAGE)
            out += rows
            after = rows[-1]["id"] if rows else None
            more = more and after is not None
        return out[:MAX_LIST]

    def audit(self, job: dict[str, Any]) -> tuple[list[dict[str, Any]], int, Any]:
        """The audit records of the job's wrap id (the last MAX_LIST), how many there are, and the
        whole log's verification (redone only when the log's size or mtime changed)."""
        from safemix.provider.audit import read_log, verify

        path = Path(self.settings.audit_path())
        records = read_log(path, job=job["wrap_id"]) if job.get("wrap_id") else []
        try:
            st = path.stat()
            stamp: tuple[Any, ...] = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        except OSError:
            stamp = (str(path), None)
        if self._verified is None or self._verified[0] != stamp:
            self._verified = (stamp, verify(path))
        return records[-MAX_LIST:], len(records), self._verified[1]

    def report(self, request: Request) -> Response:
        user = self.who(request)
        if user is None:
            return self.login_page(request)
        job_id = request.path_params["job_id"]
        job = self.store.get_job(self.scope(user), job_id) if _JOB_ID.match(job_id) else None
        reports = find_reports(self.settings, job) if job else []
        n = _int(request.query_params.get("n"), 0, 0, 10_000)
        if n >= len(reports):
            return self.not_found(request, user, "report for this job")
        return HTMLResponse(reports[n].read_text(encoding="utf-8", errors="replace"),
                            headers={**HEADERS, "Content-Security-Policy": REPORT_CSP})

    # -- files
    def files(self, request: Request) -> Response:
        user = self.who(request)
        if user is None:
            return self.login_page(request)
        after = request.query_params.get("after")
        after = after if _FILE_ID.match(after or "") else None
        rows, has_more = self.store.list_files(self.scope(user), after=after, limit=MAX_PAGE)
        nxt = "/files?" + urlencode({"after": rows[-1]["id"]}) if has_more and rows else None
        return self.render("files.html", request, user=user, files=rows, next_url=nxt, admin=user == ADMIN,
                           orgs=self.org_names(user))


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(value or default), lo), hi)
    except ValueError:
        return default


def dashboard_router(settings: Any, store: Any) -> APIRouter:
    """The dashboard's routes (mount at `/`): `/`, `/login`, `/logout`, `/jobs/{id}`,
    `/jobs/{id}/report`, `/files`, `/dashboard.css`."""
    d = Dashboard(settings, store)
    r = APIRouter(include_in_schema=False)
    r.add_api_route("/", d.jobs, methods=["GET"])
    r.add_api_route("/login", d.login_form, methods=["GET"])
    r.add_api_route("/login", d.login, methods=["POST"])
    r.add_api_route("/logout", d.logout, methods=["POST"])
    r.add_api_route("/jobs/{job_id}", d.job, methods=["GET"])
    r.add_api_route("/jobs/{job_id}/report", d.report, methods=["GET"])
    r.add_api_route("/files", d.files, methods=["GET"])
    r.add_api_route("/dashboard.css", d.css, methods=["GET"])
    return r


__all__ = ["ADMIN", "COOKIE", "Dashboard", "Sessions", "Throttle", "dashboard_router", "find_reports", "login_for",
           "session_secret"]
