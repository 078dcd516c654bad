/**
 * /metrics: its own prom-client Registry. Everything read from the history table is a gauge (the
 * table can be pruned or restored, so those numbers can go down); the only counters are about this
 * process (HTTP requests, failed database reads).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { isUnreadable, type ShownRun } from './history-read.js';
import type { SnapshotState } from './snapshot.js';
import { blockingMigrations } from './summary.js';

const P = 'migration_gate_';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'status'>;
  readonly refreshErrors: Counter;
  private readonly g: Record<string, Gauge<string>>;

  constructor() {
    const r = [this.registry];
    const gauge = (name: string, help: string, labelNames: string[] = []) =>
      new Gauge({ name: P + name, help, labelNames, registers: r });
    this.g = {
      up: gauge('database_up', '1 when the last read of the database succeeded, 0 when it failed.'),
      dataAge: gauge('status_data_age_seconds', 'Age of the data served (grows while the database is down).'),
      runs: gauge(
        'runs',
        'Runs recorded in the history table, by outcome and decision (a gauge: computed from the table).',
        ['outcome', 'decision'],
      ),
      inProgress: gauge('run_in_progress', '1 while a gate run holds the advisory lock.'),
      inProgressSince: gauge(
        'run_in_progress_since_timestamp_seconds',
        'When the gate run holding the lock started (absent when none).',
      ),
      lastRunInfo: gauge(
        'last_run_info',
        'The latest run (value 1), with its outcome and decision as labels.',
        ['outcome', 'decision'],
      ),
      lastRunStart: gauge('last_run_timestamp_seconds', 'Start time of the latest run (Unix seconds).'),
      lastRunDuration: gauge('last_run_duration_seconds', 'Duration of the latest finished run.'),
      lastUpgradeDuration: gauge(
        'last_run_upgrade_duration_seconds',
        'Time alembic upgrade took in the latest run.',
      ),
      pending: gauge('last_run_pending_migrations', 'Pending migrations seen by the latest run.'),
      blocked: gauge(
        'last_run_blocked_migrations',
        'Migrations the latest run refused (destructive/unknown, no override).',
      ),
      dumpBytes: gauge('last_dump_size_bytes', 'Size of the most recent safety dump.'),
      dumpDuration: gauge('last_dump_duration_seconds', 'Time the most recent safety dump took.'),
      lastSuccess: gauge(
        'last_success_timestamp_seconds',
        'When the latest successful migration finished (Unix seconds).',
      ),
      sinceSuccess: gauge(
        'since_last_success_seconds',
        'Seconds since the latest successful migration finished.',
      ),
      upToDate: gauge(
        'database_up_to_date',
        '1 when the database revisions equal the code heads, 0 when they differ.',
      ),
      unreadable: gauge(
        'history_unreadable_rows',
        'Recent history rows serve cannot read (wrong shape, junk values); the log names them.',
      ),
      historyReadable: gauge(
        'history_readable',
        '1 when the history table can be read, 0 when it cannot (privileges, wrong shape; see /status).',
      ),
      dbRevision: gauge('database_revision_info', 'The revisions in the version table (value 1 each).', [
        'revision',
      ]),
    };
    this.httpRequests = new Counter({
      name: P + 'http_requests_total',
      help: 'HTTP requests served, by route and status code.',
      labelNames: ['route', 'status'],
      registers: r,
    });
    this.refreshErrors = new Counter({
      name: P + 'database_read_errors_total',
      help: 'Failed reads of the database since this process started.',
      registers: r,
    });
    // Standard process_/nodejs_ names so stock dashboards work.
    collectDefaultMetrics({ register: this.registry });
  }

  update(state: SnapshotState, now: Date, codeHeads?: string[]): void {
    const g = this.g;
    g.up!.set(state.up ? 1 : 0);
    const data = state.data;
    // Unknown values are absent, not 0 (a 0 timestamp or size would mislead alerts).
    for (const m of Object.values(g)) {
      if (m === g.up) continue;
      m.reset();
      if (!(m as unknown as { labelNames: string[] }).labelNames.length) m.remove();
    }
    if (!data) return;
    const toSec = (d: Date) => d.getTime() / 1000;
    g.dataAge!.set(Math.max(0, (now.getTime() - data.readAt.getTime()) / 1000));
    for (const c of data.counts) g.runs!.set({ outcome: c.outcome, decision: c.decision }, c.count);
    g.inProgress!.set(data.lock ? 1 : 0);
    const runs = data.rows.filter((r): r is ShownRun => !isUnreadable(r));
    g.unreadable!.set(data.rows.length - runs.length);
    g.historyReadable!.set(data.historyProblem ? 0 : 1);
    const first = data.rows[0];
    const last = first && !isUnreadable(first) ? first : undefined;
    const runningRow = last?.outcome === 'running' ? last : undefined;
    const since = runningRow?.startedAt ?? data.lock?.since;
    if (data.lock && since) g.inProgressSince!.set(toSec(since));

    if (last) {
      g.lastRunInfo!.set({ outcome: last.outcome, decision: last.decision ?? 'none' }, 1);
      g.lastRunStart!.set(toSec(last.startedAt));
      if (last.durationMs != null) g.lastRunDuration!.set(last.durationMs / 1000);
      else if (last.finishedAt)
        g.lastRunDuration!.set((last.finishedAt.getTime() - last.startedAt.getTime()) / 1000);
      if (last.upgradeMs != null) g.lastUpgradeDuration!.set(last.upgradeMs / 1000);
      g.pending!.set((last.pending ?? []).length);
      g.blocked!.set(last.outcome === 'blocked' ? blockingMigrations(last).length : 0);
    }
    const withDump = runs.find((r) => r.dump);
    if (withDump?.dump) {
      g.dumpBytes!.set(withDump.dump.bytes);
      g.dumpDuration!.set(withDump.dump.durationMs / 1000);
    }
    const ok = data.lastMigrated;
    if (ok) {
      const at = ok.finishedAt ?? ok.startedAt;
      g.lastSuccess!.set(toSec(at));
      g.sinceSuccess!.set(Math.max(0, (now.getTime() - at.getTime()) / 1000));
    }
    const code = codeHeads ?? last?.toRevisions ?? [];
    if (data.databaseRevisions)
      for (const rev of data.databaseRevisions) g.dbRevision!.set({ revision: rev }, 1);
    if (code.length > 0) {
      const db = [...(data.databaseRevisions ?? [])].sort().join(',');
      g.upToDate!.set(db === [...code].sort().join(',') ? 1 : 0);
    }
  }
}
