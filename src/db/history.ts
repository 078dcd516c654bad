/**
 * The gate's own history: one row per run, in its own schema, written on the gate's connection
 * (autocommit, outside Alembic's transaction) so a failed migration still leaves its record.
 */
import type pg from 'pg';
import type { ClassifiedMigration, Decision } from '../types.js';

export type RunOutcome =
  | 'running'
  | 'noop'
  | 'migrated'
  | 'blocked'
  | 'failed'
  | 'interrupted'
  | 'code-rollback'
  | 'restored'
  | 'rolled-back';

export interface RunOverride {
  revisions: string[];
  reason: string;
  all: boolean;
  /** Revisions named in the flag that were not pending (a stale flag). */
  unused: string[];
}

export interface RunDump {
  id: string;
  location: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  /** Provenance of the dump (absent in rows written before it was recorded). */
  madeBy?: 'run' | 'rollback' | 'restore';
  /** The database's revisions when it was taken. */
  revisions?: string[];
  /** e.g. "before deploy #12: c71d4e9a -> 1a0599fa". */
  purpose?: string;
  /** ISO time the dump was taken. */
  createdAt?: string;
  /** How it was taken; absent on older rows (pg_dump). */
  method?: 'pg_dump' | 'render-export';
  /** Render's export id (MIGRATION_GATE_DUMP_METHOD=render-export|auto). */
  renderExportId?: string;
  renderPostgresId?: string;
}

/**
 * What a `restore` put back (next to `dump`, the safety dump it took of the state it replaced).
 * `runId` + `madeBy` say "taken before deploy #N"; nulls where the dump does not record it (a local
 * file, or a dump made before provenance was recorded).
 */
export interface RunSourceDump {
  id: string;
  location: string | null;
  madeBy: 'run' | 'rollback' | 'restore' | null;
  runId: number | null;
  /** The database revisions in the dump; null when unknown (a local file). */
  revisions: string[] | null;
  purpose: string | null;
  createdAt: string | null;
}

/** What Render said about point-in-time recovery before the upgrade (see src/render/pitr.ts). */
export interface RunRecovery {
  provider: 'render';
  postgresId: string;
  /** AVAILABLE, BACKUP_NOT_READY, NOT_AVAILABLE; null when Render could not be asked (see error). */
  status: 'AVAILABLE' | 'BACKUP_NOT_READY' | 'NOT_AVAILABLE' | null;
  /** ISO start of the recovery window. */
  windowStartsAt: string | null;
  checkedAt: string;
  /** ISO time just before `alembic upgrade` started: the point to recover to. */
  upgradeStartedAt?: string;
  /** Scheduled or in-progress maintenance on the database. */
  maintenance: Array<{ id: string; state?: string; scheduledAt?: string }>;
  error?: string;
}

export interface RunRecord {
  id: number;
  command: string;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: RunOutcome;
  decision: Decision | null;
  service: string | null;
  serviceId: string | null;
  commit: string | null;
  isPullRequest: boolean | null;
  /** Revisions in the database when the run started. */
  fromRevisions: string[];
  /** The code's heads (the target). */
  toRevisions: string[];
  /** Revisions in the database when the run ended (differs from `to` after a failure). */
  reachedRevisions: string[] | null;
  pending: ClassifiedMigration[];
  override: RunOverride | null;
  dump: RunDump | null;
  dumpPolicy: string | null;
  upgradeMs: number | null;
  durationMs: number | null;
  error: string | null;
  warnings: string[];
  /** The pipeline step the run is at (while running) or ended at (`failed at: dump`); null for older rows. */
  step?: string | null;
  /** Render point-in-time recovery at the time of the run (null without the Render API or in older rows). */
  recovery?: RunRecovery | null;
}

export type NewRun = Pick<RunRecord, 'command'> &
  Partial<
    Pick<RunRecord, 'service' | 'serviceId' | 'commit' | 'isPullRequest' | 'fromRevisions' | 'toRevisions'>
  >;

export type RunPatch = Partial<Omit<RunRecord, 'id' | 'startedAt' | 'command'>> & {
  /** `restore` only: the dump it put back (column source_dump; serve reads it from the row's JSON). */
  sourceDump?: RunSourceDump | null;
};

type Queryable = Pick<pg.ClientBase, 'query'>;

