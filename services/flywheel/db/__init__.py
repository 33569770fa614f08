"""Database access: SQLAlchemy 2 metadata (one Base), engines, Alembic migrations, and the pipeline_runs writer.

The rule for every module that touches Postgres:

* The caller owns the engine/session and the transaction. Data functions take it as a keyword-only, typed argument
  (``session: Session``, ``engine: Engine`` or ``conn: Connection``) and never create or dispose an engine.
  Entry points that callers reach with settings only (CLI commands, DAG tasks, stage functions) open at most one
  engine per call with :func:`flywheel.db.engine.owned_engine`, which also accepts the caller's engine.
* ORM (``flywheel.db.*`` tables, ``Session``) for rows the code reads and writes one by one (registry, experiments,
  pipeline_runs); ``text()`` for the SQL files and set-based statements (ground truth, splits, reports, views);
  raw psycopg only for COPY in the ingest sink, where a driver-level bulk path is the point.
* The schema changes only through Alembic (``migrations/``); a migration carries its own SQL.
* Every stage records its run through :mod:`flywheel.db.runs` (never its own SQL against ``pipeline_runs``).
"""
