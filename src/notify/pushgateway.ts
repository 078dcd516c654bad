/**
 * The run's metrics pushed to a Prometheus Pushgateway at the end of `run` (the process is gone before
 * any scrape). PUT replaces the job's whole group, so the group always describes the latest run.
 * Best effort: never throws.
 */
import { Gauge, Registry } from 'prom-client';
import { redact } from '../db/connect.js';
import type { RunRecord } from '../db/history.js';
import { blockingMigrations } from '../server/summary.js';

export interface PushOptions {
  /** Base URL, e.g. http://pushgateway:9091 (user:password@ allowed: sent as basic auth). */
  url: string;
  job: string;
  timeoutMs?: number;
}

export interface PushResult {
  pushed: boolean;
  error?: string;
}

/** The run as Prometheus text format (exported for tests and `--dry-run` style output). */
export async function runMetricsText(run: RunRecord): Promise<string> {
  const registry = new Registry();
  const gauge = (
    name: string,
    help: string,
    value: number | null | undefined,
    labels?: Record<string, string>,
  ) => {
    if (value == null || !Number.isFinite(value)) return; // unknown: absent rather than 0
    const g = new Gauge({
      name: `migration_gate_${name}`,
      help,
      labelNames: labels ? Object.keys(labels) : [],
      registers: [registry],
    });
    if (labels) g.set(labels, value);
    else g.set(value);
  };
  const sec = (d: Date | null | undefined) => (d ? d.getTime() / 1000 : null);
  const ms = (v: number | null | undefined) => (v == null ? null : v / 1000);

  gauge('run_info', 'The latest run (value 1), outcome and decision as labels.', 1, {
    outcome: run.outcome,
    decision: run.decision ?? 'none',
    service: run.service ?? '',
  });
  gauge('run_timestamp_seconds', 'When the latest run started (Unix seconds).', sec(run.startedAt));
  gauge(
    'run_finished_timestamp_seconds',
    'When the latest run finished (Unix seconds).',
    sec(run.finishedAt),
  );
  gauge('run_duration_seconds', 'Duration of the latest run.', ms(run.durationMs));
  gauge(
    'run_success',
    '1 when the latest run migrated or had nothing to do, 0 otherwise.',
    ['migrated', 'noop', 'code-rollback'].includes(run.outcome) ? 1 : 0,
  );
  gauge('run_pending_migrations', 'Pending migrations seen by the latest run.', (run.pending ?? []).length);
  gauge(
    'run_blocked_migrations',
    'Migrations the latest run refused (destructive or unknown, no override).',
    run.outcome === 'blocked' ? blockingMigrations(run).length : 0,
  );
  gauge('run_upgrade_duration_seconds', 'Time alembic upgrade took in the latest run.', ms(run.upgradeMs));
  gauge('run_dump_size_bytes', "Size of the latest run's safety dump.", run.dump?.bytes);
  gauge('run_dump_duration_seconds', "Time the latest run's safety dump took.", ms(run.dump?.durationMs));
  if (run.outcome === 'migrated') {
    gauge(
      'last_success_timestamp_seconds',
      'When the latest successful migration finished.',
      sec(run.finishedAt ?? run.startedAt),
    );
  }
  return registry.metrics();
}

export async function pushRunMetrics(run: RunRecord, opts: PushOptions): Promise<PushResult> {
  const secrets: string[] = [];
  try {
    const url = new URL(opts.url);
    const headers: Record<string, string> = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' };
    // fetch refuses URLs with credentials: move them into a header.
    if (url.username || url.password) {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      if (pass) secrets.push(pass, url.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const base = url.toString().replace(/\/+$/, '');
    const target = `${base}/metrics/job/${encodeURIComponent(opts.job)}`;
    const timeoutMs = opts.timeoutMs ?? 5000;
    const res = await fetch(target, {
      method: 'PUT',
      headers,
      body: await runMetricsText(run),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text().catch(() => '');
    if (res.ok) return { pushed: true };
    return {
      pushed: false,
      error: redact(
        `pushgateway answered HTTP ${res.status}${text ? ` (${text.trim().slice(0, 200)})` : ''}`,
        secrets,
      ),
    };
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError' || e.name === 'AbortError'
        ? `did not answer within ${opts.timeoutMs ?? 5000} ms`
        : `unreachable (${e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)})`;
    return { pushed: false, error: redact(`pushgateway ${why}`, secrets) };
  }
}
