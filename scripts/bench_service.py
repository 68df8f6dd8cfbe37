"""Benchmark of the fine-tuning service (issue 18): API latency under load, and the job queue.

    python scripts/bench_service.py                         # SQLite (the default store)
    python scripts/bench_service.py --pg                    # a throwaway PostgreSQL cluster
    python scripts/bench_service.py --database-url postgresql+psycopg://USER@HOST/DB

It starts `safemix serve` (uvicorn, one process) on 127.0.0.1 with a temporary home and the
rate limit raised so nothing is throttled, makes an organization and an API key, uploads one
small JSONL file, then:

(a) API: per operation (create job, list jobs, retrieve job), `--baseline` requests from one
    client (the latency without queueing), then `--requests` requests sent by `--clients`
    concurrent clients (asyncio tasks on one httpx2 client with a connection each); latency
    p50/p95/p99 (ms, measured by the client: queueing included) and throughput (req/s).
(b) Queue: the server is stopped; the jobs the API created wait in the queue (topped up to at
    least `--jobs`), and
    `--workers` processes each loop `Store.claim_job` + `Store.finish_job` until the queue is
    empty. No training runs: this measures the database queue only. Reports claims/s and
    checks that no job was claimed twice (per worker lists, and `attempts` in the database).

The results (with machine info) go to benchmarks/service/bench_<sqlite|postgresql>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPERATIONS = ("create_job", "list_jobs", "retrieve_job")
LEASE = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    db = p.add_mutually_exclusive_group()
    db.add_argument("--database-url", default=None, help="Run the store on this database (default: SQLite in the temp home).")
    db.add_argument("--pg", action="store_true", help="Start a throwaway PostgreSQL cluster on 127.0.0.1 and use it.")
    p.add_argument("--clients", type=int, default=200, help="Concurrent API clients (default 200).")
    p.add_argument("--requests", type=int, default=2000, help="Requests per API operation (default 2000).")
    p.add_argument("--warmup", type=int, default=50, help="Untimed requests per operation first (default 50).")
    p.add_argument("--baseline", type=int, default=100, help="Requests per operation from ONE client first: the "
                   "latency without queueing (default 100; 0: skip).")
    p.add_argument("--workers", type=int, default=4, help="Claiming worker processes (default 4).")
    p.add_argument("--jobs", type=int, default=2000, help="Jobs waiting in the queue before the claim run (default 2000).")
    p.add_argument("--out", default=None, help="Output JSON (default benchmarks/service/bench_<db>.json).")
    p.add_argument("--note", default="", help="Free text kept in the JSON (e.g. what else the machine was doing).")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------ machine
def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _versions(*names: str) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


def database_info(store: object) -> dict:
    from sqlalchemy import text

    engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            ver = conn.execute(text("SHOW server_version")).scalar()
        else:
            ver = conn.execute(text("SELECT sqlite_version()")).scalar()
    return {"backend": engine.dialect.name, "version": ver,
            "url": engine.url.render_as_string(hide_password=True)}


def machine_info() -> dict:
    return {"cpu_count": os.cpu_count(), "cpu_model": _cpu_model(), "load_average_at_start": list(os.getloadavg()),
            "platform": platform.platform(), "python": platform.python_version(),
            "packages": _versions("safemix", "sqlalchemy", "fastapi", "starlette", "uvicorn", "alembic", "psycopg",
                                  "httpx2", "anyio")}


# ------------------------------------------------------------------------------ server
def settings_overrides(home: Path, db_url: str | None) -> list[str]:
    out = [f"home={home}", "rate_limit_per_minute=100000000"]
    return out + ([f"database_url={db_url}"] if db_url else [])


def start_server(overrides: list[str], port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "safemix", "serve", *overrides, "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=str(ROOT))


def wait_ready(http: object, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"safemix serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if http.get("/v1/models").status_code == 200:  # type: ignore[attr-defined]
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    raise RuntimeError("safemix serve did not answer within the timeout")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def chat_jsonl(n: int = 12) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"The answer is {2 * i}."}]} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


# ------------------------------------------------------------------------------ load
def summarize(latencies: list[float], statuses: dict, wall: float) -> dict:
    """Latency percentiles (ms, nearest rank) and throughput of one operation's timed run."""
    xs = sorted(latencies)

    def pct(q: float) -> float:
        return round(1000 * xs[min(len(xs) - 1, max(0, int(round(q / 100 * len(xs))) - 1))], 2)

    return {"requests": len(xs), "wall_s": round(wall, 3), "throughput_rps": round(len(xs) / wall, 1),
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": round(1000 * xs[-1], 2),
            "mean_ms": round(1000 * sum(xs) / len(xs), 2), "status_codes": {str(k): v for k, v in sorted(statuses.items(), key=str)}}


