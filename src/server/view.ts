/**
 * The /status document: built from a cached snapshot, plain JSON-able data (dates as ISO strings).
 * The HTML page renders the same document, so both always say the same thing.
 */
import type { RunRecord } from '../db/history.js';
import type { SnapshotState } from './snapshot.js';
import { blockingMigrations, summarizeRun, type LockInfo } from './summary.js';

type Jsonify<T> = T extends Date
  ? string
  : T extends Array<infer U>
    ? Array<Jsonify<U>>
    : T extends object
      ? { [K in keyof T]: Jsonify<T[K]> }
      : T;

export type RunView = Jsonify<RunRecord> & { summary: string; blockedRevisions: string[] };

export interface RunBrief {
  id: number;
  command: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  outcome: string;
  decision: string | null;
  service: string | null;
  commit: string | null;
  pending: number;
  blocked: number;
  overridden: boolean;
  summary: string;
}

export type RevisionMatch = 'up-to-date' | 'differs' | 'unknown';

export interface StatusView {
  generatedAt: string;
  schema: string;
  database: {
    status: 'reachable' | 'unreachable';
    error: string | null;
    checkedAt: string | null;
    /** When the data below was read, and how old it is (stale when the database is down). */
    dataReadAt: string | null;
    dataAgeSeconds: number | null;
  };
  revisions: {
    /** null: no version table (Alembic never ran) or not read yet. */
    database: string[] | null;
    code: string[];
    codeSource: 'configured' | 'last-run' | 'unknown';
    match: RevisionMatch;
  };
  inProgress: { running: boolean; since: string | null; pid: number | null; application: string | null };
  summary: string;
  lastRun: RunView | null;
  lastMigratedAt: string | null;
  recentRuns: RunBrief[];
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function runView(run: RunRecord, lock?: LockInfo | null): RunView {
  return {
    ...run,
    startedAt: run.startedAt.toISOString(),
    finishedAt: iso(run.finishedAt),
    summary: summarizeRun(run, lock),
    blockedRevisions: run.outcome === 'blocked' ? blockingMigrations(run).map((m) => m.revision) : [],
  } as RunView;
}

export function runBrief(run: RunRecord): RunBrief {
  return {
    id: run.id,
    command: run.command,
    startedAt: run.startedAt.toISOString(),
    finishedAt: iso(run.finishedAt),
    durationMs: run.durationMs,
    outcome: run.outcome,
    decision: run.decision,
    service: run.service,
    commit: run.commit,
    pending: (run.pending ?? []).length,
    blocked: run.outcome === 'blocked' ? blockingMigrations(run).length : 0,
    overridden: run.override !== null,
    // Old runs: the lock says nothing about them, so a `running` row is shown as such.
    summary: summarizeRun(run),
  };
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

export function buildStatus(
  state: SnapshotState,
  opts: { schema: string; codeHeads?: string[]; now: Date },
): StatusView {
  const data = state.data;
  const last = data?.runs[0] ?? null;
  const lock = data?.lock ?? null;
  const code = opts.codeHeads ?? last?.toRevisions ?? [];
  const codeSource = opts.codeHeads ? 'configured' : last ? 'last-run' : 'unknown';
  const dbRevs = data ? data.databaseRevisions : null;
  let match: RevisionMatch = 'unknown';
  if (data && code.length > 0) match = sameSet(dbRevs ?? [], code) ? 'up-to-date' : 'differs';

  let summary: string;
  if (!data) {
    summary = `Database unreachable: ${state.error ?? 'no answer'}. Nothing has been read yet; check the database and DATABASE_URL.`;
  } else {
    if (last) summary = summarizeRun(last, lock);
    else
      summary = `No gate run recorded yet (history schema ${opts.schema} is empty). Runs appear here after the first pre-deploy \`migration-gate run\`.`;
    if (lock && (!last || last.outcome !== 'running')) {
      summary = `In progress: a gate run (pid ${lock.pid}) holds the lock since ${lock.since ? lock.since.toISOString() : 'an unknown time'}. Wait for it to finish. Previous: ${summary}`;
    }
    if (!state.up) {
      const age = Math.round((opts.now.getTime() - data.readAt.getTime()) / 1000);
      summary = `Database unreachable (${state.error ?? 'no answer'}); showing data from ${age} s ago. ${summary}`;
    }
  }

  return {
    generatedAt: opts.now.toISOString(),
    schema: opts.schema,
    database: {
      status: state.up ? 'reachable' : 'unreachable',
      error: state.up ? null : (state.error ?? null),
      checkedAt: iso(state.checkedAt),
      dataReadAt: iso(data?.readAt),
      dataAgeSeconds: data ? Math.max(0, (opts.now.getTime() - data.readAt.getTime()) / 1000) : null,
    },
    revisions: { database: dbRevs, code, codeSource, match },
    inProgress: {
      running: lock !== null,
      // The running row's start is exact; the lock holder's connection time is the fallback.
      since: lock ? iso(last?.outcome === 'running' ? last.startedAt : lock.since) : null,
      pid: lock?.pid ?? null,
      application: lock?.application ?? null,
    },
    summary,
    lastRun: last ? runView(last, lock) : null,
    lastMigratedAt: iso(data?.lastMigrated?.finishedAt ?? data?.lastMigrated?.startedAt),
    recentRuns: (data?.runs ?? []).map(runBrief),
  };
}
