/**
 * Run notifications: a Slack-compatible message (`text` + `blocks`) or plain JSON, posted at the end
 * of `run`. Best effort by design: bounded retries, a timeout per attempt, never throws, so a chat
 * outage never changes the gate's exit code. Every string goes through redact().
 */
import { redact } from '../db/connect.js';
import type { RunRecord } from '../db/history.js';
import { blockingMigrations, describeMigration, summarizeRun } from '../server/summary.js';

export type NotifyEvent = 'blocked' | 'failed' | 'succeeded';

export interface WebhookOptions {
  url: string;
  format: 'slack' | 'json';
  events: NotifyEvent[];
  /** Public URL of /status, linked from the message. */
  statusUrl?: string;
  /** Per attempt (default 5000). */
  timeoutMs?: number;
  /** Extra attempts after the first on 5xx, 429, timeouts and network errors (default 2). */
  retries?: number;
  /** First back-off delay, doubled each retry (default 500 ms). */
  backoffMs?: number;
  secrets: string[];
}

export interface WebhookResult {
  sent: boolean;
  attempts: number;
  error?: string;
}

/** Which event a run is; null for runs nobody needs to hear about (noop, code rollback, still running). */
export function eventFor(run: Pick<RunRecord, 'outcome'>): NotifyEvent | null {
  switch (run.outcome) {
    case 'blocked':
      return 'blocked';
    case 'failed':
    case 'interrupted':
      return 'failed';
    case 'migrated':
    case 'restored':
    case 'rolled-back':
      return 'succeeded';
    default:
      return null;
  }
}

export function runUrl(statusUrl: string | undefined, id: number): string | undefined {
  if (!statusUrl) return undefined;
  return `${statusUrl.replace(/\/+$/, '')}/runs/${id}`;
}

function deepRedact<T>(value: T, secrets: string[]): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Date) return v.toISOString();
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

export function jsonPayload(run: RunRecord, event: NotifyEvent, statusUrl?: string): Record<string, unknown> {
  const blocking = new Set(blockingMigrations(run).map((m) => m.revision));
  return {
    source: 'migration-gate',
    event,
    summary: summarizeRun(run, null),
    run: {
      id: run.id,
      command: run.command,
      service: run.service,
      commit: run.commit,
      isPullRequest: run.isPullRequest,
      outcome: run.outcome,
      decision: run.decision,
      startedAt: run.startedAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
      durationMs: run.durationMs,
      fromRevisions: run.fromRevisions,
      toRevisions: run.toRevisions,
      reachedRevisions: run.reachedRevisions,
      error: run.error,
      dump: run.dump ? { id: run.dump.id, location: run.dump.location, bytes: run.dump.bytes } : null,
    },
    migrations: (run.pending ?? []).map((m) => ({
      revision: m.revision,
      file: m.file,
      message: m.message ?? null,
      verdict: m.verdict,
      blocking: run.outcome === 'blocked' && blocking.has(m.revision),
      findings: m.findings.map((f) => ({
        rule: f.rule,
        severity: f.severity,
        line: f.line,
        message: f.message,
        allowed: f.allowed ? true : false,
      })),
    })),
    override: run.override
      ? { revisions: run.override.revisions, all: run.override.all, reason: run.override.reason }
      : null,
    reason: run.override?.reason ?? null,
    statusUrl: runUrl(statusUrl, run.id) ?? null,
  };
}

/** Slack mrkdwn: only &, < and > are special. */
const mrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

const EMOJI: Record<NotifyEvent, string> = {
  blocked: ':no_entry:',
  failed: ':x:',
  succeeded: ':white_check_mark:',
};
const TITLE: Record<NotifyEvent, string> = {
  blocked: 'Deploy blocked by migration-gate',
  failed: 'Migration failed',
  succeeded: 'Migrations applied',
};

