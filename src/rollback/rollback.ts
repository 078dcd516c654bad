/**
 * `rollback`: `alembic downgrade` to where the database was before the last successful `run`.
 * A downgrade is a migration too: the downgrade() of an additive migration drops the tables it
 * created, with whatever rows they hold now. So the path is classified with the same rules, the
 * affected tables are counted, and a destructive downgrade needs the same override as an upgrade.
 * A downgrade never brings back data the upgrade deleted or rewrote: the plan and the result say so,
 * and name the pre-deploy dump (by id) that does.
 *
 * Steps: connect, load, plan, lock, dump, downgrade, record (see steps.ts).
 */
import path from 'node:path';
import type pg from 'pg';
import { failureLine, runAlembic } from '../alembic/runner.js';
import type { RenderEnv, Settings } from '../config/settings.js';
import { serverVersion } from '../db/catalog.js';
import { connect, describeTarget, parseDatabaseUrl, redact, type DbTarget } from '../db/connect.js';
import {
  ensureHistory,
  lastMigrated,
  startRun,
  updateRun,
  type RunDump,
  type RunRecord,
} from '../db/history.js';
import type { GateLock } from '../db/lock.js';
import { alembicAppName } from '../db/sessions.js';
import { readCurrentRevisions } from '../db/version.js';
import { BlockedError, ConfigError, FailedError } from '../errors.js';
import { loadProject, type LoadedProject } from '../gate/project.js';
import { failedRun, lockAndSettle, requireDumpTarget, safetyDumpBefore, type Say } from './common.js';
import {
  blockedText,
  buildRollbackPlan,
  dataReminder,
  downgradeSpec,
  rollbackPlanLines,
  type RollbackPlan,
} from './rollback-plan.js';
import { RecoverySteps } from './steps.js';

export type { AffectedTable, RollbackPlan } from './rollback-plan.js';

export interface RollbackOptions {
  settings: Settings;
  render: RenderEnv;
  cwd: string;
  yes: boolean;
  say: Say;
  /** Step lines with their timings (default: said with the rest). The CLI sends them to the log. */
  progress?: Say;
  signal?: AbortSignal;
}

export interface RollbackResult {
  applied: boolean;
  plan?: RollbackPlan;
  reachedRevisions?: string[];
  safetyDump?: RunDump;
}

interface Ctx {
  opts: RollbackOptions;
  settings: Settings;
  target: DbTarget;
  client: pg.Client;
  steps: RecoverySteps;
  scrub: (text: string) => string;
  iniPath: string;
  versionTable: { table: string; schema?: string };
}

/** Where to go back to, or (null) nothing to do. Throws when a rollback cannot be automated. */
interface Loaded {
  last: RunRecord;
  current: string[];
  project: LoadedProject;
}

async function loadStep(ctx: Ctx): Promise<Loaded | null> {
  const { settings, client, opts } = ctx;
  const project = await loadProject(ctx.iniPath);
  const last = await lastMigrated(client, settings.historySchema);
  if (!last) {
    throw new ConfigError(
      `no successful \`migration-gate run\` is recorded in ${settings.historySchema}.runs on ${describeTarget(ctx.target)}: there is no "before" revision to go back to; downgrade by hand with alembic downgrade <rev>`,
    );
  }
  const current = await readCurrentRevisions(client, ctx.versionTable);
  const to = last.fromRevisions;
  if (current.join(',') === [...to].sort().join(',')) {
    opts.say(
      `The database is already at ${to.join(', ') || 'base'}, where it was before run #${last.id}: nothing to roll back.`,
    );
    return null;
  }
  const problem = rollbackProblem(project, last, current);
  if (problem) throw new ConfigError(problem);
  if (last.reachedRevisions && last.reachedRevisions.join(',') !== current.join(',')) {
    opts.say(
      `Note: run #${last.id} left the database at ${last.reachedRevisions.join(', ')}; it is now at ${current.join(', ')}. The rollback undoes everything above ${to.join(', ') || 'base'}.`,
    );
  }
  return { last, current, project };
}

