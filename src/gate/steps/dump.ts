/**
 * dump: nothing runs without a verified safety dump, unless the policy says never (recorded in history).
 */
import type { RenderEnv, Settings } from '../../config/settings.js';
import { databaseSize } from '../../progress.js';
import type { RunDump } from '../../db/history.js';
import { describeBlocker, exclusiveLockHolders, terminateHint } from '../../db/blockers.js';
import { ConfigError, FailedError } from '../../errors.js';
import { takeVerifiedSafetyDump } from '../safety-dump.js';
import { record, type RunContext } from './context.js';
import type { Decided } from './decide.js';
import type { Plan } from './start.js';

/** Problems with the dump settings, when a dump is about to be taken (empty: fine). */
export function dumpSettingsProblems(settings: Settings, render: RenderEnv): string[] {
  const problems: string[] = [];
  // Render's export needs no target of ours (a copy is optional); pg_dump and auto may need one.
  if (settings.dumpPolicy !== 'never' && !settings.dumpTarget && settings.dumpMethod !== 'render-export') {
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET is not set: the gate takes a safety dump before migrating; set it to s3://bucket/prefix (or file:///dir for local runs), or set MIGRATION_GATE_DUMP_POLICY=never to accept migrating without one',
    );
  }
  if (
    render.onRender &&
    settings.dumpPolicy !== 'never' &&
    settings.dumpTarget?.startsWith('file:') &&
    !settings.acceptEphemeralDump
  ) {
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET is a local directory, but on Render the pre-deploy command runs on an instance whose disk is discarded when it ends: the dump would be gone seconds later. Use an S3-compatible bucket (s3://bucket/prefix with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and MIGRATION_GATE_S3_ENDPOINT for R2/B2/MinIO), or set MIGRATION_GATE_ACCEPT_EPHEMERAL_DUMP=true to accept the risk',
    );
  }
  return problems;
}

export function configProblems(problems: string[]): ConfigError {
  return new ConfigError(
    `${problems.length} configuration problem${problems.length > 1 ? 's' : ''}: fix the settings below and re-run`,
    problems.map((p) => `- ${p}`),
  );
}

/**
 * pg_dump enforces --lock-wait-timeout with a statement timeout on its LOCK TABLE, so it reports
 * "canceling statement due to statement timeout". Say what it means, and who holds the lock.
 */
async function explainLockWait(ctx: RunContext, err: unknown): Promise<never> {
  const text = err instanceof Error ? err.message : String(err);
  if (!/canceling statement due to (statement|lock) timeout/.test(text)) throw err;
  const holders = await exclusiveLockHolders(ctx.client, 'migration-gate').catch(() => []);
  const waitS = Math.round(ctx.settings.dumpLockWaitMs / 1000);
  const who =
    holders.length > 0
      ? `: ${holders.map((b) => describeBlocker(b, ctx.scrub)).join('; ')}. If it is stuck, end it with ${terminateHint(holders)} (the gate never does)`
      : ' (the session holding it had finished when the gate looked)';
  throw new FailedError(
    `the safety dump waited longer than MIGRATION_GATE_DUMP_LOCK_WAIT=${waitS}s for a table lock and gave up; nothing was migrated and the partial dump was removed. pg_dump needs to read every table, and another session holds an ACCESS EXCLUSIVE lock${who}; then re-deploy, or raise MIGRATION_GATE_DUMP_LOCK_WAIT`,
    [],
    { cause: err },
  );
}

export async function dumpStep(ctx: RunContext, plan: Plan, d: Decided): Promise<RunDump | undefined> {
  const { settings } = ctx;
  if (settings.dumpPolicy === 'never') {
    ctx.logger.warn(
      'MIGRATION_GATE_DUMP_POLICY=never: migrating WITHOUT a safety dump (recorded in history).',
    );
    await record(ctx, { ...d.patch, dumpPolicy: 'never' });
    return undefined;
  }
  await record(ctx, { ...d.patch, dumpPolicy: settings.dumpPolicy });
  // Checked only now: a deploy with nothing to migrate needs no dump target.
  const problems = dumpSettingsProblems(settings, ctx.render);
  if (problems.length > 0) throw configProblems(problems);
  const dump = await takeVerifiedSafetyDump({
    settings,
    render: ctx.render,
    target: ctx.target,
    server: d.server,
    current: plan.current,
    next: plan.heads,
    info: (line) => ctx.logger.info(line),
    warn: (line) => ctx.logger.warn(line),
    scrub: ctx.scrub,
    signal: ctx.signal,
    now: ctx.opts.now,
    madeBy: 'run',
    runId: ctx.runId,
    // For the progress lines' estimate; a failed size query only costs the estimate.
    databaseBytes: await databaseSize(ctx.client).catch(() => undefined),
  }).catch((err: unknown) => explainLockWait(ctx, err));
  await record(ctx, { dump });
  return dump;
}
