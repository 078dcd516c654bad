/**
 * The status service's own reader of the history table. The gate writes the table; serve only reads
 * it, and must survive whatever it finds there: rows written by other versions, hand edits, junk.
 * Each row is read as JSON (`to_jsonb(r)`, whatever its columns) and checked field by field: a row
 * that does not fit is returned as unreadable (with what is wrong), never thrown, so one bad row
 * cannot take /status or /metrics down. A table the service cannot read at all (wrong shape, no
 * privilege) is a HistoryProblem with a cause that names the table, the privilege and the fix.
 */
import type pg from 'pg';
import { RUN_LOCK_CLASS, STALE_RUN_CAUSE, type RunOutcome, type RunRecord } from '../db/history.js';
import type { ClassifiedMigration } from '../types.js';

type Queryable = Pick<pg.Pool, 'query'>;

/** A dump a restore restored (recorded by `restore` next to the safety dump it took first). */
export interface SourceDump {
  id: string;
  madeBy: string | null;
  revisions: string[] | null;
  /** The history run that took it, when recorded. */
  runId: number | null;
  /** In words, when recorded ("before deploy #12: c71d4e9a -> 1a0599fa"). */
  purpose: string | null;
}

/** A run as serve shows it: the record plus the fields later versions add (all optional). */
export type ShownRun = RunRecord & { step: string | null; sourceDump: SourceDump | null };

export interface UnreadableRun {
  /** null when even the id is unusable. */
  id: number | null;
  unreadable: string;
}

export type HistoryRow = ShownRun | UnreadableRun;

export const isUnreadable = (r: HistoryRow): r is UnreadableRun => 'unreadable' in r;

export interface RunCount {
  outcome: string;
  decision: string;
  count: number;
}

export class HistoryProblem extends Error {}

const OUTCOMES: ReadonlySet<string> = new Set<RunOutcome>([
  'running',
  'noop',
  'migrated',
  'blocked',
  'failed',
  'interrupted',
  'code-rollback',
  'restored',
  'rolled-back',
]);