function ident(schema: string): string {
  return '"' + schema.replace(/"/g, '""') + '"';
}

/**
 * Columns added after the first release, each with its type: a table created by an older version gets
 * them on the next run (ADD COLUMN IF NOT EXISTS), so old and new rows share one shape.
 */
const LATER_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['step', 'text'],
  // restore: which dump it put back (RunSourceDump).
  ['source_dump', 'jsonb'],
  ['recovery', 'jsonb'],
];

/** Whether the table exists and has every later column, in one catalog query. */
async function historyShape(db: Queryable, schema: string): Promise<'current' | 'old' | 'absent'> {
  const res = await db.query<{ t: string | null; missing: number }>(
    `SELECT to_regclass($1) AS t,
            (SELECT count(*)::int FROM unnest($2::text[]) AS want(name)
              WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                                 WHERE a.attrelid = to_regclass($1) AND a.attname = want.name
                                   AND NOT a.attisdropped)) AS missing`,
    [`${ident(schema)}.runs`, LATER_COLUMNS.map(([name]) => name)],
  );
  const row = res.rows[0];
  if (row?.t == null) return 'absent';
  return row.missing > 0 ? 'old' : 'current';
}

export async function ensureHistory(db: Queryable, schema: string): Promise<void> {
  // Every deploy passes here: one cheap catalog lookup when the table is already there.
  if ((await historyShape(db, schema)) === 'current') return;
  const s = ident(schema);
  // Two first runs at once can race on CREATE SCHEMA/TABLE IF NOT EXISTS; a transaction-level
  // advisory lock serialises the DDL without touching the gate's own session lock.
  await db.query('BEGIN');
  try {
    await db.query("SELECT pg_advisory_xact_lock(hashtext('migration-gate:history-ddl'))");
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${s}.runs (
      id bigserial PRIMARY KEY,
      command text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      outcome text NOT NULL DEFAULT 'running',
      decision text,
      service text,
      service_id text,
      commit text,
      is_pull_request boolean,
      from_revisions text[] NOT NULL DEFAULT '{}',
      to_revisions text[] NOT NULL DEFAULT '{}',
      reached_revisions text[],
      pending jsonb NOT NULL DEFAULT '[]',
      override jsonb,
      dump jsonb,
      dump_policy text,
      upgrade_ms integer,
      duration_ms integer,
      error text,
      warnings jsonb NOT NULL DEFAULT '[]'
    )`);
    for (const [name, type] of LATER_COLUMNS)
      await db.query(`ALTER TABLE ${s}.runs ADD COLUMN IF NOT EXISTS ${ident(name)} ${type}`);
    await db.query(`CREATE INDEX IF NOT EXISTS runs_started_at_idx ON ${s}.runs (started_at DESC)`);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const COLUMNS: Record<keyof RunPatch, { col: string; json?: boolean }> = {
  finishedAt: { col: 'finished_at' },
  outcome: { col: 'outcome' },
  decision: { col: 'decision' },
  service: { col: 'service' },
  serviceId: { col: 'service_id' },
  commit: { col: 'commit' },
  isPullRequest: { col: 'is_pull_request' },
  fromRevisions: { col: 'from_revisions' },
  toRevisions: { col: 'to_revisions' },
  reachedRevisions: { col: 'reached_revisions' },
  pending: { col: 'pending', json: true },
  override: { col: 'override', json: true },
  dump: { col: 'dump', json: true },
  dumpPolicy: { col: 'dump_policy' },
  upgradeMs: { col: 'upgrade_ms' },
  durationMs: { col: 'duration_ms' },
  error: { col: 'error' },
  warnings: { col: 'warnings', json: true },
  step: { col: 'step' },
  sourceDump: { col: 'source_dump', json: true },
  recovery: { col: 'recovery', json: true },
};

function assignments(patch: RunPatch, firstParam: number): { sql: string[]; values: unknown[] } {
  const sql: string[] = [];
  const values: unknown[] = [];
  for (const [key, value] of Object.entries(patch) as Array<[keyof RunPatch, unknown]>) {
    if (value === undefined) continue;
    const spec = COLUMNS[key];
    values.push(spec.json && value !== null ? JSON.stringify(value) : value);
    sql.push(`${spec.col} = $${firstParam + values.length - 1}`);
  }
  return { sql, values };
}

/**
 * Liveness of a history row: the session that inserts a row takes a session-level advisory lock
 * (RUN_LOCK_CLASS, row id) and holds it until it disconnects, however it ends. A `running` row whose
 * lock nobody holds was left by a process that is gone; a run still waiting for the gate lock holds
 * its row lock, so it is not mistaken for a dead one.
 */
export const RUN_LOCK_CLASS = 0x6d677275; // 'mgru'
// Two-int advisory keys are int4: the low 31 bits of the id (ids never get near 2^31 in practice).
const runLockObjid = (idSql: string) => `(${idSql} & 2147483647)::int`;
const RUN_LOCK_SQL = `pg_advisory_lock(${RUN_LOCK_CLASS}, ${runLockObjid('id')}) IS NULL AS locked`;

export async function startRun(db: Queryable, schema: string, run: NewRun & RunPatch): Promise<number> {
  const { command, ...rest } = run;
  const { sql, values } = assignments(rest as RunPatch, 2);
  const cols = sql.map((a) => a.split(' = ')[0]);
  const params = sql.map((a) => a.split(' = ')[1]);
  // RETURNING takes the row's liveness lock (see RUN_LOCK_CLASS) in the INSERT itself: no other
  // session can see the row before its lock is held.
  const res = await db.query<{ id: string }>(
    `INSERT INTO ${ident(schema)}.runs (command${cols.map((c) => ', ' + c).join('')})
     VALUES ($1${params.map((p) => ', ' + p).join('')}) RETURNING id, ${RUN_LOCK_SQL}`,
    [command, ...values],
  );
  return Number(res.rows[0]!.id);
}

export async function updateRun(db: Queryable, schema: string, id: number, patch: RunPatch): Promise<void> {
  const { sql, values } = assignments(patch, 2);
  if (sql.length === 0) return;
  await db.query(`UPDATE ${ident(schema)}.runs SET ${sql.join(', ')} WHERE id = $1`, [id, ...values]);
}

interface Row {
  id: string;
  command: string;
  started_at: Date;
  finished_at: Date | null;
  outcome: RunOutcome;
  decision: Decision | null;
  service: string | null;
  service_id: string | null;
  commit: string | null;
  is_pull_request: boolean | null;
  from_revisions: string[];
  to_revisions: string[];
  reached_revisions: string[] | null;
  pending: ClassifiedMigration[];
  override: RunOverride | null;
  dump: RunDump | null;
  dump_policy: string | null;
  upgrade_ms: number | null;
  duration_ms: number | null;
  error: string | null;
  warnings: string[];
  step?: string | null;
  recovery?: RunRecovery | null;
}

function fromRow(r: Row): RunRecord {
  return {
    id: Number(r.id),
    command: r.command,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome,
    decision: r.decision,
    service: r.service,
    serviceId: r.service_id,
    commit: r.commit,
    isPullRequest: r.is_pull_request,
    fromRevisions: r.from_revisions,
    toRevisions: r.to_revisions,
    reachedRevisions: r.reached_revisions,
    pending: r.pending,
    override: r.override,
    dump: r.dump,
    dumpPolicy: r.dump_policy,
    upgradeMs: r.upgrade_ms,
    durationMs: r.duration_ms,
    error: r.error,
    warnings: r.warnings,
    step: r.step ?? null,
    recovery: r.recovery ?? null,
  };
}

async function historyExists(db: Queryable, schema: string): Promise<boolean> {
  const res = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${ident(schema)}.runs`]);
  return res.rows[0]?.t != null;
}

