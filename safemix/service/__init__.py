"""`safemix serve`: an OpenAI-compatible fine-tuning service where every job goes through `wrap`.

The parts (issue 18):

- `settings`  ServiceSettings: where the database, files, runs and audit log live; limits.
- `store`     the job store (SQLAlchemy 2; SQLite by default, PostgreSQL by URL; schema by the
              Alembic migrations in `migrations/`): orgs, API keys, files, jobs (the queue, with
              row leases), events, checkpoints. Everything the API and the workers share.
- `blobs`     the bytes of uploaded files, on local disk or any fsspec URL; keyed by file id.
- `api`       the FastAPI app (`create_app(settings)`): the OpenAI files / fine-tuning / chat surface.
- `worker`, `executors`, `jobrun`: claim a job, run `wrap` locally, on Ray or through Slurm.
- `dashboard` the server-rendered pages at `/`.

Heavy imports (sqlalchemy, alembic, fastapi, ray) stay in this package, which only the service
verbs (`safemix serve`, `safemix worker`, `safemix keys`) import.
"""