export function slackPayload(
  run: RunRecord,
  event: NotifyEvent,
  statusUrl?: string,
): Record<string, unknown> {
  const summary = summarizeRun(run, null);
  const where = [run.service, run.commit?.slice(0, 12)].filter(Boolean).join(' @ ');
  const link = runUrl(statusUrl, run.id);
  const blocking = new Set(run.outcome === 'blocked' ? blockingMigrations(run).map((m) => m.revision) : []);
  const migrations = (run.pending ?? []).slice(0, 15).map((m) => {
    const flag = blocking.has(m.revision) ? ' *blocks*' : '';
    const why = m.verdict === 'additive' ? '' : ` — ${mrkdwn(describeMigration(m))}`;
    return `• \`${mrkdwn(m.revision)}\` ${m.verdict}${flag}${why}`;
  });
  if ((run.pending ?? []).length > 15) migrations.push(`… and ${run.pending.length - 15} more`);

  const fields = [
    `*Service*\n${mrkdwn(run.service ?? '—')}`,
    `*Commit*\n${run.commit ? '`' + mrkdwn(run.commit.slice(0, 12)) + '`' : '—'}`,
    `*Decision*\n${run.decision ?? '—'}`,
    `*Outcome*\n${run.outcome}`,
  ].map((text) => ({ type: 'mrkdwn', text }));

  const blocks: Array<Record<string, unknown>> = [
    {
      type: 'header',
      text: { type: 'plain_text', text: clip(`${TITLE[event]}${where ? `: ${where}` : ''}`, 150) },
    },
    { type: 'section', text: { type: 'mrkdwn', text: clip(mrkdwn(summary), 3000) } },
    { type: 'section', fields },
  ];
  if (migrations.length) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(`*Pending migrations*\n${migrations.join('\n')}`, 3000) },
    });
  }
  if (run.override) {
    const revs = run.override.all ? 'all' : run.override.revisions.join(', ');
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`*Override* (${mrkdwn(revs)})\nReason: ${mrkdwn(run.override.reason)}`, 3000),
      },
    });
  }
  if (link)
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `<${link}|Open run #${run.id} on /status>` }],
    });

  return {
    text: clip(
      `${EMOJI[event]} ${TITLE[event]}${where ? ` (${where})` : ''}: ${summary}${link ? ` ${link}` : ''}`,
      3000,
    ),
    blocks,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function retryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

export async function notifyWebhook(run: RunRecord, opts: WebhookOptions): Promise<WebhookResult> {
  // The webhook URL itself is a secret (Slack's carries a token): never echoed in an error.
  const secrets = [...opts.secrets, opts.url].filter(Boolean);
  const clean = (s: string) => redact(s, secrets);
  try {
    const event = eventFor(run);
    if (!event || !opts.events.includes(event)) return { sent: false, attempts: 0 };
    const payload =
      opts.format === 'slack'
        ? slackPayload(run, event, opts.statusUrl)
        : jsonPayload(run, event, opts.statusUrl);
    const body = JSON.stringify(deepRedact(payload, secrets));
    const timeoutMs = opts.timeoutMs ?? 5000;
    const maxAttempts = 1 + Math.max(0, Math.min(10, opts.retries ?? 2));
    const backoff = opts.backoffMs ?? 500;

    let error = 'not attempted';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      let retry = true;
      let waitMs = Math.min(backoff * 2 ** (attempt - 1), 10_000);
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'migration-gate' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        // Drain so the connection can be reused/closed; the text may help explain a 4xx.
        const text = await res.text().catch(() => '');
        if (res.ok) return { sent: true, attempts: attempt };
        error = `webhook answered HTTP ${res.status}${text ? ` (${clip(text.trim(), 200)})` : ''}`;
        retry = retryable(res.status);
        const after = Number(res.headers.get('retry-after'));
        if (res.status === 429 && Number.isFinite(after) && after > 0)
          waitMs = Math.min(after * 1000, 10_000);
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
        if (e.name === 'TimeoutError' || e.name === 'AbortError')
          error = `webhook did not answer within ${timeoutMs} ms`;
        else error = `webhook unreachable (${e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)})`;
      }
      if (!retry || attempt === maxAttempts) {
        const tail = retry
          ? `, gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}`
          : ', not retried';
        return { sent: false, attempts: attempt, error: clean(error + tail) };
      }
      await sleep(waitMs);
    }
    return { sent: false, attempts: maxAttempts, error: clean(error) };
  } catch (err) {
    // Never throws: a bug here must not fail a deploy.
    return {
      sent: false,
      attempts: 0,
      error: clean(`webhook not sent: ${err instanceof Error ? err.message : String(err)}`),
    };
  }
}
