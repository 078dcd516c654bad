/**
 * `restore --pitr [--run N] [--yes]`: ask Render to recover the database to just before a run's
 * upgrade (the time `run` recorded). Without --yes it only explains; with --yes it calls the API and
 * prints the new instance. Render facts: the recovery creates a NEW instance (billed, plan not lower
 * than the original), the last 10 minutes cannot be recovered, and the window is 3 or 7 days.
 */
import type { Settings } from '../config/settings.js';
import { connect, parseDatabaseUrl } from '../db/connect.js';
import { getRun, listRuns, type RunRecord } from '../db/history.js';
import { ConfigError, FailedError } from '../errors.js';
import type { RenderPostgres } from './api.js';
import { renderTarget } from './dump-method.js';

export interface PitrRestoreOptions {
  settings: Settings;
  runId?: number;
  yes: boolean;
  say: (line: string) => void;
  signal?: AbortSignal;
  now?: () => Date;
}

/** Pure: is `restoreTime` recoverable now, given the window start? A reason when it is not. */
export function pitrProblem(
  restoreTime: Date,
  windowStartsAt: string | undefined,
  now: Date,
): string | undefined {
  const newestRecoverable = new Date(now.getTime() - 10 * 60_000);
  if (restoreTime > newestRecoverable) {
    return `${restoreTime.toISOString()} is less than 10 minutes ago, and Render cannot recover the last 10 minutes: retry after ${new Date(restoreTime.getTime() + 10 * 60_000).toISOString()}`;
  }
  if (windowStartsAt && restoreTime < new Date(windowStartsAt)) {
    return `${restoreTime.toISOString()} is before the recovery window, which starts at ${windowStartsAt} (3 days on Hobby, 7 on Professional and up): use a safety dump instead (\`migration-gate restore --dump ...\`)`;
  }
  return undefined;
}

/** Pure: the explanation shown before anything is asked of Render. */
export function pitrPlan(
  run: RunRecord,
  restoreTime: string,
  postgresId: string,
  restoreName: string,
): string[] {
  return [
    `Point-in-time recovery of ${postgresId} to ${restoreTime}, just before run #${run.id}'s upgrade (${run.fromRevisions.join(', ') || 'base'} -> ${run.toRevisions.join(', ') || 'base'}${run.commit ? `, commit ${run.commit.slice(0, 7)}` : ''}).`,
    `- Render creates a NEW database instance "${restoreName}" from the backups; ${postgresId} itself is not changed or stopped.`,
    '- The new instance is billed like any database, on the same plan as the original or higher.',
    '- Render cannot recover the last 10 minutes; writes after the recovery point exist only in the original.',
    '- Afterwards, repoint everything at the new instance: DATABASE_URL of the web service, workers, cron jobs and this gate (fromDatabase in render.yaml, or the environment group), then redeploy the code that matches the recovered schema (a rollback deploy of the commit before this run).',
    '- Keep the original until the new one is verified: it still holds the writes made after the recovery point.',
  ];
}

async function pickRun(settings: Settings, runId: number | undefined): Promise<RunRecord> {
  const target = parseDatabaseUrl(settings.databaseUrl!);
  const client = await connect(target, {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate restore',
  });
  try {
    if (runId !== undefined) {
      const run = await getRun(client, settings.historySchema, runId);
      if (!run)
        throw new ConfigError(
          `there is no run #${runId} in the history: see /status or the deploy log for run numbers`,
        );
      return run;
    }
    const run = (await listRuns(client, settings.historySchema, 200)).find(
      (r) => r.recovery?.upgradeStartedAt,
    );
    if (!run) {
      throw new ConfigError(
        'no run in the history recorded a point to recover to (runs record it when RENDER_API_KEY is set): pass --run N, or restore a safety dump with --dump',
      );
    }
    return run;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function pitrRestore(opts: PitrRestoreOptions): Promise<RenderPostgres | undefined> {
  const { settings, say } = opts;
  const now = (opts.now ?? (() => new Date()))();
  const host = parseDatabaseUrl(settings.databaseUrl!).host;
  const target = renderTarget(settings, host, opts.signal);
  if (!target) {
    throw new ConfigError(
      'restore --pitr needs the Render API: set RENDER_API_KEY (and MIGRATION_GATE_RENDER_POSTGRES_ID=dpg-... when DATABASE_URL is not the internal dpg-<id>-a host)',
    );
  }
  const run = await pickRun(settings, opts.runId);
  const at = run.recovery?.upgradeStartedAt;
  if (!at) {
    throw new ConfigError(
      `run #${run.id} recorded no upgrade start time (it ran without the Render API, or never reached the upgrade): pick another run with --run N, or restore a safety dump with --dump`,
    );
  }
  const info = await target.api.recoveryInfo(target.postgresId);
  if (info.recoveryStatus !== 'AVAILABLE') {
    throw new FailedError(
      `Render reports point-in-time recovery for ${target.postgresId} as ${info.recoveryStatus}: nothing was requested. Restore a safety dump instead (\`migration-gate restore --dump ...\`)`,
    );
  }
  const problem = pitrProblem(new Date(at), info.startsAt, now);
  if (problem)
    throw new FailedError(`cannot recover to just before run #${run.id}: ${problem}; nothing was requested`);
  const restoreName = `${target.postgresId}-before-run-${run.id}`;
  for (const line of pitrPlan(run, at, target.postgresId, restoreName)) say(line);
  if (!opts.yes) {
    say(
      `Nothing was requested. Re-run with --yes to ask Render for the recovery: migration-gate restore --pitr --run ${run.id} --yes`,
    );
    return undefined;
  }
  const created = await target.api.recover(target.postgresId, { restoreTime: at, restoreName });
  say(
    `Render is creating ${created.id}${created.name ? ` ("${created.name}")` : ''}${created.plan ? ` on plan ${created.plan}` : ''}${created.status ? `, status ${created.status}` : ''}${created.dashboardUrl ? `: ${created.dashboardUrl}` : ''}.`,
  );
  say(
    `Next: wait until ${created.id} is available, check it, then repoint DATABASE_URL everywhere at it and redeploy.`,
  );
  return created;
}
