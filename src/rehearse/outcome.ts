/** The `report` step: the outcome and its one-line summary, and how to reach a kept scratch database. */
import { readCurrentRevisions } from '../db/version.js';
import { redact } from '../db/connect.js';
import { seconds, type RehearsalContext } from './context.js';
import type {
  MigrationRehearsal,
  RehearsalOutcome,
  RehearsalReport,
  RehearsalStep,
  RoundtripResult,
  SmokeResult,
} from './model.js';
import { versionOptions, type RehearsalPlan } from './prepare.js';

export interface RehearsalFindings {
  plan: RehearsalPlan;
  restore: { durationMs: number; warnings: string[] };
  migrations: MigrationRehearsal[];
  smoke?: SmokeResult;
  roundtrip?: RoundtripResult;
}

const NOT_TOUCHED = 'Production was not touched.';

function judge(
  f: RehearsalFindings,
  reached: string[],
): { outcome: RehearsalOutcome; summary: string; failedStep?: RehearsalStep } {
  const { from, pending } = f.plan;
  const failed = f.migrations.find((m) => !m.ok);
  if (failed) {
    const statement = failed.error!.statement
      ? ` (statement: ${failed.error!.statement.split('\n')[0]})`
      : '';
    return {
      outcome: 'migration-failed',
      failedStep: 'upgrade',
      summary: `Rehearsal FAILED at: upgrade: ${failed.revision} failed on the scratch copy after ${seconds(failed.durationMs)}: ${failed.error!.message}${statement}. Fix the migration and rehearse again. ${NOT_TOUCHED}`,
    };
  }
  if (pending.length === 0) {
    return {
      outcome: 'nothing-pending',
      summary: `Nothing pending: the dump is at ${from.join(', ') || 'base'}, the code's head. Nothing was rehearsed.`,
    };
  }
  const applied = `${pending.length} migration${pending.length > 1 ? 's' : ''} (${from.join(', ') || 'base'} -> ${reached.join(', ')})`;
  if (f.smoke && !f.smoke.passed) {
    return {
      outcome: 'smoke-failed',
      failedStep: 'smoke',
      summary: `Rehearsal FAILED at: smoke: ${applied} applied, but the smoke command exited ${f.smoke.exitCode}; see its output below. ${NOT_TOUCHED}`,
    };
  }
  const rt = f.roundtrip;
  if (rt && !rt.passed) {
    const why = rt.error
      ? `failed: ${rt.error}`
      : `does not undo the upgrade (${rt.diff.length} schema line(s) differ)`;
    return {
      outcome: 'roundtrip-failed',
      failedStep: 'roundtrip',
      summary: `Rehearsal FAILED at: roundtrip: ${applied} applied, but the downgrade to ${rt.downgradeTo} ${why}. Fix the downgrade before relying on it for a rollback. ${NOT_TOUCHED}`,
    };
  }
  const took = f.migrations.reduce((s, m) => s + m.durationMs, 0);
  return {
    outcome: 'passed',
    summary: `Rehearsal passed: ${applied} in ${seconds(took)} on a copy restored in ${seconds(f.restore.durationMs)}.`,
  };
}

export async function reportStep(ctx: RehearsalContext, f: RehearsalFindings): Promise<RehearsalReport> {
  const reached = await readCurrentRevisions(ctx.client!, versionOptions(ctx));
  const verdict = judge(f, reached);
  const source = ctx.source!;
  const sc = ctx.scratch!;
  ctx.kept = ctx.opts.keep === true;
  return {
    passed: verdict.outcome === 'passed' || verdict.outcome === 'nothing-pending',
    outcome: verdict.outcome,
    summary: verdict.summary,
    ...(verdict.failedStep ? { failedStep: verdict.failedStep } : {}),
    source: {
      kind: source.kind,
      description: source.description,
      bytes: source.bytes,
      durationMs: source.durationMs,
    },
    scratch: {
      kind: sc.kind,
      server: sc.server,
      database: sc.name,
      kept: ctx.kept,
      ...(ctx.kept ? { connect: connectHint(ctx) } : {}),
    },
    restore: {
      durationMs: f.restore.durationMs,
      jobs: ctx.jobs,
      streamed: ctx.source?.kind === 'fresh' && ctx.source.file === '',
      warnings: f.restore.warnings,
    },
    fromRevisions: f.plan.from,
    targetRevisions: ctx.heads,
    reachedRevisions: reached,
    migrations: f.migrations,
    ...(f.smoke ? { smoke: f.smoke } : {}),
    ...(f.roundtrip ? { roundtrip: f.roundtrip } : {}),
    steps: [...ctx.timings],
    totalMs: Date.now() - ctx.started,
  };
}

/** --keep: how to connect to the scratch database and how to get rid of it afterwards. */
function connectHint(ctx: RehearsalContext): string {
  const sc = ctx.scratch!;
  if (sc.kind === 'local-cluster' && sc.cluster) {
    const c = sc.cluster;
    const as = process.getuid?.() === 0 ? 'runuser -u postgres -- ' : '';
    return `PGPASSWORD='${c.password}' psql -h ${c.host} -p ${c.port} -U ${c.user} -d ${sc.name}; stop the throwaway cluster afterwards with: ${as}${c.binDir}/pg_ctl -D ${c.dataDir} stop && rm -rf ${c.dir}`;
  }
  return `psql "${redact(sc.url, ctx.secrets)}" (with the REHEARSAL_DATABASE_URL password); drop it afterwards with DROP DATABASE ${sc.name}`;
}
