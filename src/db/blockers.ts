/**
 * Who holds the lock a migration waits for. Alembic's session is gone once lock_timeout has fired, so
 * its blockers are sampled while it runs (pg_blocking_pids of its waiting session), with the holders of
 * locks on the tables the migration touches as the fallback. Ending a blocker is only ever suggested.
 */
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface Blocker {
  pid: number;
  application: string;
  state: string | null;
  /** Seconds its transaction has been open (null: not in a transaction, or not visible to us). */
  xactAgeSeconds: number | null;
  /** Its current or last statement, one line, first 200 characters; null when not visible to us. */
  query: string | null;
  /** The table it holds a lock on, when found through the tables (not through pg_blocking_pids). */
  table?: string;
  mode?: string;
}

interface Row {
  pid: number;
  application_name: string | null;
  state: string | null;
  xact_age: number | null;
  query: string | null;
  table_name?: string | null;
  mode?: string | null;
}

function oneLine(text: string | null): string | null {
  if (text === null) return null;
  const flat = text.split(/\s+/).join(' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

function fromRow(r: Row): Blocker {
  return {
    pid: r.pid,
    application: r.application_name ?? '',
    state: r.state,
    xactAgeSeconds: r.xact_age === null ? null : Math.round(r.xact_age),
    query: oneLine(r.query),
    ...(r.table_name ? { table: r.table_name } : {}),
    ...(r.mode ? { mode: r.mode } : {}),
  };
}

const SESSION_COLUMNS = `b.pid, b.application_name, b.state,
  extract(epoch FROM now() - b.xact_start)::float8 AS xact_age, left(b.query, 400) AS query`;

/** Sessions blocking the (lock-waiting) sessions named `application`. One query; [] when none wait. */
export async function blockersOf(db: Queryable, application: string): Promise<Blocker[]> {
  const { rows } = await db.query<Row>(
    `SELECT DISTINCT ON (b.pid) ${SESSION_COLUMNS}
       FROM pg_stat_activity w
       CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
       JOIN pg_stat_activity b ON b.pid = bp.pid
      WHERE w.application_name = $1 AND w.wait_event_type = 'Lock'
      ORDER BY b.pid`,
    [application],
  );
  return rows.map(fromRow);
}

/**
 * Other sessions holding a lock on one of `tables` (`name` or `schema.name`, case-insensitive), with
 * their transaction open for at least `minXactAgeMs`. Sessions named `exceptApplication` are ours.
 */
export async function lockHoldersOn(
  db: Queryable,
  tables: string[],
  options: { minXactAgeMs?: number; exceptApplicationPrefix?: string } = {},
): Promise<Blocker[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<Row>(
    `SELECT DISTINCT ON (b.pid, c.oid) ${SESSION_COLUMNS},
            n.nspname || '.' || c.relname AS table_name, l.mode
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_stat_activity b ON b.pid = l.pid
      WHERE l.granted AND l.locktype = 'relation'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND b.pid <> pg_backend_pid()
        AND (lower(c.relname) = ANY($1) OR lower(n.nspname || '.' || c.relname) = ANY($1))
        AND ($2::text = '' OR left(coalesce(b.application_name, ''), length($2)) <> $2)
        AND b.xact_start IS NOT NULL
        AND now() - b.xact_start >= make_interval(secs => $3::float8 / 1000)
      ORDER BY b.pid, c.oid`,
    [
      tables.map((t) => t.toLowerCase()),
      options.exceptApplicationPrefix ?? '',
      Math.max(0, options.minXactAgeMs ?? 0),
    ],
  );
  return rows.map(fromRow);
}

/**
 * Sessions holding ACCESS EXCLUSIVE on a table of this database: the only lock that keeps pg_dump
 * (which takes ACCESS SHARE on every table it dumps) waiting.
 */
export async function exclusiveLockHolders(db: Queryable, exceptApplicationPrefix = ''): Promise<Blocker[]> {
  const { rows } = await db.query<Row>(
    `SELECT DISTINCT ON (b.pid, c.oid) ${SESSION_COLUMNS},
            n.nspname || '.' || c.relname AS table_name, l.mode
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_stat_activity b ON b.pid = l.pid
      WHERE l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND b.pid <> pg_backend_pid() AND c.relkind IN ('r', 'p', 'm', 'S')
        AND ($1::text = '' OR left(coalesce(b.application_name, ''), length($1)) <> $1)
      ORDER BY b.pid, c.oid`,
    [exceptApplicationPrefix],
  );
  return rows.map(fromRow);
}

/** `pid 123 (application 'psql', idle in transaction, transaction open 42s, holds AccessExclusiveLock on public.users): LOCK TABLE users` */
export function describeBlocker(b: Blocker, scrub: (text: string) => string = (t) => t): string {
  const parts = [`application '${b.application}'`];
  if (b.state) parts.push(b.state);
  if (b.xactAgeSeconds !== null) parts.push(`transaction open ${b.xactAgeSeconds}s`);
  if (b.table) parts.push(`holds ${b.mode ?? 'a lock'} on ${b.table}`);
  const query = b.query ? `: ${scrub(b.query)}` : '';
  return `pid ${b.pid} (${parts.join(', ')})${query}`;
}

/** The suggestion (never run by the gate) that ends the blocking sessions. */
export function terminateHint(blockers: Blocker[]): string {
  const pids = [...new Set(blockers.map((b) => b.pid))];
  return pids.map((p) => `SELECT pg_terminate_backend(${p})`).join('; ');
}

/**
 * Samples `blockersOf(application)` every `everyMs` until stopped; keeps the last non-empty sample
 * (alembic's session, and with it pg_blocking_pids, is gone once lock_timeout has fired).
 */
export function watchBlockers(
  db: Queryable,
  application: string,
  everyMs = 100,
): { stop(): Promise<Blocker[]> } {
  let last: Blocker[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const tick = () => {
    inFlight = blockersOf(db, application)
      .then((found) => {
        if (found.length > 0) last = found;
      })
      .catch(() => undefined) // a sample that fails costs only the sample
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs);
      });
  };
  timer = setTimeout(tick, everyMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      return last;
    },
  };
}

/** A PostgreSQL duration as the settings accept it (`5s`, `300ms`, `2min`, `1h`, `0`) in milliseconds. */
export function durationMs(text: string): number {
  const m = /^(\d+)\s*(ms|s|min|h)?$/.exec(text.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return n * { ms: 1, s: 1000, min: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'min' | 'h'];
}
