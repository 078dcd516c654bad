/**
 * `run`: the pre-deploy gate, as a short pipeline of named steps (see steps/): connect, record-start,
 * lock, settle, read-versions, load, then (only when something is pending) decide, preflight, dump,
 * upgrade, verify-head, record. Each step is timed in the log and named in the history row; every failure is
 * recorded ("failed at: <step>") and rethrown as a typed error.
 */
import type pg from 'pg';
import { describeTarget, parseDatabaseUrl, redact } from '../db/connect.js';
import { getRun, type RunDump, type RunOutcome } from '../db/history.js';
import { readCurrentRevisions } from '../db/version.js';
import { FailedError, GateError } from '../errors.js';
import type { CheckReport } from '../report/model.js';
import { noRecordError, settleEarlierRuns } from './settle.js';
import { attemptOf, leaveUnrecordedNote, recordUnrecordedAttempts } from './unrecorded.js';
import {
  finish,
  record,
  StepRunner,
  versionTable,
  type RunContext,
  type RunInputs,
} from './steps/context.js';
import {
  connectStep,
  loadStep,
  lockStep,
  nothingPending,
  readVersionsStep,
  recordNoop,
  recordStartStep,
} from './steps/start.js';

/** What the CLI hands `runGate` (documented on RunInputs, the steps' view of the same thing). */
export type RunOptions = RunInputs;

export interface RunResult {
  outcome: RunOutcome;
  runId: number;
  summary: string;
  nextSteps: string[];
  report?: CheckReport;
  dump?: RunDump;
}

export async function runGate(opts: RunOptions): Promise<RunResult> {
  const { settings, render, logger } = opts;
  const now = opts.now ?? (() => new Date());
  const started = now();
  const target = parseDatabaseUrl(settings.databaseUrl!);
  const secrets = target.password ? [target.password] : [];
  if (render.isPullRequest && settings.previewPolicy === 'skip') {
    logger.info(
      'Preview environment (IS_PULL_REQUEST=true) and MIGRATION_GATE_PREVIEW_POLICY=skip: the gate does nothing here.',
    );
    return { outcome: 'noop', runId: 0, summary: 'Skipped: preview environment.', nextSteps: [] };
  }
  const steps = new StepRunner(logger);
  const client = await steps
    .run('connect', () => connectStep(settings, target))
    .catch(async (err: unknown) => {
      // A URL that splits an unencoded password has pieces of it as "host" or "database": name neither.
      const where = target.passwordLooksUnencoded
        ? 'the DATABASE_URL database'
        : `the database ${describeTarget(target)}`;
      throw await failedWithoutRecord(opts, started, 'connect', err, where, (t) => redact(t, secrets));
    });
  const ctx: RunContext = {
    opts,
    settings,
    render,
    logger,
    signal: opts.signal,
    now,
    started,
    target,
    secrets,
    scrub: (text) => redact(text, secrets),
    steps,
    client,
    runId: 0,
  };
  steps.persist = () => record(ctx, {});
  try {
    return await pipeline(ctx);
  } catch (err) {
    await recordFailure(ctx, err);
    if (err instanceof GateError) throw err;
    throw new FailedError(
      `the gate failed unexpectedly: ${ctx.scrub(err instanceof Error ? err.message : String(err))}`,
      [],
      { cause: err },
    );
  } finally {
    await ctx.lock?.release();
    if (ctx.runId) await notify(opts, client, ctx.runId, secrets);
    await client.end().catch(() => undefined);
  }
}

