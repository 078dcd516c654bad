/**
 * What every step of `rehearse` shares: the options, the loaded project, the secrets to scrub, what
 * must be undone at the end, and the step runner (the same one `restore` and `rollback` use) that
 * times each step in the log and remembers which one failed.
 */
import type pg from 'pg';
import type { Settings } from '../config/settings.js';
import { redact, type DbTarget } from '../db/connect.js';
import { BlockedError, ConfigError, FailedError, GateError } from '../errors.js';
import type { RevisionGraph } from '../alembic/graph.js';
import { RecoverySteps } from '../rollback/steps.js';
import type { RehearsalStep, RehearseOptions } from './model.js';
import type { ScratchDatabase } from './scratch.js';
import type { DumpSource } from './source.js';

export interface RehearsalContext {
  readonly opts: RehearseOptions;
  readonly settings: Settings;
  readonly signal?: AbortSignal;
  readonly started: number;
  log(line: string): void;
  readonly steps: RecoverySteps<RehearsalStep>;
  /** Each finished step and its time, for the report. */
  readonly timings: Array<{ step: RehearsalStep; durationMs: number }>;
  /** The first step that threw (with dump and scratch running together, "current" is not enough). */
  failedStep?: RehearsalStep;
  /** Set by preflight. */
  iniPath: string;
  graph: RevisionGraph;
  heads: string[];
  jobs: number;
  production?: DbTarget;
  /** Passwords that must never reach a message (production's, then the scratch server's). */
  readonly secrets: string[];
  scrub(text: string): string;
  /** Undone in reverse order at cleanup (temporary dump, probe connection). */
  readonly cleanups: Array<() => Promise<void>>;
  source?: DumpSource;
  scratch?: ScratchDatabase;
  /** The probe connection to the scratch database (locks, sizes, revisions). */
  client?: pg.Client;
  /** --keep: the scratch database survives cleanup. */
  kept: boolean;
}

export function newContext(opts: RehearseOptions): RehearsalContext {
  const secrets: string[] = [];
  const log = (line: string) => void opts.logger?.info(line);
  return {
    opts,
    settings: opts.settings,
    signal: opts.signal,
    started: Date.now(),
    log,
    steps: new RecoverySteps<RehearsalStep>(log),
    timings: [],
    iniPath: '',
    graph: undefined as unknown as RevisionGraph,
    heads: [],
    jobs: 1,
    secrets,
    scrub: (text) => redact(text, secrets),
    cleanups: [],
    kept: false,
  };
}

/** Runs one named step: timed in the log and the report; the first failure is remembered. */
export async function step<T>(ctx: RehearsalContext, name: RehearsalStep, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const result = await ctx.steps.run(name, fn);
    ctx.timings.push({ step: name, durationMs: Math.round(performance.now() - t0) });
    return result;
  } catch (err) {
    ctx.failedStep ??= name;
    throw err;
  }
}

export function interrupted(at?: RehearsalStep): FailedError {
  return new FailedError(
    `rehearsal interrupted (signal)${at ? ` during ${at}` : ''}: the scratch database was dropped; production was not touched`,
  );
}

/** Throws the interruption when the operator pressed Ctrl-C (checked between the parts of a step). */
export function checkAborted(ctx: RehearsalContext): void {
  if (ctx.signal?.aborted) throw interrupted(ctx.steps.current ?? undefined);
}

/**
 * The error a failed rehearsal ends with: the step it failed at, then the cause (which already says
 * what to do). The kind is kept, so the exit code still tells configuration from failure.
 */
export function failedAt(ctx: RehearsalContext, err: unknown): GateError {
  const at = ctx.failedStep ?? ctx.steps.current ?? undefined;
  if (ctx.signal?.aborted) return interrupted(at);
  const message = ctx.scrub(err instanceof Error ? err.message : String(err));
  const where = at ? ` at: ${at}` : '';
  if (err instanceof GateError) {
    const text = `rehearsal failed${where}: ${message}`;
    if (err.kind === 'config') return new ConfigError(text, err.details, { cause: err });
    if (err.kind === 'blocked') return new BlockedError(text, err.details, { cause: err });
    return new FailedError(text, err.details, { cause: err });
  }
  return new FailedError(
    `rehearsal failed${where}: ${message}; this looks like a bug in migration-gate: please report it with the log above`,
    [],
    { cause: err },
  );
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function tailPush(list: string[], line: string, max = 200): void {
  list.push(line);
  if (list.length > max) list.shift();
}
