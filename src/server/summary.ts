/**
 * One-line, human summaries of a run: what happened and what to do next. Shared by /status, the
 * HTML page and the run notifications so on-call reads the same sentence everywhere.
 */
import type { ClassifiedMigration } from '../types.js';
import type { RunRecord } from '../db/history.js';
import type { LockHolder } from '../db/lock.js';

/** Who holds the gate's advisory lock (see src/db/lock.ts). */
export type LockInfo = LockHolder;

/** Pending migrations the gate refuses without an override (destructive or unknown, not overridden). */
export function blockingMigrations(run: Pick<RunRecord, 'pending' | 'override'>): ClassifiedMigration[] {
  const overridden = (rev: string) =>
    run.override !== null && (run.override.all || run.override.revisions.includes(rev));
  return (run.pending ?? []).filter((m) => m.verdict !== 'additive' && !overridden(m.revision));
}

/** The most telling problem of a migration: its first unallowed error, else first finding, else its verdict. */
export function describeMigration(m: ClassifiedMigration): string {
  const f =
    m.findings.find((x) => x.severity === 'error' && !x.allowed) ??
    m.findings.find((x) => !x.allowed) ??
    m.findings[0];
  if (f) return f.message.replace(/\.$/, '');
  return m.verdict === 'unknown' ? 'could not be classified (review it by hand)' : `is ${m.verdict}`;
}

function revs(list: string[] | null | undefined): string {
  return list && list.length > 0 ? list.join(', ') : '(empty database)';
}

function seconds(ms: number | null | undefined): string {
  return ms == null ? '' : ` in ${(ms / 1000).toFixed(1)} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * What the run means, in one line. `lock` is who holds the gate's advisory lock now (only meaningful
 * for the latest run: a `running` row with no lock holder is a run that died without recording it).
 */
/** Fields newer versions record; optional so any RunRecord can be summarised. */
export interface RunExtras {
  /** The pipeline step the run is at or failed at. */
  step?: string | null;
  /** What a restore restored (id, who made it, the run that took it). */
  sourceDump?: { id: string; madeBy: string | null; runId: number | null } | null;
}

/** "taken before deploy #12" / "made by rollback": what a dump is, in words. */
export function dumpOrigin(d: { madeBy: string | null; runId: number | null }): string {
  if (d.runId !== null && (d.madeBy === null || d.madeBy === 'run')) return `taken before deploy #${d.runId}`;
  if (d.madeBy && d.runId !== null) return `made by ${d.madeBy} #${d.runId}`;
  return d.madeBy ? `made by ${d.madeBy}` : 'of unknown origin';
}

/** What to do after a failure: rollback and restore are run again, deploys are re-deployed. */
function retry(run: RunRecord): string {
  return run.command === 'restore' || run.command === 'rollback'
    ? `Fix the cause and run migration-gate ${run.command} again`
    : 'Fix the cause and re-deploy';
}

export function summarizeRun(run: RunRecord & RunExtras, lock?: LockInfo | null): string {
  const at = run.commit ? ` for commit ${run.commit.slice(0, 12)}` : '';
  const pending = run.pending ?? [];
  switch (run.outcome) {
    case 'running':
      if (lock === undefined || lock) {
        const since = lock?.since ?? run.startedAt;
        return `In progress: run #${run.id}${at} started at ${since.toISOString()}${lock ? ` (pid ${lock.pid})` : ''}. Wait for it to finish before deploying again.`;
      }
      return `Stalled: run #${run.id}${at} is recorded as running since ${run.startedAt.toISOString()} but no gate holds the lock, so the process died (killed or timed out). Check the deploy logs, the database revision above, then re-deploy.`;
    case 'noop':
      return `Up to date: nothing to apply, the database is at ${revs(run.toRevisions)}. Nothing to do.`;
    case 'migrated': {
      const names = pending.map((m) => m.revision).join(', ');
      const ov = run.override ? ` under override (reason: ${run.override.reason})` : '';
      return `Migrated: applied ${plural(pending.length, 'migration')}${names ? ` (${names})` : ''}${seconds(run.upgradeMs)}${ov}; the database is at ${revs(run.reachedRevisions ?? run.toRevisions)}. Nothing to do.`;
    }
    case 'blocked': {
      // A blocked rollback is about its downgrades, not the upgrade verdicts in `pending`.
      if (run.command === 'rollback' || run.command === 'restore') {
        const cause = (run.error ?? `the gate refused the ${run.command}`).replace(/\.$/, '');
        return `Blocked (${run.command}): ${cause}. Nothing was changed. ${retry(run)} with the override the cause names, or restore the pre-deploy dump instead.`;
      }
      const blocking = blockingMigrations(run);
      if (blocking.length === 0) {
        return `Blocked: ${run.error ?? 'the gate refused the pending migrations'}. Fix the migration graph or settings and re-deploy.`;
      }
      const what = blocking.map((m) => `${m.revision} ${describeMigration(m)}`).join('; ');
      const ids = blocking.map((m) => m.revision).join(',');
      return `Blocked: ${what}. To deploy it anyway set MIGRATION_GATE_ALLOW=${ids} and MIGRATION_GATE_ALLOW_REASON=<why it is safe>, or change the migration and re-deploy.`;
    }
    case 'failed':
    case 'interrupted': {
      const verb = run.outcome === 'failed' ? 'Failed' : 'Interrupted';
      const what = run.command === 'run' ? '' : ` (${run.command})`;
      const step = run.step ? ` at ${run.step}` : '';
      const reached = run.reachedRevisions ? ` The database is at ${revs(run.reachedRevisions)}.` : '';
      const dump = run.dump ? ` The safety dump is ${run.dump.location} (id ${run.dump.id}).` : '';
      const restoreHint = run.dump ? '; restore the dump only if data was damaged' : '';
      // The gate appends "(failed at: <step>)" (or "(last step: <step>)" for a dead run) to the
      // error; said once, up front.
      const cause = (run.error ?? 'the run did not finish')
        .replace(run.step ? / \((failed at|last step): [^)]*\)$/ : /$^/, '')
        .replace(/\.$/, '');
      return `${verb}${what}${step}: ${cause}.${reached}${dump} ${retry(run)}${restoreHint}.`;
    }
    case 'code-rollback':
      return `Code rollback: the database (${revs(run.fromRevisions)}) is ahead of the code (${revs(run.toRevisions)}) because a later deploy migrated it; nothing was applied. Nothing to do unless the old code cannot run on the newer schema.`;
    case 'restored': {
      const src = run.sourceDump
        ? `${run.sourceDump.id}, ${dumpOrigin(run.sourceDump)}`
        : 'a safety dump (not recorded by this version)';
      const before = run.dump ? ` The state before the restore was saved first as ${run.dump.id}.` : '';
      return `Restored from ${src}; the database is at ${revs(run.reachedRevisions)}.${before} Deploy code that matches this revision.`;
    }
    case 'rolled-back':
      return `Rolled back: downgraded the database to ${revs(run.reachedRevisions)}. Deploy code that matches this revision.`;
    default:
      return `Run #${run.id} ended with outcome ${String(run.outcome)}.`;
  }
}
