/**
 * `rehearse`: runbook steps 2-8 as one command, as a short pipeline of named steps: preflight, dump
 * and scratch (side by side), restore, analyze, plan, upgrade (one revision at a time while a second
 * connection watches locks and table sizes), smoke and roundtrip when asked, report, cleanup. Each
 * step is timed in the log; a failure names the step ("rehearsal failed at: restore: ..."). Production
 * is only read (pg_dump), never written.
 */
import type { Settings } from '../config/settings.js';
import { checkAborted, failedAt, newContext, step, type RehearsalContext } from './context.js';
import { roundtripStep, schemaBefore, smokeStep, upgradeStep } from './migrate.js';
import type { RehearsalReport, RehearseLogger, RehearseOptions } from './model.js';
import { reportStep, type RehearsalFindings } from './outcome.js';
import {
  analyzeStep,
  dumpAndScratchSteps,
  planStep,
  preflightStep,
  restoredLine,
  restoreStep,
} from './prepare.js';
import { streamable, streamSteps } from './stream.js';

export type * from './model.js';
export { failingStatement, REHEARSAL_APP_NAME } from './migrate.js';

export async function rehearse(opts: RehearseOptions): Promise<RehearsalReport> {
  const ctx = newContext(opts);
  try {
    return await pipeline(ctx);
  } catch (err) {
    throw failedAt(ctx, err);
  } finally {
    await step(ctx, 'cleanup', () => cleanup(ctx)).catch(() => undefined);
  }
}

async function pipeline(ctx: RehearsalContext): Promise<RehearsalReport> {
  const { opts } = ctx;
  await step(ctx, 'preflight', () => preflightStep(ctx));
  const restoreStart = Date.now();
  let warnings: string[];
  if (streamable(ctx)) {
    warnings = await streamSteps(ctx);
  } else {
    await dumpAndScratchSteps(ctx);
    warnings = await step(ctx, 'restore', () => restoreStep(ctx));
  }
  await step(ctx, 'analyze', () => analyzeStep(ctx));
  const restore = { durationMs: Date.now() - restoreStart, warnings };
  ctx.log(restoredLine(restore.durationMs, warnings));
  const plan = await step(ctx, 'plan', () => planStep(ctx));
  const startSchema = opts.roundtrip && plan.pending.length > 0 ? await schemaBefore(ctx) : '';
  const findings: RehearsalFindings = { plan, restore, migrations: [] };
  if (plan.pending.length > 0) {
    findings.migrations = await step(ctx, 'upgrade', () => upgradeStep(ctx, plan.pending));
    const upgraded = findings.migrations.every((m) => m.ok);
    if (upgraded && opts.smoke) {
      const command = opts.smoke;
      findings.smoke = await step(ctx, 'smoke', () => smokeStep(ctx, command));
    }
    if (upgraded && opts.roundtrip)
      findings.roundtrip = await step(ctx, 'roundtrip', () => roundtripStep(ctx, plan.from, startSchema));
  }
  checkAborted(ctx);
  return step(ctx, 'report', () => reportStep(ctx, findings));
}

/** The probe connection and the temporary dump, then the scratch database (unless --keep). */
async function cleanup(ctx: RehearsalContext): Promise<void> {
  for (const c of ctx.cleanups.reverse()) await c().catch(() => undefined);
  const sc = ctx.scratch;
  if (!sc || ctx.kept) return;
  await sc.drop().catch((err: unknown) => {
    ctx.opts.logger?.warn(
      `could not drop the scratch database ${sc.name} on ${sc.server}: ${ctx.scrub(err instanceof Error ? err.message : String(err))}; drop it by hand`,
    );
  });
}

export interface RehearseBeforeRunResult {
  passed: boolean;
  summary: string;
  nextSteps: string[];
  report: RehearsalReport;
}

/**
 * `run`'s precondition when MIGRATION_GATE_REHEARSE_BEFORE_RUN=true: rehearse the pending migrations
 * on a fresh dump of DATABASE_URL, restored on REHEARSAL_DATABASE_URL. Resolves with passed=false when
 * the migrations fail there (the gate blocks); throws FailedError/ConfigError for infrastructure errors.
 */
export async function rehearseBeforeRun(opts: {
  settings: Settings;
  cwd: string;
  logger: RehearseLogger;
  signal?: AbortSignal;
}): Promise<RehearseBeforeRunResult> {
  const report = await rehearse({
    settings: opts.settings,
    cwd: opts.cwd,
    logger: opts.logger,
    signal: opts.signal,
    requireServer: true,
  });
  const nextSteps = report.passed
    ? []
    : [
        'fix the migration (see the rehearsal report: failing statement and output) and deploy again',
        'reproduce it with `migration-gate rehearse --keep` and inspect the scratch database',
      ];
  return { passed: report.passed, summary: report.summary, nextSteps, report };
}
