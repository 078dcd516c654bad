/**
 * Migration sessions the gate started: Alembic's connection carries an application name (PGAPPNAME)
 * naming the gate command and run, so a later run can find one that outlived its gate.
 */
import type pg from 'pg';
import { FailedError } from '../errors.js';

export const ALEMBIC_APP_PREFIX = 'migration-gate alembic ';

/** The application name of Alembic's session for one gate run, e.g. `migration-gate alembic run 12`. */
export function alembicAppName(command: string, runId: number): string {
  return `${ALEMBIC_APP_PREFIX}${command} ${runId}`;
}

export interface MigrationSession {
  pid: number;
  application: string;
  state: string | null;
  /** The statement it runs or ran last (one line, cut at 200 characters); null when not visible to us. */
  query: string | null;
  /** Seconds since the statement (else the session) started. */
  ageSeconds: number | null;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Alembic sessions of gate runs on this database, other than `exceptApp` (the caller's own). */
export async function migrationSessions(db: Queryable, exceptApp?: string): Promise<MigrationSession[]> {
  const { rows } = await db.query<{
    pid: number;
    application_name: string;
    state: string | null;
    query: string | null;
    age: number | null;
  }>(
    `SELECT pid, application_name, state, query,
            extract(epoch FROM now() - coalesce(query_start, backend_start))::float8 AS age
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND left(application_name, length($1)) = $1 AND application_name <> $2
      ORDER BY pid`,
    [ALEMBIC_APP_PREFIX, exceptApp ?? ''],
  );
  return rows.map((r) => ({
    pid: r.pid,
    application: r.application_name,
    state: r.state,
    query: r.query === null ? null : oneLine(r.query),
    ageSeconds: r.age === null ? null : Math.round(r.age),
  }));
}

function oneLine(text: string): string {
  const flat = text.split(/\s+/).join(' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** `pid 123 ('migration-gate alembic run 7', active for 45s: SELECT pg_sleep(60))`, scrubbed. */
export function describeSession(s: MigrationSession, scrub: (text: string) => string = (t) => t): string {
  const age = s.ageSeconds === null ? '' : ` for ${s.ageSeconds}s`;
  const query = s.query ? `: ${scrub(s.query)}` : '';
  return `pid ${s.pid} ('${s.application}', ${s.state ?? 'state unknown'}${age}${query})`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Waits (up to `waitMs`, like the gate lock) until no Alembic session of an earlier gate run is left
 * on this database; then fails naming it. The caller holds the gate lock, so such a session belongs to
 * a gate that is gone: its migration may still be changing the schema, and nothing may start beside it.
 */
export async function waitForEarlierMigrations(
  db: Queryable,
  opts: {
    waitMs: number;
    pollMs?: number;
    exceptApp?: string;
    signal?: AbortSignal;
    warn: (line: string) => void;
    scrub?: (text: string) => string;
  },
): Promise<void> {
  const deadline = Date.now() + Math.max(0, opts.waitMs);
  let warned = false;
  for (;;) {
    const sessions = await migrationSessions(db, opts.exceptApp);
    if (sessions.length === 0) return;
    const list = sessions.map((s) => describeSession(s, opts.scrub)).join('; ');
    const remaining = deadline - Date.now();
    if (remaining <= 0 || opts.signal?.aborted) {
      const first = sessions[0]!.pid;
      throw new FailedError(
        `a migration started by an earlier gate run is still running on this database although its gate is gone: ${list}; waited ${Math.round(opts.waitMs / 1000)}s for it to end. Nothing was changed. Let it finish, or stop it with SELECT pg_terminate_backend(${first}) (its transaction rolls back), then re-deploy`,
      );
    }
    if (!warned) {
      warned = true;
      opts.warn(
        `A migration started by an earlier gate run is still running on this database (${list}); its gate is gone. Waiting up to ${Math.round(Math.max(0, opts.waitMs) / 1000)}s for it to end before going on.`,
      );
    }
    await sleep(Math.min(Math.max(10, opts.pollMs ?? 1000), remaining), opts.signal);
  }
}
