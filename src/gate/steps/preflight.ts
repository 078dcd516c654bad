/**
 * preflight: on the path that will dump or migrate, every check that would otherwise fail after the
 * dump, run at once; all problems are reported in one error before anything is written.
 */
import {
  checkAlembic,
  checkDumpTarget,
  checkPgTools,
  collectProblems,
  estimateDumpBytes,
  preflightError,
  versionRowProblems,
  type PreflightProblem,
} from '../preflight.js';
import { versionTable, type RunContext } from './context.js';
import type { Decided } from './decide.js';
import { dumpSettingsProblems } from './dump.js';
import type { Plan } from './start.js';
import { alembicAppName } from './upgrade.js';

async function databaseBytes(ctx: RunContext): Promise<number> {
  const { rows } = await ctx.client.query<{ bytes: string }>(
    'SELECT pg_database_size(current_database())::text AS bytes',
  );
  return Number(rows[0]?.bytes ?? 0);
}

/**
 * Render's export takes the dump instead of pg_dump (render-export, or auto with the API configured):
 * then a local client older than the server is no reason to stop, since that is what auto is for.
 */
async function exportTakesDump(ctx: RunContext): Promise<boolean> {
  const { settings } = ctx;
  if (settings.dumpMethod === 'render-export') return true;
  if (settings.dumpMethod !== 'auto') return false;
  const { renderTarget } = await import('../../render/dump-method.js');
  return renderTarget(settings, ctx.target.host) !== undefined;
}

async function dumpChecks(ctx: RunContext, d: Decided): Promise<Array<() => Promise<PreflightProblem[]>>> {
  const { settings } = ctx;
  if (settings.dumpPolicy === 'never') return [];
  const config = dumpSettingsProblems(settings, ctx.render).map((text) => ({
    kind: 'config' as const,
    text,
  }));
  const checks: Array<() => Promise<PreflightProblem[]>> = [async () => config];
  if (!(await exportTakesDump(ctx))) checks.push(() => checkPgTools(settings, d.server.num));
  // Without a target there is nothing to probe; the settings problem above already says so.
  if (settings.dumpTarget) {
    checks.push(async () => checkDumpTarget(settings, estimateDumpBytes(await databaseBytes(ctx))));
  }
  return checks;
}

export async function preflightStep(ctx: RunContext, plan: Plan, d: Decided): Promise<void> {
  const { settings } = ctx;
  const checks: Array<() => Promise<PreflightProblem[]>> = [
    async () => versionRowProblems(plan.current, plan.loaded.graph, versionTable(settings)),
    ...(await dumpChecks(ctx, d)),
  ];
  if (d.result.outcome === 'migrate') {
    checks.push(() =>
      checkAlembic({
        settings,
        cwd: ctx.opts.cwd,
        env: { DATABASE_URL: settings.databaseUrl, PGAPPNAME: alembicAppName(ctx.runId) },
        scrub: ctx.scrub,
        signal: ctx.signal,
        serverVersionNum: d.server.num,
      }),
    );
  }
  const problems = await collectProblems(checks, ctx.scrub);
  if (problems.length > 0) throw preflightError(problems);
}