def request_for(op: str, file_id: str, job_ids: list[str]) -> tuple[str, str, dict | None]:
    if op == "create_job":
        return "POST", "/v1/fine_tuning/jobs", {"model": "safemix-tiny", "training_file": file_id}
    if op == "list_jobs":
        return "GET", "/v1/fine_tuning/jobs?limit=20", None
    return "GET", f"/v1/fine_tuning/jobs/{random.choice(job_ids)}", None


async def run_operation(client: object, op: str, total: int, clients: int, file_id: str,
                        job_ids: list[str]) -> tuple[list[float], dict, float]:
    """`total` requests of `op` from `clients` concurrent tasks: (latencies s, status counts, wall s).
    Created jobs' ids are appended to `job_ids`."""
    left = [total]
    latencies: list[float] = []
    statuses: dict = {}  # HTTP status (or exception name) -> count

    async def one_client() -> None:
        while left[0] > 0:
            left[0] -= 1
            method, url, body = request_for(op, file_id, job_ids)
            t0 = time.perf_counter()
            try:
                r = await client.request(method, url, json=body)  # type: ignore[attr-defined]
            except Exception as e:  # noqa: BLE001 - counted, not fatal: the run goes on
                statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if op == "create_job" and r.status_code == 200:
                job_ids.append(r.json()["id"])

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - t0


async def api_load(base_url: str, key: str, file_id: str, args: argparse.Namespace) -> tuple[dict, list[str]]:
    import httpx2 as httpx

    # keepalive_expiry under uvicorn's 5 s keep-alive: a connection is not reused as the server closes it
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients, keepalive_expiry=2.0)
    job_ids: list[str] = []
    results = {}
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=300) as client:
        for op in OPERATIONS:
            if args.warmup:
                await run_operation(client, op, args.warmup, min(args.clients, args.warmup), file_id, job_ids)
            results[op] = {}
            if args.baseline:
                results[op]["single_client"] = summarize(*await run_operation(client, op, args.baseline, 1, file_id,
                                                                               job_ids))
            lat, statuses, wall = await run_operation(client, op, args.requests, args.clients, file_id, job_ids)
            results[op]["concurrent"] = summarize(lat, statuses=statuses, wall=wall)
            print(f"  {op:<13} {json.dumps(results[op])}", flush=True)
    return results, job_ids


def api_phase(overrides: list[str], key: str, home: Path, args: argparse.Namespace) -> dict:
    """Start the server, upload the file, run the load; the server is stopped after."""
    import httpx2 as httpx

    from safemix.service.pgcluster import free_port

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = start_server(overrides, port, home / "serve.log")
    try:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            wait_ready(http, proc, home / "serve.log")
            r = http.post("/v1/files", data={"purpose": "fine-tune"},
                          files={"file": ("bench.jsonl", chat_jsonl(), "application/jsonl")})
            r.raise_for_status()
            file_id = r.json()["id"]
        results, _ = asyncio.run(api_load(base_url, key, file_id, args))
    finally:
        stop_server(proc)
    return {"file_id": file_id, "operations": results}


# ------------------------------------------------------------------------------ queue
def claim_worker(overrides: list[str], worker_id: str, go: object, out: object) -> None:
    """One worker process: claim + finish until the queue is empty; puts its claimed ids,
    per-iteration seconds and timestamps on `out`."""
    from safemix.service.settings import load_settings
    from safemix.service.store import Store

    store = Store.from_settings(load_settings(None, overrides), create=False)
    store.list_jobs(None, limit=1)  # connect before the start
    ids, times, lost = [], [], 0
    go.wait()  # type: ignore[attr-defined]
    start = time.time()
    while True:
        t0 = time.perf_counter()
        job = store.claim_job(worker_id, LEASE)
        if job is None:
            break
        if not store.finish_job(job["id"], worker_id, status="succeeded"):
            lost += 1
        times.append(time.perf_counter() - t0)
        ids.append(job["id"])
    out.put({"worker": worker_id, "ids": ids, "times": times, "lost": lost, "start": start, "end": time.time()})  # type: ignore[attr-defined]
    store.close()