/** Why this rollback cannot be automated (one line, with what to do), or undefined. Pure. */
export function rollbackProblem(
  project: LoadedProject,
  last: RunRecord,
  current: string[],
): string | undefined {
  const to = last.fromRevisions;
  const unknown = project.graph.unknown([...current, ...to]);
  if (unknown.length > 0)
    return `revision ${unknown.join(', ')} is not in the migration files here: run rollback from the code that applied run #${last.id}`;
  if (to.length > 1)
    return `run #${last.id} started from several heads (${to.join(', ')}): downgrading to a branch point is not automated; use alembic downgrade by hand`;
  if (to.some((t) => !current.some((c) => project.graph.isAncestor(t, c))))
    return `the database is at ${current.join(', ') || 'base'}, which is not a descendant of ${to.join(', ')} (the revision before run #${last.id}): someone migrated it since; downgrade by hand`;
  return undefined;
}

/** lock: the history row, the override check (a blocked rollback is recorded), the gate lock. */
async function lockStep(ctx: Ctx, plan: RollbackPlan): Promise<{ runId: number; lock: GateLock }> {
  const { settings, opts, client } = ctx;
  const schema = settings.historySchema;
  await ensureHistory(client, schema);
  const runId = await startRun(client, schema, {
    command: 'rollback',
    service: opts.render.service ?? null,
    serviceId: opts.render.serviceId ?? null,
    commit: opts.render.commit ?? null,
    fromRevisions: plan.current,
    toRevisions: plan.to,
    pending: plan.undone,
    step: 'lock',
  });
  ctx.steps.attach(client, schema, runId);
  if (plan.notAllowed.length > 0) {
    const blocked = blockedText(plan);
    await updateRun(client, schema, runId, {
      outcome: 'blocked',
      decision: 'block',
      finishedAt: new Date(),
      reachedRevisions: plan.current,
      error: blocked.cause,
    });
    throw Object.assign(new BlockedError(blocked.message), { recorded: true });
  }
  if (plan.destructive.length > 0) {
    const allowAll = settings.allow.some((a) => a.toLowerCase() === 'all');
    const unused = settings.allow.filter((a) => a.toLowerCase() !== 'all' && !plan.destructive.includes(a));
    await updateRun(client, schema, runId, {
      override: { revisions: settings.allow, reason: settings.allowReason ?? '', all: allowAll, unused },
    });
  }
  const lock = await lockAndSettle(ctx, runId);
  return { runId, lock };
}