class Bad extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Bad(`${key} is not text`);
  return v;
}
function optStr(o: Obj, key: string): string | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new Bad(`${key} is not text`);
  return v;
}
function optNum(o: Obj, key: string): number | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Bad(`${key} is not a number`);
  return v;
}
function strings(o: Obj, key: string, nullable: true): string[] | null;
function strings(o: Obj, key: string, nullable?: false): string[];
function strings(o: Obj, key: string, nullable = false): string[] | null {
  const v = o[key];
  if (v === null || v === undefined) return nullable ? null : [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Bad(`${key} is not a list of text`);
  return v as string[];
}
function time(o: Obj, key: string, nullable: boolean): Date | null {
  const v = o[key];
  if ((v === null || v === undefined) && nullable) return null;
  const d = typeof v === 'string' ? new Date(v) : null;
  if (!d || Number.isNaN(d.getTime())) throw new Bad(`${key} is not a timestamp`);
  return d;
}

function migration(v: unknown, i: number): ClassifiedMigration {
  const where = `pending[${i}]`;
  if (!isObj(v) || typeof v.revision !== 'string' || typeof v.verdict !== 'string')
    throw new Bad(`${where} is not a classified migration (revision, verdict)`);
  const findings = v.findings ?? [];
  if (!Array.isArray(findings) || !findings.every((f) => isObj(f) && typeof f.message === 'string'))
    throw new Bad(`${where}.findings is not a list of findings`);
  return { ...v, findings, file: typeof v.file === 'string' ? v.file : '' } as unknown as ClassifiedMigration;
}

function dumpOf(v: unknown): RunRecord['dump'] {
  if (v === null || v === undefined) return null;
  if (!isObj(v) || typeof v.id !== 'string' || typeof v.location !== 'string')
    throw new Bad('dump has no id/location');
  return {
    ...v,
    bytes: typeof v.bytes === 'number' ? v.bytes : 0,
    sha256: typeof v.sha256 === 'string' ? v.sha256 : '',
    durationMs: typeof v.durationMs === 'number' ? v.durationMs : 0,
  } as RunRecord['dump'];
}

function overrideOf(v: unknown): RunRecord['override'] {
  if (v === null || v === undefined) return null;
  if (!isObj(v) || typeof v.reason !== 'string') throw new Bad('override has no reason');
  return {
    revisions: strings(v, 'revisions'),
    reason: v.reason,
    all: v.all === true,
    unused: strings(v, 'unused'),
  };
}

/** Lenient: a field added by another version is shown when it makes sense, ignored otherwise. */
function sourceDumpOf(o: Obj): SourceDump | null {
  const v = o.source_dump ?? o.sourceDump;
  if (!isObj(v) || typeof v.id !== 'string') return null;
  const revisions = Array.isArray(v.revisions) && v.revisions.every((x) => typeof x === 'string');
  const runId = Number(v.runId ?? v.run_id);
  return {
    id: v.id,
    madeBy: typeof v.madeBy === 'string' ? v.madeBy : null,
    revisions: revisions ? (v.revisions as string[]) : null,
    runId: Number.isSafeInteger(runId) && runId > 0 ? runId : null,
    purpose: typeof v.purpose === 'string' ? v.purpose : null,
  };
}

function idOf(v: unknown): number | null {
  const n = typeof v === 'string' && /^[0-9]{1,16}$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** One row of `to_jsonb(runs)`: a run, or what is wrong with it. Pure. */
export function parseRunRow(raw: unknown): HistoryRow {
  if (!isObj(raw)) return { id: null, unreadable: 'the row is not an object' };
  const id = idOf(raw.id);
  if (id === null) return { id: null, unreadable: `id ${JSON.stringify(raw.id)} is not a run id` };
  try {
    const outcome = str(raw, 'outcome');
    if (!OUTCOMES.has(outcome))
      throw new Bad(`outcome ${JSON.stringify(outcome.slice(0, 40))} is not one migration-gate writes`);
    const pending = raw.pending ?? [];
    if (!Array.isArray(pending)) throw new Bad('pending is not a list');
    const isPr = raw.is_pull_request;
    if (isPr !== null && isPr !== undefined && typeof isPr !== 'boolean')
      throw new Bad('is_pull_request is not true/false');
    return {
      id,
      command: str(raw, 'command'),
      startedAt: time(raw, 'started_at', false)!,
      finishedAt: time(raw, 'finished_at', true),
      outcome: outcome as RunOutcome,
      decision: optStr(raw, 'decision') as RunRecord['decision'],
      service: optStr(raw, 'service'),
      serviceId: optStr(raw, 'service_id'),
      commit: optStr(raw, 'commit'),
      isPullRequest: (isPr as boolean | null | undefined) ?? null,
      fromRevisions: strings(raw, 'from_revisions'),
      toRevisions: strings(raw, 'to_revisions'),
      reachedRevisions: strings(raw, 'reached_revisions', true),
      pending: pending.map(migration),
      override: overrideOf(raw.override),
      dump: dumpOf(raw.dump),
      dumpPolicy: optStr(raw, 'dump_policy'),
      upgradeMs: optNum(raw, 'upgrade_ms'),
      durationMs: optNum(raw, 'duration_ms'),
      error: optStr(raw, 'error'),
      warnings: strings(raw, 'warnings'),
      step: typeof raw.step === 'string' ? raw.step : null,
      sourceDump: sourceDumpOf(raw),
    };
  } catch (err) {
    if (err instanceof Bad) return { id, unreadable: err.message };
    throw err;
  }
}

const ident = (name: string) => '"' + name.replace(/"/g, '""') + '"';

const ABSENT = new Set(['42P01', '3F000']);
const NO_PRIVILEGE = '42501';
// Undefined column, wrong type, no such operator/function, bad cast: the table is not ours.
const WRONG_SHAPE = new Set(['42703', '42804', '42883', '22P02', '42846']);

/**
 * The readable cause of a failed history read, or undefined when it is not about the table (a
 * connection problem: the caller reports the database as unreachable). Pure.
 */
export function historyProblem(err: unknown, schema: string, user: string): HistoryProblem | undefined {
  const code = (err as { code?: string } | null)?.code ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  const table = `${schema}.runs`;
  if (code === NO_PRIVILEGE) {
    return new HistoryProblem(
      `the database user "${user}" may not read the history table ${table} (${detail}): serve needs USAGE on schema ${schema} and SELECT on ${table}. As the table's owner run: GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(user)}; GRANT SELECT ON ${ident(schema)}.runs TO ${ident(user)};`,
    );
  }
  if (WRONG_SHAPE.has(code)) {
    return new HistoryProblem(
      `the history table ${table} does not have the columns migration-gate writes (${detail}): something else created or altered it. Rename it (ALTER TABLE ${ident(schema)}.runs RENAME TO runs_old) so the next migration-gate run creates a new one, or set MIGRATION_GATE_HISTORY_SCHEMA to another schema on both the gate and serve`,
    );
  }
  return undefined;
}

export interface HistoryData {
  /** Newest first, readable or not. */
  rows: HistoryRow[];
  counts: RunCount[];
  lastMigrated: ShownRun | null;
}

const EMPTY: HistoryData = { rows: [], counts: [], lastMigrated: null };

/** Reads recent rows, counts and the last migration; an absent table is an empty history. */
export async function readHistory(db: Queryable, schema: string, limit: number): Promise<HistoryData> {
  const t = `${ident(schema)}.runs`;
  try {
    const [recent, counts, migrated] = await Promise.all([
      db.query<{ row: unknown }>(
        `SELECT to_jsonb(r) AS row FROM ${t} r ORDER BY r.started_at DESC, r.id DESC LIMIT $1`,
        [limit],
      ),
      db.query<{ outcome: string | null; decision: string; n: number }>(
        `SELECT outcome::text AS outcome, coalesce(decision::text, 'none') AS decision, count(*)::int AS n
           FROM ${t} GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
      db.query<{ row: unknown }>(
        `SELECT to_jsonb(r) AS row FROM ${t} r WHERE r.outcome::text = 'migrated' ORDER BY r.id DESC LIMIT 1`,
      ),
    ]);
    const last = migrated.rows[0] ? parseRunRow(migrated.rows[0].row) : null;
    return {
      rows: recent.rows.map((r) => parseRunRow(r.row)),
      counts: counts.rows.map((r) => ({ outcome: r.outcome ?? 'none', decision: r.decision, count: r.n })),
      lastMigrated: last && !isUnreadable(last) ? last : null,
    };
  } catch (err) {
    if (ABSENT.has((err as { code?: string } | null)?.code ?? '')) return EMPTY;
    throw err;
  }
}

/** One run by id, or null when there is no such row (or no table). */
export async function readRun(db: Queryable, schema: string, id: number): Promise<HistoryRow | null> {
  try {
    const res = await db.query<{ row: unknown }>(
      `SELECT to_jsonb(r) AS row FROM ${ident(schema)}.runs r WHERE r.id = $1`,
      [id],
    );
    return res.rows[0] ? parseRunRow(res.rows[0].row) : null;
  } catch (err) {
    if (ABSENT.has((err as { code?: string } | null)?.code ?? '')) return null;
    throw err;
  }
}

/**
 * Ids (low 31 bits, as the lock key holds them) of runs whose process is alive: each gate run holds
 * a session advisory lock (RUN_LOCK_CLASS, id) for as long as its process lives (see db/history.ts).
 */
export async function liveRunKeys(db: Queryable): Promise<Set<number>> {
  const res = await db.query<{ k: number }>(
    `SELECT objid::bigint::int8 AS k FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [RUN_LOCK_CLASS],
  );
  return new Set(res.rows.map((r) => Number(r.k)));
}

/**
 * A `running` row whose process is gone is shown as interrupted before the next gate run closes it
 * (issue 16: /status never shows a dead run as running). The newest row while the gate lock is held
 * is trusted as running: a gate from before the liveness lock holds only the gate lock. Pure.
 */
export function markDeadRuns(data: HistoryData, live: Set<number>, gateLockHeld: boolean): HistoryData {
  let dead = 0;
  const rows = data.rows.map((r, i) => {
    if (isUnreadable(r) || r.outcome !== 'running' || live.has(r.id & 0x7fffffff)) return r;
    if (i === 0 && gateLockHeld) return r;
    dead++;
    return {
      ...r,
      outcome: 'interrupted' as const,
      error: `${STALE_RUN_CAUSE}; the next gate run closes this row as interrupted`,
    };
  });
  if (dead === 0) return data;
  const counts = data.counts.map((c) => ({ ...c }));
  const running = counts.filter((c) => c.outcome === 'running');
  for (let n = dead; n > 0 && running.some((c) => c.count > 0); n--)
    running.find((c) => c.count > 0)!.count--;
  const interrupted = counts.find((c) => c.outcome === 'interrupted' && c.decision === 'none');
  if (interrupted) interrupted.count += dead;
  else counts.push({ outcome: 'interrupted', decision: 'none', count: dead });
  return { ...data, rows, counts: counts.filter((c) => c.count > 0) };
}