def top_up(store: object, org: str, file_id: str, n: int) -> int:
    """Queue jobs until `n` are waiting; the number waiting."""
    from sqlalchemy import text

    def waiting() -> int:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            return int(conn.execute(text("SELECT count(*) FROM jobs WHERE status IN ('validating_files', 'queued')")).scalar())

    have = waiting()
    for _ in range(max(0, n - have)):
        store.create_job(org, {"model": "safemix-tiny", "training_file": file_id})  # type: ignore[attr-defined]
    return waiting()


def queue_check(store: object) -> dict:
    from sqlalchemy import text

    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("SELECT status, attempts, count(*) FROM jobs GROUP BY status, attempts")).all()
    return {f"{s} (attempts={a})": int(c) for s, a, c in rows}


def queue_phase(store: object, overrides: list[str], org: str, file_id: str, args: argparse.Namespace) -> dict:
    import multiprocessing as mp

    waiting = top_up(store, org, file_id, args.jobs)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=claim_worker, args=(overrides, f"bench-w{i}", go, out))
             for i in range(args.workers)]
    for p in procs:
        p.start()
    time.sleep(5.0)  # every worker has imported and connected (each waits on `go`)
    t0 = time.time()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(r["end"] for r in results) - t0
    ids = [i for r in results for i in r["ids"]]
    times = [t for r in results for t in r["times"]]
    return {"workers": args.workers, "jobs_waiting": waiting, "claimed": len(ids), "wall_s": round(wall, 3),
            "claims_per_s": round(len(ids) / wall, 1), "claimed_twice": len(ids) - len(set(ids)),
            "lost_finishes": sum(r["lost"] for r in results),
            "per_worker": {r["worker"]: len(r["ids"]) for r in results},
            "claim_finish_latency": summarize(times, {}, wall) if times else None,
            "jobs_after": queue_check(store)}


# ------------------------------------------------------------------------------ main
def run(args: argparse.Namespace, db_url: str | None) -> dict:
    from safemix.service.settings import load_settings
    from safemix.service.store import Store

    with tempfile.TemporaryDirectory(prefix="safemix-bench-") as tmp:
        home = Path(tmp)
        overrides = settings_overrides(home, db_url)
        store = Store.from_settings(load_settings(None, overrides))
        try:
            org = store.create_org("bench")
            key = store.create_api_key(org["id"], "bench")
            report = {"database": database_info(store)}
            print(f"API load: {args.requests} requests per operation, {args.clients} clients", flush=True)
            report["api"] = {"clients": args.clients, "requests_per_operation": args.requests,
                             "warmup_per_operation": args.warmup, "single_client_requests": args.baseline,
                             **api_phase(overrides, key, home, args)}
            print(f"queue: {args.workers} workers over {args.jobs} jobs", flush=True)
            report["queue"] = queue_phase(store, overrides, org["id"], report["api"]["file_id"], args)
            print(f"  {json.dumps({k: v for k, v in report['queue'].items() if k != 'claim_finish_latency'})}")
        finally:
            store.close()
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = machine_info()
    with ExitStack() as stack:
        db_url = args.database_url
        if args.pg:
            from safemix.service.pgcluster import throwaway_cluster

            db_url = stack.enter_context(throwaway_cluster(max_connections=400))
        report = run(args, db_url)
    out = {"benchmark": "safemix service (scripts/bench_service.py)", "started": started,
           "command": shlex.join(["python", "scripts/bench_service.py", *(argv if argv is not None else sys.argv[1:])]),
           "note": args.note, "machine": {**machine, "load_average_at_end": list(os.getloadavg())}, **report}
    backend = report["database"]["backend"]
    path = Path(args.out) if args.out else ROOT / "benchmarks" / "service" / f"bench_{backend}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
