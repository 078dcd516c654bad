/**
 * Point-in-time recovery as part of the way back (Render facts: paid instances keep a 3-day (Hobby)
 * or 7-day (Professional+) window, Free none; the last 10 minutes cannot be recovered; a recovery
 * always creates a NEW, billed instance on the same plan or higher, which services must be pointed at).
 *
 * `run` asks Render, before the dump, for the recovery status and for maintenance on the database,
 * records both, and records the exact time just before `alembic upgrade`: the point to recover to.
 */
import type { Settings } from '../config/settings.js';
import type { RunRecovery } from '../db/history.js';
import { BlockedError, ConfigError, GateError } from '../errors.js';
import type { RunContext } from '../gate/steps/context.js';
import { record } from '../gate/steps/context.js';
import type { RenderApi } from './api.js';
import { renderTarget } from './dump-method.js';

export interface RecoveryVerdict {
  warnings: string[];
  /** Set when the migration must not run. */
  block?: string;
}

/** Pure: what the recorded status and maintenance mean under the settings. */
export function judgeRecovery(
  rec: RunRecovery,
  settings: Pick<Settings, 'requirePitr' | 'maintenancePolicy'>,
): RecoveryVerdict {
  const warnings: string[] = [];
  let block: string | undefined;
  if (rec.status !== 'AVAILABLE') {
    const why =
      rec.status === null
        ? `Render's recovery status could not be read (${rec.error ?? 'unknown error'})`
        : rec.status === 'BACKUP_NOT_READY'
          ? `point-in-time recovery for ${rec.postgresId} is not ready yet (BACKUP_NOT_READY: a new or just-upgraded database has no base backup yet)`
          : `point-in-time recovery is not available for ${rec.postgresId} (NOT_AVAILABLE: Free instances have none)`;
    if (settings.requirePitr) {
      block = `${why}, and MIGRATION_GATE_REQUIRE_PITR=true: the migration did not run. Wait for the backup (BACKUP_NOT_READY), move the database to a paid plan, or unset MIGRATION_GATE_REQUIRE_PITR to rely on the safety dump alone`;
    } else {
      warnings.push(`${why}: the way back is the safety dump only.`);
    }
  }
  if (rec.maintenance.length > 0) {
    const list = rec.maintenance
      .map((m) => `${m.id} (${m.state ?? 'scheduled'}${m.scheduledAt ? ` at ${m.scheduledAt}` : ''})`)
      .join(', ');
    const text = `Render maintenance on ${rec.postgresId}: ${list}; a restart during the migration would fail it midway.`;
    if (settings.maintenancePolicy === 'block' && !block) {
      block = `${text} MIGRATION_GATE_MAINTENANCE_POLICY=block: the migration did not run. Deploy after the maintenance, or set MIGRATION_GATE_MAINTENANCE_POLICY=warn`;
    } else if (settings.maintenancePolicy !== 'block') {
      warnings.push(`${text} Consider deploying after it.`);
    }
  }
  return { warnings, ...(block ? { block } : {}) };
}

function errorText(err: unknown): string {
  return err instanceof GateError ? err.message : err instanceof Error ? err.message : String(err);
}

/**
 * How long `run` gives Render's API to answer the two recovery questions, retries included. The
 * answer only adds a record (and blocks only when PITR is required); a failing API must cost a few
 * seconds of the 30-minute pre-deploy budget, not the minutes the general retry policy allows.
 */
export const RECOVERY_BUDGET_MS = 15_000;

/** Ask Render; a failing call is recorded as such (and blocks only when PITR is required). */
export async function readRecovery(client: RenderApi, postgresId: string, now: Date): Promise<RunRecovery> {
  const api = client.withBudget(RECOVERY_BUDGET_MS);
  const rec: RunRecovery = {
    provider: 'render',
    postgresId,
    status: null,
    windowStartsAt: null,
    checkedAt: now.toISOString(),
    maintenance: [],
  };
  // Independent questions: asked at once, so a slow API costs one budget, not two.
  const [info, maintenance] = await Promise.allSettled([
    api.recoveryInfo(postgresId),
    api.maintenance(postgresId),
  ]);
  const errors: string[] = [];
  if (info.status === 'fulfilled') {
    rec.status = info.value.recoveryStatus;
    rec.windowStartsAt = info.value.startsAt ?? null;
  } else {
    errors.push(errorText(info.reason));
  }
  if (maintenance.status === 'fulfilled') {
    rec.maintenance = maintenance.value.map((m) => ({
      id: m.id,
      ...(m.state ? { state: m.state } : {}),
      ...(m.scheduledAt ? { scheduledAt: m.scheduledAt } : {}),
    }));
  } else {
    errors.push(`maintenance: ${errorText(maintenance.reason)}`);
  }
  if (errors.length) rec.error = errors.join('; ');
  return rec;
}

/** The `recovery` step of run. Without the Render API it does nothing (unless PITR is required). */
export async function recoveryStep(ctx: RunContext): Promise<RunRecovery | undefined> {
  const target = renderTarget(ctx.settings, ctx.target.host, ctx.signal);
  if (!target) {
    if (ctx.settings.requirePitr) {
      throw new ConfigError(
        'MIGRATION_GATE_REQUIRE_PITR=true needs the Render API to check recovery: set RENDER_API_KEY (and MIGRATION_GATE_RENDER_POSTGRES_ID when DATABASE_URL is not the dpg-<id>-a host)',
      );
    }
    return undefined;
  }
  const rec = await readRecovery(target.api, target.postgresId, ctx.now());
  const verdict = judgeRecovery(rec, ctx.settings);
  await record(ctx, { recovery: rec });
  if (rec.status === 'AVAILABLE') {
    ctx.logger.info(
      `Point-in-time recovery is AVAILABLE for ${rec.postgresId} (window from ${rec.windowStartsAt ?? '?'}); the time just before the upgrade is recorded with this run.`,
    );
  }
  for (const w of verdict.warnings) ctx.logger.warn(w);
  if (verdict.block) throw new BlockedError(verdict.block);
  return rec;
}

/** Record the exact moment just before `alembic upgrade` starts: `restore --pitr` recovers to it. */
export async function markUpgradeStart(ctx: RunContext, rec: RunRecovery | undefined): Promise<void> {
  if (!rec) return;
  rec.upgradeStartedAt = ctx.now().toISOString();
  await record(ctx, { recovery: rec });
}
