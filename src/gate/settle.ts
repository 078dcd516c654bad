/**
 * The first step after a command takes the gate lock: settle what earlier, killed gate runs left
 * behind. A migration session that outlived its gate is waited for (or named, and the command stops);
 * a history row still `running` whose process is gone is closed as interrupted, with the revisions the
 * database is really at, so neither the next deploy nor /status and /metrics take a dead run for a
 * live one.
 */
import type pg from 'pg';
import { closeDeadRun, deadRunningRuns, STALE_RUN_CAUSE } from '../db/history.js';
import { waitForEarlierMigrations } from '../db/sessions.js';
import { readCurrentRevisions } from '../db/version.js';
import { FailedError, GateError } from '../errors.js';

export interface SettleOptions {
  client: pg.Client;
  schema: string;
  versionTable: { table?: string; schema?: string };
  /** The caller's own history row (never closed here). */
  runId: number;
  /** How long to wait for an earlier migration session: the gate lock's wait setting. */
  waitMs: number;
  warn: (line: string) => void;
  scrub?: (text: string) => string;
  signal?: AbortSignal;
  now?: () => Date;
}

/** Returns the ids of the rows it closed. Must be called while holding the gate lock. */
export async function settleEarlierRuns(opts: SettleOptions): Promise<number[]> {
  await waitForEarlierMigrations(opts.client, {
    waitMs: opts.waitMs,
    signal: opts.signal,
    warn: opts.warn,
    scrub: opts.scrub,
  });
  const dead = await deadRunningRuns(opts.client, opts.schema, opts.runId);
  if (dead.length === 0) return [];
  // After the wait above nothing else migrates: the version table is where those runs really left it.
  const reached = await readCurrentRevisions(opts.client, opts.versionTable);
  const closed: number[] = [];
  for (const run of dead) {
    if (!(await closeDeadRun(opts.client, opts.schema, run.id, reached, opts.now?.(), run.step))) continue;
    closed.push(run.id);
    const step = run.step ? `, last step ${run.step}` : '';
    opts.warn(
      `Run #${run.id} (${run.command}, started ${run.startedAt.toISOString()}${step}) was left running: ${STALE_RUN_CAUSE}. Recorded it as interrupted; the database is at ${reached.join(', ') || 'base'}, and this run continues from there. That deploy's log shows how far it got.`,
    );
  }
  return closed;
}

/**
 * A run that could not open its history row (the database down, the history table not writable)
 * leaves no record where the next run or /status would look. Its cause says so, and where the note
 * is that lets the next run record it (see unrecorded.ts); without one, this deploy log is the only record.
 */
export function noRecordError(
  err: unknown,
  where: string,
  scrub: (text: string) => string,
  noteLocation?: string,
): GateError {
  const note = noteLocation
    ? `no history record was written for this attempt (the gate keeps its history in ${where}); the next run that reaches the database records it from the note left at ${noteLocation}`
    : `no history record was written for this attempt (the gate keeps its history in ${where}), so this deploy log is its only record`;
  if (err instanceof GateError) {
    return new GateError(err.kind, `${err.message}; ${note}`, err.details, { cause: err });
  }
  const message = scrub(err instanceof Error ? err.message : String(err));
  return new FailedError(
    `could not record the start of the run in ${where}: ${message}; check that the DATABASE_URL user may create and write that schema. ${note[0]!.toUpperCase()}${note.slice(1)}`,
    [],
    { cause: err },
  );
}
