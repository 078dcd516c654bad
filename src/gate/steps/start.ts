/**
 * The steps every deploy takes, including the no-op path (nothing pending): connect, open the history
 * row, take the gate lock, read the version table, load the project. Kept free of anything the no-op
 * path does not need (no Python, no classifier, no dump code), so that path stays fast.
 */
import path from 'node:path';
import type pg from 'pg';
import type { Settings } from '../../config/settings.js';
import { connect, describeTarget, type DbTarget } from '../../db/connect.js';
import { ensureHistory, startRun } from '../../db/history.js';
import { acquireGateLock, describeHolder, type GateLock } from '../../db/lock.js';
import { readCurrentRevisions } from '../../db/version.js';
import { loadProject, type LoadedProject } from '../project.js';
import { versionRowProblems } from '../version-rows.js';
import { finish, revisionsText, versionTable, type RunContext } from './context.js';

/** Where the database is and where the code wants it. */
export interface Plan {
  loaded: LoadedProject;
  /** Revisions in the version table when the run started. */
  current: string[];
  /** What `alembic upgrade heads` targets (heads that are only a depends_on of another are not targets). */
  heads: string[];
}

export function connectStep(settings: Settings, target: DbTarget): Promise<pg.Client> {
  return connect(target, {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate run',
  });
}

export async function recordStartStep(ctx: RunContext): Promise<number> {
  const { client, settings, render, target } = ctx;
  await ensureHistory(client, settings.historySchema);
  const runId = await startRun(client, settings.historySchema, {
    command: 'run',
    service: render.service ?? null,
    serviceId: render.serviceId ?? null,
    commit: render.commit ?? null,
    isPullRequest: render.isPullRequest ?? null,
    step: 'record-start',
  });
  ctx.logger.info(`Connected to ${describeTarget(target)} as ${target.user}; run #${runId}.`);
  return runId;
}

export function lockStep(ctx: RunContext): Promise<GateLock> {
  const waitS = Math.round(ctx.settings.lockWaitMs / 1000);
  return acquireGateLock(ctx.client, {
    waitMs: ctx.settings.lockWaitMs,
    signal: ctx.signal,
    // A deploy that sits silent for minutes looks hung: say who it waits for, every 10 s.
    onWait: (holder, waitedMs) =>
      ctx.logger.info(
        `Waiting for the gate lock: ${holder ? `another deploy holds it ${describeHolder(holder)}` : 'it was just released'}; waited ${Math.round(waitedMs / 1000)}s of ${waitS}s (MIGRATION_GATE_LOCK_WAIT).`,
      ),
  });
}

export function readVersionsStep(ctx: RunContext): Promise<string[]> {
  return readCurrentRevisions(ctx.client, versionTable(ctx.settings));
}

export async function loadStep(ctx: RunContext, current: string[]): Promise<Plan> {
  const loaded = await loadProject(path.resolve(ctx.opts.cwd, ctx.settings.alembicConfig), {
    signal: ctx.signal,
    threads: ctx.settings.loadThreads === 'auto',
    onRead: ({ files, threads, workerFiles }) => {
      if (threads === 2)
        ctx.logger.info(
          `Read ${files} migration files in two threads (${workerFiles} by the second; MIGRATION_GATE_LOAD_THREADS=off reads them in one).`,
        );
    },
  });
  return { loaded, current, heads: loaded.graph.resolve('heads') };
}

/** Nothing pending and nothing odd: the path every deploy takes. No dump, no Python. */
export function nothingPending(plan: Plan, settings: Settings): boolean {
  const { graph, graphProblems } = plan.loaded;
  return (
    graphProblems.length === 0 &&
    graph.unknown(plan.current).length === 0 &&
    // Repeated or overlapping rows are a broken version table, not a database at head: preflight says so.
    versionRowProblems(plan.current, graph, versionTable(settings)).length === 0 &&
    graph.pending(plan.current, plan.heads).length === 0 &&
    settings.dumpPolicy !== 'always'
  );
}

export async function recordNoop(ctx: RunContext, plan: Plan): Promise<string> {
  const summary = `Nothing pending: the database is at ${revisionsText(plan.current)}, the code's head. Nothing was run.`;
  if (ctx.settings.allow.length > 0) {
    ctx.logger.warn(
      `MIGRATION_GATE_ALLOW is set (${ctx.settings.allow.join(', ')}) but nothing is pending: remove it so it cannot allow a later migration by accident.`,
    );
  }
  ctx.logger.info(summary);
  await finish(ctx, 'noop', {
    fromRevisions: plan.current,
    toRevisions: plan.heads,
    decision: 'noop',
    reachedRevisions: plan.current,
  });
  return summary;
}
