"""Helpers shared by the run store tests."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CANARY = "canary-XYZ-123"


def libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a libpq URI, for psycopg.connect."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def raw_dump(backend) -> bytes:
    """Every byte the database holds for the store (SQLite files; PostgreSQL rows as text)."""
    name, _url, details = backend
    if name == "sqlite":
        return b"".join(p.read_bytes() for p in sorted(details["dir"].iterdir()) if p.is_file())
    import psycopg

    schema = details["schema"]
    chunks = []
    with psycopg.connect(libpq(details["db_url"])) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        for table in tables:
            for (text,) in conn.execute(f'SELECT row_to_json(x)::text FROM "{schema}"."{table}" x'):
                chunks.append(text.encode())
    return b"\n".join(chunks)


def make_run(store, **overrides) -> str:
    args = dict(playbook_name="triage", playbook_path="playbooks/triage.yaml",
                playbook_text="name: triage\nsteps: []\n", inputs={"min_risk": "High"})
    args.update(overrides)
    return store.create_run(**args)
