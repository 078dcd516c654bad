/**
 * The /status document: built from a cached snapshot, plain JSON-able data (dates as ISO strings).
 * The HTML page renders the same document, so both always say the same thing.
 */
import { isUnreadable, type HistoryRow, type ShownRun } from './history-read.js';
import type { SnapshotState } from './snapshot.js';
import { ago } from './time.js';
import { blockingMigrations, dumpOrigin, summarizeRun, type LockInfo } from './summary.js';

type Jsonify<T> = T extends Date
  ? string
  : T extends Array<infer U>
    ? Array<Jsonify<U>>
    : T extends object
      ? { [K in keyof T]: Jsonify<T[K]> }
      : T;

/** How to undo a migrated run: the commands, ready to paste. */
export interface WayBack {
  /** `migration-gate rollback --yes`: only for the latest migrated run (rollback undoes that one). */
  rollback: string | null;
  /** Restores the dump taken before this deploy, by its id. */
  restore: string | null;
  note: string;
}

export type RunView = Jsonify<ShownRun> & {
  unreadable?: undefined;
  summary: string;
  blockedRevisions: string[];
  wayBack: WayBack | null;
  /** For a restore: the dump it restored, in words ("taken before deploy #12"). */
  sourceDumpOrigin: string | null;
};

/** A history row serve could not read: shown in place, with what is wrong. */
export interface UnreadableView {
  id: number | null;
  unreadable: string;
}

export interface RunBrief {
  id: number;
  unreadable?: undefined;
  step: string | null;
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
    /** Since when reads have been failing (null while reachable). */
    unreachableSince: string | null;
    /** When the data below was read, and how old it is (stale when the database is down). */
    dataReadAt: string | null;
    dataAgeSeconds: number | null;
    stale: boolean;
  };
  /** null when the history table reads fine; else why not (privileges, wrong shape). */
  historyProblem: string | null;
  revisions: {
    /** null: no version table (Alembic never ran) or not read yet. */
    database: string[] | null;
    code: string[];
    codeSource: 'configured' | 'last-run' | 'unknown';
    match: RevisionMatch;
  };
  inProgress: { running: boolean; since: string | null; pid: number | null; application: string | null };
  summary: string;
  lastRun: RunView | UnreadableView | null;
  lastMigratedAt: string | null;
  recentRuns: Array<RunBrief | UnreadableView>;
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export interface RunContext {
  /** Who holds the gate lock now; only meaningful for the newest run. */
  lock?: LockInfo | null;
  /** The id of the latest migrated run (rollback undoes only that one). */
  lastMigratedId?: number | null;
  /** Other rows, to name the run that took a restore's source dump. */
  rows?: HistoryRow[];
}

function wayBack(run: ShownRun, lastMigratedId: number | null | undefined): WayBack | null {
  if (run.outcome !== 'migrated') return null;
  const latest = lastMigratedId === run.id;
  const restore = run.dump ? `migration-gate restore --dump ${run.dump.id} --yes` : null;
  const parts = [
    latest
      ? `rollback downgrades to ${run.fromRevisions.join(', ') || '(empty database)'}; data the upgrade deleted or rewrote does not come back with a downgrade`
      : `rollback only undoes the latest migrated run (#${lastMigratedId ?? '?'}), not this one`,
    restore
      ? `restore brings back the whole database as it was before this deploy, losing writes made since (run it without --yes first to preview)`
      : `no safety dump was taken (policy ${run.dumpPolicy ?? 'unknown'}), so there is no dump to restore`,
  ];
  return { rollback: latest ? 'migration-gate rollback --yes' : null, restore, note: parts.join('; ') + '.' };
}

/** A restore's source dump, with the run that took it: recorded with it, else found among the rows. */
function resolveSource(run: ShownRun, rows: HistoryRow[] | undefined): ShownRun['sourceDump'] {
  const src = run.sourceDump;
  if (!src || src.runId !== null) return src;
  const maker = (rows ?? []).find(
    (r): r is ShownRun => !isUnreadable(r) && r.id !== run.id && r.dump?.id === src.id,
  );
  return maker ? { ...src, runId: maker.id, madeBy: src.madeBy ?? maker.command } : src;
}

/**
 * A `running` row still shown as running has a live process (dead ones are shown as interrupted, see
 * markDeadRuns), even when it does not hold the gate lock yet (it may be waiting for it): its summary
 * must not call it stalled.
 */
function aliveLock(run: ShownRun, lock: LockInfo | null | undefined): LockInfo | null | undefined {
  return run.outcome === 'running' && !lock ? undefined : lock;
}