/**
 * Newest first, by start time: a run recorded afterwards (see recordPastAttempt) sorts where it
 * happened, not above the run that recorded it. An absent history table is an empty history.
 */
export async function listRuns(db: Queryable, schema: string, limit = 20): Promise<RunRecord[]> {
  if (!(await historyExists(db, schema))) return [];
  const res = await db.query<Row>(
    `SELECT * FROM ${ident(schema)}.runs ORDER BY started_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  return res.rows.map(fromRow);
}

export async function getRun(db: Queryable, schema: string, id: number): Promise<RunRecord | null> {
  if (!(await historyExists(db, schema))) return null;
  const res = await db.query<Row>(`SELECT * FROM ${ident(schema)}.runs WHERE id = $1`, [id]);
  return res.rows[0] ? fromRow(res.rows[0]) : null;
}

/**
 * The latest run that left the database at `revision` (a later deploy applied it). Used to tell a
 * code rollback (the database is ahead of the code because of us) from an unknown revision.
 */
export async function runThatReached(
  db: Queryable,
  schema: string,
  revision: string,
): Promise<RunRecord | null> {
  if (!(await historyExists(db, schema))) return null;
  const res = await db.query<Row>(
    `SELECT * FROM ${ident(schema)}.runs
      WHERE $1 = ANY(coalesce(reached_revisions, '{}')) AND outcome IN ('migrated', 'failed', 'interrupted')
      ORDER BY id DESC LIMIT 1`,
    [revision],
  );
  return res.rows[0] ? fromRow(res.rows[0]) : null;
}

/** The latest successful migration, for rollback and the "seconds since" metric. */
export async function lastMigrated(db: Queryable, schema: string): Promise<RunRecord | null> {
  if (!(await historyExists(db, schema))) return null;
  const res = await db.query<Row>(
    `SELECT * FROM ${ident(schema)}.runs WHERE outcome = 'migrated' ORDER BY id DESC LIMIT 1`,
  );
  return res.rows[0] ? fromRow(res.rows[0]) : null;
}

/** A run that could not reach its history, as a later run records it (see gate/unrecorded.ts). */
export interface PastAttempt {
  command: string;
  at: Date;
  service: string | null;
  serviceId: string | null;
  commit: string | null;
  /** The step it failed at (connect, record-start). */
  step: string;
  error: string;
  warnings: string[];
}

/**
 * Inserts a failed row for `a`, started and finished at its own time. Idempotent: a row of the same
 * command, time and cause (a note that a killed run recorded but could not remove) is returned as is.
 */
export async function recordPastAttempt(
  db: Queryable,
  schema: string,
  a: PastAttempt,
): Promise<{ id: number; existed: boolean }> {
  const t = `${ident(schema)}.runs`;
  const dup = await db.query<{ id: string }>(
    `SELECT id FROM ${t} WHERE command = $1 AND started_at = $2 AND error = $3 LIMIT 1`,
    [a.command, a.at, a.error],
  );
  if (dup.rows[0]) return { id: Number(dup.rows[0].id), existed: true };
  const res = await db.query<{ id: string }>(
    `INSERT INTO ${t} (command, started_at, finished_at, outcome, service, service_id, commit, step, error, warnings, duration_ms)
     VALUES ($1, $2, $2, 'failed', $3, $4, $5, $6, $7, $8, 0) RETURNING id`,
    [a.command, a.at, a.service, a.serviceId, a.commit, a.step, a.error, JSON.stringify(a.warnings)],
  );
  return { id: Number(res.rows[0]!.id), existed: false };
}

/** What a run that died without a word is recorded with (issue 16). */
export const STALE_RUN_CAUSE =
  'the gate process ended without recording a result (killed, out of memory, or the instance was stopped)';

/**
 * Rows recorded as `running` whose process is gone: nobody holds their liveness lock (see
 * RUN_LOCK_CLASS). `exceptId` is the caller's own row. Oldest first.
 */
export async function deadRunningRuns(db: Queryable, schema: string, exceptId: number): Promise<RunRecord[]> {
  if (!(await historyExists(db, schema))) return [];
  const res = await db.query<Row>(
    `SELECT r.* FROM ${ident(schema)}.runs r
      WHERE r.outcome = 'running' AND r.id <> $1
        AND NOT EXISTS (
          SELECT 1 FROM pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.classid = ${RUN_LOCK_CLASS} AND l.objid = ${runLockObjid('r.id')}::oid)
      ORDER BY r.id`,
    [exceptId],
  );
  return res.rows.map(fromRow);
}

/**
 * Closes a dead run's row as interrupted, with the revisions the database is at now. Only while it
 * is still `running`: a row its process finished meanwhile keeps its own result. True if closed.
 */
export async function closeDeadRun(
  db: Queryable,
  schema: string,
  id: number,
  reachedRevisions: string[],
  now: Date = new Date(),
  lastStep?: string | null,
): Promise<boolean> {
  const res = await db.query(
    `UPDATE ${ident(schema)}.runs
        SET outcome = 'interrupted', finished_at = $2, reached_revisions = $3, error = $4,
            duration_ms = LEAST(2147483647, GREATEST(0, (extract(epoch FROM $2::timestamptz - started_at) * 1000)::bigint))::int
      WHERE id = $1 AND outcome = 'running'`,
    [id, now, reachedRevisions, STALE_RUN_CAUSE + (lastStep ? ` (last step: ${lastStep})` : '')],
  );
  return (res.rowCount ?? 0) > 0;
}
