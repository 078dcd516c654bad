"""Smoke check: can we connect, is the schema migrated, are the tables readable?

Usable as a rehearsal smoke command: `python -m app.health` exits 0 when healthy, 1 otherwise.
Only needs psycopg2, so it runs in the pre-deploy environment without starting the web app.
"""
import os
import sys

import psycopg2

# The tables the app reads on every request after revision fd4af8236c7d.
REQUIRED_TABLES = (
    "users",
    "projects",
    "aperture_frame_types",
    "aperture_glazing_types",
    "aperture_element_frame",
    "aperture_element_glazing",
    "apertures",
    "aperture_elements",
)


def libpq_url(url: str) -> str:
    """libpq understands postgres:// and postgresql://, not SQLAlchemy's postgresql+psycopg2://."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return "postgresql://" + rest
    return url


def check(url: str) -> list[str]:
    """Problems found, empty when healthy."""
    problems: list[str] = []
    with psycopg2.connect(libpq_url(url), connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
                (list(REQUIRED_TABLES),),
            )
            present = {row[0] for row in cur.fetchall()}
            for table in REQUIRED_TABLES:
                if table not in present:
                    problems.append(f"table {table} is missing")
                    continue
                # Reading a row proves the table is usable, not just listed in the catalog.
                cur.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
                cur.fetchall()
            cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not cur.fetchone()[0]:
                problems.append("alembic_version is missing: the database was never migrated")
            else:
                cur.execute("SELECT version_num FROM alembic_version")
                if not cur.fetchall():
                    problems.append("alembic_version is empty: the database is at no revision")
    conn.close()
    return problems


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("health: DATABASE_URL is not set", file=sys.stderr)
        return 1
    try:
        problems = check(url)
    except psycopg2.Error as err:
        print(f"health: cannot query the database: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(f"health: {problem}", file=sys.stderr)
        return 1
    print(f"health: ok ({len(REQUIRED_TABLES)} tables readable)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
