/**
 * Lock blockers around the upgrade: a warning before it when an old transaction holds a lock on a table
 * the pending migrations touch, and, when lock_timeout fires, the sessions that blocked it (sampled while
 * alembic waited, else the holders of locks on those tables) with the SQL to end them, never run.
 */
import {
  describeBlocker,
  durationMs,
  lockHoldersOn,
  terminateHint,
  watchBlockers,
  type Blocker,
} from '../../db/blockers.js';
import { touchedTables } from '../touched-tables.js';
import type { RunContext } from './context.js';
import type { Plan } from './start.js';

/** The gate's own sessions (its connection, alembic's) never count as blockers. */
const OWN_SESSIONS = 'migration-gate';

export function pendingTables(plan: Plan): string[] {
  try {
    return touchedTables(plan.loaded.graph.pending(plan.current, plan.heads));
  } catch {
    return []; // an odd graph was reported by the decision already; no tables, no warning
  }
}

/** Warns when a transaction older than lock_timeout holds a lock the migration will wait for. */
export async function warnLongTransactions(ctx: RunContext, tables: string[]): Promise<void> {
  const timeoutMs = durationMs(ctx.settings.lockTimeout);
  if (timeoutMs === 0 || tables.length === 0) return;
  const holders = await lockHoldersOn(ctx.client, tables, {
    minXactAgeMs: timeoutMs,
    exceptApplicationPrefix: OWN_SESSIONS,
  }).catch(() => []);
  if (holders.length === 0) return;
  ctx.logger.warn(
    `A transaction older than lock_timeout=${ctx.settings.lockTimeout} holds a lock on a table the migration changes, so the migration will likely wait for it and fail: ${holders.map((b) => describeBlocker(b, ctx.scrub)).join('; ')}. If it is stuck, end it with ${terminateHint(holders)} (the gate never does).`,
  );
}

/** Samples alembic's blockers while `run` runs; after a lock timeout, falls back to the tables' lock holders. */
export async function withBlockerWatch<T extends { lockTimeout: boolean }>(
  ctx: RunContext,
  application: string,
  tables: string[],
  run: () => Promise<T>,
): Promise<{ res: T; blockers: Blocker[] }> {
  const watch = watchBlockers(ctx.client, application);
  const res = await run().finally(() => watch.stop());
  const sampled = await watch.stop();
  if (!res.lockTimeout || sampled.length > 0) return { res, blockers: sampled };
  const holders = await lockHoldersOn(ctx.client, tables, { exceptApplicationPrefix: OWN_SESSIONS }).catch(
    () => [],
  );
  return { res, blockers: holders };
}

/** ", blocked by pid 123 (...): LOCK TABLE ...; if it is stuck, end it with SELECT pg_terminate_backend(123) (the gate never does)" */
export function blockedByText(blockers: Blocker[], scrub: (text: string) => string): string {
  if (blockers.length === 0) return ' (the blocking session had gone when the gate looked)';
  return `, blocked by ${blockers.map((b) => describeBlocker(b, scrub)).join('; ')}; if it is stuck, end it with ${terminateHint(blockers)} (the gate never does)`;
}