export function runView(run: ShownRun, ctx: RunContext = {}): RunView {
  const sourceDump = resolveSource(run, ctx.rows);
  const resolved = { ...run, sourceDump };
  return {
    ...resolved,
    startedAt: run.startedAt.toISOString(),
    finishedAt: iso(run.finishedAt),
    summary: summarizeRun(resolved, aliveLock(run, ctx.lock)),
    blockedRevisions: run.outcome === 'blocked' ? blockingMigrations(run).map((m) => m.revision) : [],
    wayBack: wayBack(run, ctx.lastMigratedId),
    sourceDumpOrigin: sourceDump ? dumpOrigin(sourceDump) : null,
  } as RunView;
}

export function runBrief(run: HistoryRow): RunBrief | UnreadableView {
  if (isUnreadable(run)) return { id: run.id, unreadable: run.unreadable };
  return {
    id: run.id,
    command: run.command,
    step: run.step,
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

function currentSummary(state: SnapshotState, schema: string, now: Date): string {
  const data = state.data;
  const downSince = state.downSince ?? state.checkedAt;
  const down = `Database unreachable since ${downSince.toISOString()} (${ago(downSince, now)}): ${state.error ?? 'no answer'}.`;
  if (!data) return `${down} Nothing has been read yet; check the database and DATABASE_URL.`;
  const last = data.rows[0];
  const lock = data.lock;
  let summary: string;
  if (data.historyProblem) summary = `The history cannot be read: ${data.historyProblem}.`;
  else if (!last)
    summary = `No gate run recorded yet (history schema ${schema} is empty). Runs appear here after the first pre-deploy \`migration-gate run\`.`;
  else if (isUnreadable(last))
    summary = `The latest history row${last.id ? ` #${last.id}` : ''} is unreadable (${last.unreadable}); the service log names it. Earlier runs are listed below.`;
  else summary = summarizeRun(last, aliveLock(last, lock));
  if (lock && (!last || isUnreadable(last) || last.outcome !== 'running')) {
    summary = `In progress: a gate run (pid ${lock.pid}) holds the lock since ${lock.since ? lock.since.toISOString() : 'an unknown time'}. Wait for it to finish. Previous: ${summary}`;
  }
  if (state.up) return summary;
  return `${down} Showing the last data read, from ${ago(data.readAt, now)} (stale): ${summary}`;
}

export function buildStatus(
  state: SnapshotState,
  opts: { schema: string; codeHeads?: string[]; now: Date },
): StatusView {
  const data = state.data;
  const first = data?.rows[0];
  const last = first && !isUnreadable(first) ? first : null;
  const lock = data?.lock ?? null;
  const lastKnown = data?.rows.find((r): r is ShownRun => !isUnreadable(r)) ?? null;
  const code = opts.codeHeads ?? lastKnown?.toRevisions ?? [];
  const codeSource = opts.codeHeads ? 'configured' : lastKnown ? 'last-run' : 'unknown';
  const dbRevs = data ? data.databaseRevisions : null;
  let match: RevisionMatch = 'unknown';
  if (data && code.length > 0) match = sameSet(dbRevs ?? [], code) ? 'up-to-date' : 'differs';
  const lastMigratedId = data?.lastMigrated?.id ?? null;
  const ctx = { lock, lastMigratedId, rows: data?.rows ?? [] };

  return {
    generatedAt: opts.now.toISOString(),
    schema: opts.schema,
    database: {
      status: state.up ? 'reachable' : 'unreachable',
      error: state.up ? null : (state.error ?? null),
      checkedAt: iso(state.checkedAt),
      unreachableSince: state.up ? null : iso(state.downSince ?? state.checkedAt),
      dataReadAt: iso(data?.readAt),
      dataAgeSeconds: data ? Math.max(0, (opts.now.getTime() - data.readAt.getTime()) / 1000) : null,
      stale: !state.up,
    },
    historyProblem: data?.historyProblem ?? null,
    revisions: { database: dbRevs, code, codeSource, match },
    inProgress: {
      running: lock !== null,
      // The running row's start is exact; the lock holder's connection time is the fallback.
      since: lock ? iso(last?.outcome === 'running' ? last.startedAt : lock.since) : null,
      pid: lock?.pid ?? null,
      application: lock?.application ?? null,
    },
    summary: currentSummary(state, opts.schema, opts.now),
    lastRun: first
      ? last
        ? runView(last, ctx)
        : { id: first.id, unreadable: (first as { unreadable: string }).unreadable }
      : null,
    lastMigratedAt: iso(data?.lastMigrated?.finishedAt ?? data?.lastMigrated?.startedAt),
    recentRuns: (data?.rows ?? []).map(runBrief),
  };
}
