/**
 * The part of `run` past the no-op path: decide, (rehearse), dump, upgrade, verify-head, record.
 * Imported only when something is pending, so the no-op path never loads the classifier or the runner.
 */
import type { RunResult } from '../run.js';
import { finish, revisionsText, type RunContext } from './context.js';
import { decideStep, endsHere, rehearseStep } from './decide.js';
import { dumpStep } from './dump.js';
import { preflightStep } from './preflight.js';
import type { Plan } from './start.js';
import { upgradeStep, verifyHeadStep } from './upgrade.js';

export async function migratePipeline(ctx: RunContext, plan: Plan): Promise<RunResult> {
  const { steps, settings } = ctx;
  const d = await steps.run('decide', () => decideStep(ctx, plan), { persist: true });
  const ended = await endsHere(ctx, plan, d);
  if (ended) return ended;
  if (settings.rehearseBeforeRun && d.result.outcome === 'migrate') {
    const blocked = await steps.run('rehearse', () => rehearseStep(ctx, plan, d), { persist: true });
    if (blocked) return blocked;
  }
  // Whatever would fail after the dump is checked before it: nothing is written when it fails.
  await steps.run('preflight', () => preflightStep(ctx, plan, d), { persist: true });
  // With the Render API: recovery status and maintenance recorded (and required, by setting) before the dump.
  const pitr = await import('../../render/pitr.js');
  const recovery = await steps.run('recovery', () => pitr.recoveryStep(ctx), { persist: true });
  const dump = await steps.run('dump', () => dumpStep(ctx, plan, d), { persist: true });
  const { report } = d;
  if (d.result.outcome === 'noop') {
    await steps.run('record', () => finish(ctx, 'noop', { reachedRevisions: plan.current }));
    return { outcome: 'noop', runId: ctx.runId, summary: d.result.summary, nextSteps: [], report, dump };
  }
  await pitr.markUpgradeStart(ctx, recovery);
  const upgradeMs = await steps.run('upgrade', () => upgradeStep(ctx, plan, d, dump), { persist: true });
  const reached = await steps.run('verify-head', () => verifyHeadStep(ctx, plan, upgradeMs));
  const dumpText = dump
    ? `; safety dump ${dump.location} (${dump.bytes} bytes, sha256 ${dump.sha256.slice(0, 12)}…)`
    : '';
  const summary = `Migrated ${revisionsText(plan.current)} -> ${reached.join(', ')} in ${(upgradeMs / 1000).toFixed(1)}s${dumpText}.`;
  await steps.run('record', () => finish(ctx, 'migrated', { reachedRevisions: reached, upgradeMs }));
  return { outcome: 'migrated', runId: ctx.runId, summary, nextSteps: [], report, dump };
}