/** downgrade: alembic downgrade; a failure is recorded here with where the database stopped. */
async function downgradeStep(
  ctx: Ctx,
  plan: RollbackPlan,
  runId: number,
  safety: RunDump,
  serverVersionNum: number,
): Promise<{ reached: string[]; ms: number }> {
  const { settings, opts } = ctx;
  const spec = downgradeSpec(plan);
  const t0 = Date.now();
  opts.say(`Running alembic downgrade ${spec}.`);
  const res = await runAlembic(['downgrade', spec], {
    command: settings.alembic,
    iniPath: ctx.iniPath,
    cwd: opts.cwd,
    // The app's env.py reads DATABASE_URL as the app has it: passed through unchanged, as in run.
    env: { DATABASE_URL: settings.databaseUrl, PGAPPNAME: alembicAppName('rollback', runId) },
    lockTimeout: settings.lockTimeout,
    statementTimeout: settings.statementTimeout,
    serverVersionNum,
    signal: opts.signal,
    onLine: (line) => opts.say(`alembic: ${ctx.scrub(line)}`),
  }).done;
  const reached = await readCurrentRevisions(ctx.client, ctx.versionTable);
  const ms = Date.now() - t0;
  if (res.exitCode === 0) return { reached, ms };
  const at = reached.join(', ') || 'base';
  const msg = opts.signal?.aborted
    ? `rollback interrupted (signal) during alembic downgrade; the database is at ${at}`
    : `alembic downgrade ${spec} failed (exit ${res.exitCode}): ${ctx.scrub(failureLine(res.tail))}; the database is at ${at}`;
  await updateRun(ctx.client, settings.historySchema, runId, {
    outcome: opts.signal?.aborted ? 'interrupted' : 'failed',
    finishedAt: new Date(),
    reachedRevisions: reached,
    upgradeMs: ms,
    error: msg,
  });
  throw Object.assign(
    new FailedError(`${msg}. The state before the rollback is in safety dump ${safety.id}.`),
    { recorded: true },
  );
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const { settings, say } = opts;
  if (!settings.databaseUrl) throw new ConfigError('rollback needs DATABASE_URL: the database to roll back');
  const target = parseDatabaseUrl(settings.databaseUrl);
  const scrub = (s: string) => redact(s, target.password ? [target.password] : []);
  if (opts.yes) requireDumpTarget(settings, 'rollback');
  const steps = new RecoverySteps(opts.progress ?? say);
  const client = await steps.run('connect', () =>
    connect(target, {
      connectTimeoutMs: settings.connectTimeoutMs,
      applicationName: 'migration-gate rollback',
    }),
  );
  const ctx: Ctx = {
    opts,
    settings,
    target,
    client,
    steps,
    scrub,
    iniPath: path.resolve(opts.cwd, settings.alembicConfig),
    versionTable: { table: settings.versionTable, schema: settings.versionTableSchema },
  };
  let lock: GateLock | undefined;
  let runId = 0;
  try {
    const loaded = await steps.run('load', () => loadStep(ctx));
    if (!loaded) return { applied: false };
    const server = await serverVersion(client);
    const plan = await steps.run('plan', async () => {
      const p = await buildRollbackPlan({
        client,
        loaded: loaded.project,
        last: loaded.last,
        current: loaded.current,
        settings,
        serverVersionNum: server.num,
      });
      for (const line of rollbackPlanLines(p, loaded.last, describeTarget(target), settings)) say(line);
      return p;
    });
    if (!opts.yes) {
      say('Nothing was changed. Re-run with --yes to roll back.');
      return { applied: false, plan };
    }
    ({ runId, lock } = await steps.run('lock', () => lockStep(ctx, plan)));
    const safety = await steps.run('dump', () => dumpBeforeRollback(ctx, plan, runId));
    const { reached, ms } = await steps.run('downgrade', () =>
      downgradeStep(ctx, plan, runId, safety, server.num),
    );
    await steps.run('record', () =>
      updateRun(client, settings.historySchema, runId, {
        outcome: 'rolled-back',
        finishedAt: new Date(),
        reachedRevisions: reached,
        upgradeMs: ms,
      }),
    );
    say(
      `Rolled back ${plan.current.join(', ') || 'base'} -> ${reached.join(', ') || 'base'} in ${(ms / 1000).toFixed(1)}s; the state before the rollback is in safety dump ${safety.id}. ${dataReminder(plan)}`,
    );
    return { applied: true, plan, reachedRevisions: reached, safetyDump: safety };
  } catch (err) {
    const recorded = (err as { recorded?: boolean }).recorded === true;
    throw await failedRun({
      client,
      schema: settings.historySchema,
      runId,
      recorded,
      command: 'rollback',
      err,
      signal: opts.signal,
      scrub,
    });
  } finally {
    await lock?.release();
    await client.end().catch(() => undefined);
  }
}

/** dump: the state about to be downgraded, so the rollback itself can be undone. */
async function dumpBeforeRollback(ctx: Ctx, plan: RollbackPlan, runId: number): Promise<RunDump> {
  const safety = await safetyDumpBefore({
    settings: ctx.settings,
    render: ctx.opts.render,
    target: ctx.target,
    client: ctx.client,
    current: plan.current,
    next: plan.to,
    say: ctx.opts.say,
    signal: ctx.opts.signal,
    madeBy: 'rollback',
    runId,
  });
  await updateRun(ctx.client, ctx.settings.historySchema, runId, { dump: safety, decision: 'allow' });
  return safety;
}
