/**
 * decide: classify what is pending with live facts (server version, table sizes, what earlier gate runs
 * applied) and turn it into a decision. A blocked or code-rollback decision ends the run here.
 * rehearse (optional): the same upgrade on a scratch copy first; a failure blocks before production.
 */
import type { RenderEnv, Settings } from '../../config/settings.js';
import { serverVersion, tableFacts, tableSizes } from '../../db/catalog.js';
import { runThatReached, type RunPatch } from '../../db/history.js';
import { analyse, type Analysis } from '../check.js';
import type { Policy } from '../decide.js';
import type { RunResult } from '../run.js';
import { finish, record, type RunContext } from './context.js';
import type { Plan } from './start.js';

export interface Decided extends Analysis {
  server: { num: number; text: string };
  /** What the history row gets once the decision is known. */
  patch: RunPatch;
}

function policyFrom(settings: Settings, render: RenderEnv): Policy {
  return {
    allow: settings.allow,
    allowReason: settings.allowReason,
    lockingBlockRows: settings.lockingBlockRows,
    codeRollback: settings.codeRollback,
    ignoreOverride: render.isPullRequest === true && settings.previewPolicy === 'block',
  };
}

/** Revisions in the database that this code does not know, but an earlier gate run applied (a code rollback). */
async function appliedByGate(
  ctx: RunContext,
  plan: Plan,
): Promise<Record<string, { at: string; commit?: string | null }>> {
  const out: Record<string, { at: string; commit?: string | null }> = {};
  for (const rev of plan.loaded.graph.unknown(plan.current)) {
    const run = await runThatReached(ctx.client, ctx.settings.historySchema, rev);
    if (run) out[rev] = { at: (run.finishedAt ?? run.startedAt).toISOString(), commit: run.commit };
  }
  return out;
}

export async function decideStep(ctx: RunContext, plan: Plan): Promise<Decided> {
  const { client, settings } = ctx;
  await record(ctx, { fromRevisions: plan.current, toRevisions: plan.heads });
  const server = await serverVersion(client);
  const analysis = await analyse({
    loaded: plan.loaded,
    current: plan.current,
    targets: plan.heads,
    policy: policyFrom(settings, ctx.render),
    serverVersionNum: server.num,
    tableSizes: (tables) => tableSizes(client, tables),
    // The live catalog is the truth for the tables findings name (nullability, validated checks).
    catalog: (tables) => tableFacts(client, tables),
    appliedByGate: await appliedByGate(ctx, plan),
  });
  const { result, report } = analysis;
  ctx.opts.onReport?.(report);
  for (const w of result.warnings) ctx.logger.warn(w);
  const patch: RunPatch = {
    decision: result.decision,
    pending: analysis.pending,
    override: result.override,
    warnings: result.warnings,
  };
  return { ...analysis, server, patch };
}

/** A decision that ends the run before anything is dumped or run: blocked, or a code rollback. */
export async function endsHere(ctx: RunContext, plan: Plan, d: Decided): Promise<RunResult | undefined> {
  const { result, report } = d;
  const base = { runId: ctx.runId, summary: result.summary, nextSteps: result.nextSteps, report };
  if (result.outcome === 'blocked') {
    // The CLI prints the summary and next steps; the log keeps one line for the record.
    ctx.logger.error(result.summary);
    await finish(ctx, 'blocked', { ...d.patch, reachedRevisions: plan.current, error: result.summary });
    return { outcome: 'blocked', ...base };
  }
  if (result.outcome === 'code-rollback') {
    ctx.logger.warn(result.summary);
    await finish(ctx, 'code-rollback', { ...d.patch, reachedRevisions: plan.current });
    return { outcome: 'code-rollback', ...base };
  }
  ctx.logger.info(result.summary);
  return undefined;
}

/** The optional rehearsal; a result when it failed (the run is blocked), undefined when it passed. */
export async function rehearseStep(ctx: RunContext, plan: Plan, d: Decided): Promise<RunResult | undefined> {
  const { rehearseBeforeRun } = await import('../../rehearse/rehearse.js');
  const rehearsal = await rehearseBeforeRun({
    settings: ctx.settings,
    cwd: ctx.opts.cwd,
    logger: ctx.logger,
    signal: ctx.signal,
  });
  if (rehearsal.passed) {
    ctx.logger.info(rehearsal.summary);
    return undefined;
  }
  ctx.logger.error(rehearsal.summary);
  await finish(ctx, 'blocked', { ...d.patch, reachedRevisions: plan.current, error: rehearsal.summary });
  return {
    outcome: 'blocked',
    runId: ctx.runId,
    summary: rehearsal.summary,
    nextSteps: rehearsal.nextSteps,
    report: d.report,
  };
}