async function pipeline(ctx: RunContext): Promise<RunResult> {
  const { steps } = ctx;
  ctx.runId = await steps
    .run('record-start', () => recordStartStep(ctx))
    .catch(async (err: unknown) => {
      const where = `${ctx.settings.historySchema}.runs`;
      throw await failedWithoutRecord(ctx.opts, ctx.started, 'record-start', err, where, ctx.scrub);
    });
  ctx.lock = await steps.run('lock', () => lockStep(ctx));
  // Holding the lock, before the version table is read: what an earlier, killed run left behind.
  await steps.run('settle', () =>
    settleEarlierRuns({
      client: ctx.client,
      schema: ctx.settings.historySchema,
      versionTable: versionTable(ctx.settings),
      runId: ctx.runId,
      waitMs: ctx.settings.lockWaitMs,
      warn: (line) => ctx.logger.warn(line),
      scrub: ctx.scrub,
      signal: ctx.signal,
      now: ctx.now,
    }),
  );
  // Beside reading and loading (it talks to the dump target, they do not): the no-op path stays fast.
  const pastAttempts = recordUnrecordedAttempts({
    client: ctx.client,
    schema: ctx.settings.historySchema,
    settings: ctx.settings,
    runId: ctx.runId,
    warn: (line) => ctx.logger.warn(line),
    scrub: ctx.scrub,
  });
  const current = await steps.run('read-versions', () => readVersionsStep(ctx));
  const plan = await steps.run('load', () => loadStep(ctx, current)).finally(() => pastAttempts);
  if (nothingPending(plan, ctx.settings)) {
    const summary = await steps.run('record', () => recordNoop(ctx, plan));
    return { outcome: 'noop', runId: ctx.runId, summary, nextSteps: [] };
  }
  // Loaded only past the no-op path: that path runs on every deploy and should start fast.
  const { migratePipeline } = await import('./steps/migrate.js');
  return migratePipeline(ctx, plan);
}

/**
 * The run could not open its history row: leave a note for the next run (see unrecorded.ts), and
 * build the error that says where it is.
 */
async function failedWithoutRecord(
  opts: RunOptions,
  started: Date,
  step: 'connect' | 'record-start',
  err: unknown,
  where: string,
  scrub: (text: string) => string,
): Promise<GateError> {
  const cause = scrub(err instanceof Error ? err.message : String(err));
  const left = await leaveUnrecordedNote({
    settings: opts.settings,
    attempt: attemptOf(opts.render, started, step, cause),
    scrub,
  });
  if (left.problem) opts.logger.warn(left.problem);
  return noRecordError(err, where, scrub, left.location);
}

/** The catch-all record of a failure: outcome, cause, the step it failed at, where the database is. */
async function recordFailure(ctx: RunContext, err: unknown): Promise<void> {
  if (!ctx.runId) return;
  const message = err instanceof GateError ? err.message : err instanceof Error ? err.message : String(err);
  // A step may already have recorded this failure; re-recording the same outcome is harmless.
  const reached = await readCurrentRevisions(ctx.client, versionTable(ctx.settings)).catch(() => null);
  const outcome: RunOutcome =
    err instanceof GateError && err.kind === 'blocked'
      ? 'blocked'
      : ctx.signal?.aborted === true
        ? 'interrupted'
        : 'failed';
  const at = ctx.steps.current && outcome !== 'blocked' ? ` (failed at: ${ctx.steps.current})` : '';
  await finish(ctx, outcome, {
    error: ctx.scrub(message) + at,
    ...(reached ? { reachedRevisions: reached } : {}),
  });
}

/** Webhook and Pushgateway at the end of a run. They never change the outcome or the exit code. */
async function notify(opts: RunOptions, client: pg.Client, runId: number, secrets: string[]): Promise<void> {
  const { settings, logger } = opts;
  if (!settings.webhookUrl && !settings.pushgatewayUrl) return;
  const run = await getRun(client, settings.historySchema, runId).catch(() => null);
  if (!run) return;
  if (settings.webhookUrl) {
    const { notifyWebhook } = await import('../notify/webhook.js');
    const res = await notifyWebhook(run, {
      url: settings.webhookUrl,
      format: settings.webhookFormat,
      events: settings.webhookEvents as Array<'blocked' | 'failed' | 'succeeded'>,
      statusUrl: settings.statusUrl,
      secrets,
    });
    if (res.error)
      logger.warn(
        `Webhook not delivered after ${res.attempts} attempt(s): ${res.error}. The run itself is unaffected.`,
      );
  }
  if (settings.pushgatewayUrl) {
    const { pushRunMetrics } = await import('../notify/pushgateway.js');
    const res = await pushRunMetrics(run, { url: settings.pushgatewayUrl, job: 'migration_gate' });
    if (res.error) logger.warn(`Pushgateway push failed: ${res.error}. The run itself is unaffected.`);
  }
}
