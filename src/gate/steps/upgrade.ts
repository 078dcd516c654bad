/**
 * upgrade: `alembic upgrade`, retried on lock_timeout (its transaction rolled back, so a retry is safe).
 * verify-head: the database must be at the code's heads afterwards, whatever alembic's exit code said.
 */
import path from 'node:path';
import { failureLine, runAlembic, type AlembicResult } from '../../alembic/runner.js';
import { invalidIndexes, poolerReason } from '../../db/catalog.js';
import type { Blocker } from '../../db/blockers.js';
import type { RunDump } from '../../db/history.js';
import { alembicAppName as alembicSessionName } from '../../db/sessions.js';
import { readCurrentRevisions } from '../../db/version.js';
import { FailedError } from '../../errors.js';
import { finish, revisionsText, versionTable, type RunContext } from './context.js';
import { blockedByText, pendingTables, warnLongTransactions, withBlockerWatch } from './blockers.js';
import type { Decided } from './decide.js';
import type { Plan } from './start.js';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** libpq reads PGAPPNAME: it tags alembic's session so an interrupted run can stop its statement. */
export function alembicAppName(runId: number): string {
  return alembicSessionName('run', runId);
}

interface Attempt {
  ctx: RunContext;
  plan: Plan;
  d: Decided;
  dump: RunDump | undefined;
  targetSpec: string;
  startedAt: number;
  /** Tables the pending migrations touch: where lock blockers are looked for. */
  tables: string[];
}

function attemptUpgrade(a: Attempt, attempt: number): Promise<AlembicResult> {
  const { ctx } = a;
  const { settings } = ctx;
  ctx.logger.info(
    `Running alembic upgrade ${a.targetSpec} (attempt ${attempt}, lock_timeout=${settings.lockTimeout}, statement_timeout=${settings.statementTimeout}).`,
  );
  return runAlembic(['upgrade', a.targetSpec], {
    command: settings.alembic,
    iniPath: path.resolve(ctx.opts.cwd, settings.alembicConfig),
    cwd: ctx.opts.cwd,
    // The app's env.py reads DATABASE_URL as the app itself has it: pass it through unchanged.
    env: { DATABASE_URL: settings.databaseUrl, PGAPPNAME: alembicAppName(ctx.runId) },
    lockTimeout: settings.lockTimeout,
    statementTimeout: settings.statementTimeout,
    serverVersionNum: a.d.server.num,
    signal: ctx.signal,
    onLine: (line) => ctx.logger.info(`alembic: ${ctx.scrub(line)}`),
  }).done;
}

/** The deploy was cancelled during the upgrade: stop what alembic left running, record, throw. */
async function interrupted(a: Attempt, reached: string[]): Promise<never> {
  const { ctx } = a;
  // Killing alembic does not stop its backend: a long statement would keep running and holding
  // locks until it next talks to the client. Stop it now.
  const stopped = await ctx.client
    .query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [alembicAppName(ctx.runId)],
    )
    .then((r) => r.rowCount ?? 0)
    .catch(() => 0);
  if (stopped > 0)
    ctx.logger.warn(`Stopped ${stopped} database session(s) the interrupted migration left running.`);
  const msg = `interrupted: the deploy was cancelled (signal) during alembic upgrade; the database is at ${revisionsText(reached)}`;
  await finish(ctx, 'interrupted', {
    reachedRevisions: reached,
    upgradeMs: Date.now() - a.startedAt,
    error: msg,
  });
  throw new FailedError(`${msg}. Check it with \`alembic current\`; the next deploy continues from there.`);
}

/** alembic failed for good: name the cause, what it left behind, and where the dump is. */
async function failed(
  a: Attempt,
  res: AlembicResult,
  attempt: number,
  reached: string[],
  blockers: Blocker[],
): Promise<never> {
  const { ctx } = a;
  const { settings } = ctx;
  const cause = ctx.scrub(failureLine(res.tail));
  const details: string[] = [];
  for (const idx of await invalidIndexes(ctx.client).catch(() => [])) {
    details.push(
      `INVALID index ${idx.schema}.${idx.name} on ${idx.table} was left by an interrupted CREATE INDEX CONCURRENTLY: drop it with ${idx.fix}`,
    );
  }
  const why = res.lockTimeout
    ? `it waited longer than lock_timeout=${settings.lockTimeout} for a lock ${attempt} time(s)${blockedByText(blockers, ctx.scrub)}; or deploy at a quieter time`
    : 'see the alembic output above';
  const msg = `alembic upgrade failed (exit ${res.exitCode}): ${cause}; the database is at ${revisionsText(reached)}`;
  await finish(ctx, 'failed', {
    reachedRevisions: reached,
    upgradeMs: Date.now() - a.startedAt,
    error: msg,
    warnings: [...a.d.result.warnings, ...details],
  });
  throw new FailedError(
    `${msg}. Cause: ${why}. The safety dump is ${a.dump ? a.dump.location : 'not taken'}.`,
    details,
  );
}

/** Runs the upgrade to the code's heads; resolves with its duration in ms, or throws a recorded failure. */
export async function upgradeStep(
  ctx: RunContext,
  plan: Plan,
  d: Decided,
  dump: RunDump | undefined,
): Promise<number> {
  const { settings } = ctx;
  const pooler = poolerReason(ctx.target);
  if (pooler) {
    ctx.logger.warn(
      `DATABASE_URL looks like a connection pooler (${pooler}): in transaction mode it defeats lock_timeout/statement_timeout and advisory locks; point the gate at the direct database URL.`,
    );
  }
  const a: Attempt = {
    ctx,
    plan,
    d,
    dump,
    targetSpec: plan.heads.length === 1 ? plan.heads[0]! : 'heads',
    startedAt: Date.now(),
    tables: pendingTables(plan),
  };
  await warnLongTransactions(ctx, a.tables);
  for (let attempt = 1; ; attempt++) {
    const { res, blockers } = await withBlockerWatch(ctx, alembicAppName(ctx.runId), a.tables, () =>
      attemptUpgrade(a, attempt),
    );
    if (res.exitCode === 0) return Date.now() - a.startedAt;
    const reached = await readCurrentRevisions(ctx.client, versionTable(settings));
    if (ctx.signal?.aborted) return interrupted(a, reached);
    if (res.lockTimeout && attempt <= settings.lockRetries) {
      const wait = settings.retryBackoffMs * 2 ** (attempt - 1);
      ctx.logger.warn(
        `The migration gave up waiting for a lock (lock_timeout=${settings.lockTimeout})${blockedByText(blockers, ctx.scrub)}; its transaction rolled back. Retrying in ${Math.round(wait / 1000)}s (${attempt}/${settings.lockRetries}).`,
      );
      await sleep(wait, ctx.signal);
      continue;
    }
    return failed(a, res, attempt, reached, blockers);
  }
}

/** The database must be at the code's heads now; returns the revisions reached. */
export async function verifyHeadStep(ctx: RunContext, plan: Plan, upgradeMs: number): Promise<string[]> {
  const reached = await readCurrentRevisions(ctx.client, versionTable(ctx.settings));
  const expected = [...plan.heads].sort();
  if (reached.join(',') !== expected.join(',')) {
    const msg = `alembic upgrade exited 0 but the database is at ${revisionsText(reached)}, not the code's head ${expected.join(', ')}`;
    await finish(ctx, 'failed', { reachedRevisions: reached, upgradeMs, error: msg });
    throw new FailedError(
      `${msg}: check env.py (does it read DATABASE_URL? the same version table?) and run \`alembic current\`.`,
    );
  }
  return reached;
}
