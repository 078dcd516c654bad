/**
 * What every step of `run` shares: the settings, the gate's connection, the history row, and a tiny step
 * runner. The runner names the step in progress (for the log, the history row and `/status`) and times it,
 * so a failure says where it happened ("failed at: dump") without each step having to.
 */
import type pg from 'pg';
import type { RenderEnv, Settings } from '../../config/settings.js';
import type { DbTarget } from '../../db/connect.js';
import { updateRun, type RunOutcome, type RunPatch } from '../../db/history.js';
import type { GateLock } from '../../db/lock.js';
import type { Logger } from '../../log.js';
import type { CheckReport } from '../../report/model.js';

/** The steps of `run`, in order. The same names appear in the log, the history row and `/status`. */
export type StepName =
  | 'connect'
  | 'record-start'
  | 'lock'
  | 'settle'
  | 'read-versions'
  | 'load'
  | 'decide'
  | 'rehearse'
  | 'preflight'
  | 'recovery'
  | 'dump'
  | 'upgrade'
  | 'verify-head'
  | 'record';

export interface StepOptions {
  /** Write the step to the history row as it starts (long steps, so `/status` shows them while they run). */
  persist?: boolean;
}

export class StepRunner {
  /** The step in progress, or the last one that ran. */
  current: StepName | null = null;
  /** Set once the history row exists; writes the step to it. */
  persist: (step: StepName) => Promise<void> = async () => undefined;

  constructor(private readonly logger: Logger) {}

  async run<T>(name: StepName, fn: () => Promise<T>, options: StepOptions = {}): Promise<T> {
    this.current = name;
    const t0 = performance.now();
    const took = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
    this.logger.debug(`step ${name}: started`);
    try {
      if (options.persist) await this.persist(name);
      const result = await fn();
      this.logger.info(`step ${name}: ${took()}`);
      return result;
    } catch (err) {
      this.logger.info(`step ${name}: failed after ${took()}`);
      throw err;
    }
  }
}

/** Inputs of a run, as the CLI gives them (see run.ts). */
export interface RunInputs {
  settings: Settings;
  render: RenderEnv;
  logger: Logger;
  /** Where ALEMBIC_CONFIG is resolved from and alembic runs. */
  cwd: string;
  /** Aborted on SIGTERM/SIGINT: the running child gets the signal, the run is recorded as interrupted. */
  signal?: AbortSignal;
  /** Called with the classification report before anything runs (the CLI prints it). */
  onReport?: (report: CheckReport) => void;
  now?: () => Date;
}

export interface RunContext {
  readonly opts: RunInputs;
  readonly settings: Settings;
  readonly render: RenderEnv;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  readonly now: () => Date;
  readonly started: Date;
  readonly target: DbTarget;
  /** Secret values (the database password) that must never reach a message. */
  readonly secrets: string[];
  scrub(text: string): string;
  readonly steps: StepRunner;
  readonly client: pg.Client;
  /** The history row; 0 until record-start has written it. */
  runId: number;
  lock?: GateLock;
}

/** Updates the history row (with the current step). A failed write is logged, never fatal. */
export async function record(ctx: RunContext, patch: RunPatch): Promise<void> {
  if (!ctx.runId) return;
  try {
    await updateRun(ctx.client, ctx.settings.historySchema, ctx.runId, {
      ...patch,
      ...(ctx.steps.current ? { step: ctx.steps.current } : {}),
    });
  } catch (err) {
    ctx.logger.error(
      `could not write the run record: ${ctx.scrub(err instanceof Error ? err.message : String(err))}`,
    );
  }
}

/** Closes the history row with its outcome and duration. */
export async function finish(ctx: RunContext, outcome: RunOutcome, patch: RunPatch = {}): Promise<void> {
  const end = ctx.now();
  await record(ctx, {
    ...patch,
    outcome,
    finishedAt: end,
    durationMs: end.getTime() - ctx.started.getTime(),
  });
}

export function versionTable(settings: Settings): { table: string; schema?: string } {
  return { table: settings.versionTable, schema: settings.versionTableSchema };
}

export function revisionsText(revisions: string[]): string {
  return revisions.join(', ') || 'base';
}
