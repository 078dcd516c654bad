/** Shared by `restore` and `rollback`: the safety dump taken before either changes production. */
import type pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { serverVersion } from '../db/catalog.js';
import { redact, type DbTarget } from '../db/connect.js';
import { updateRun, type RunDump } from '../db/history.js';
import { ConfigError, FailedError, GateError } from '../errors.js';
import { acquireGateLock, type GateLock } from '../db/lock.js';
import { takeVerifiedSafetyDump } from '../gate/safety-dump.js';
import { settleEarlierRuns } from '../gate/settle.js';
import type { DumpMaker } from '../storage/target.js';

export type Say = (line: string) => void;

/** Restore and rollback change production: both need somewhere to put the "before" dump. */
export function requireDumpTarget(settings: Settings, command: string): string {
  if (!settings.dumpTarget) {
    throw new ConfigError(
      `${command} takes a safety dump of the current state first, but MIGRATION_GATE_DUMP_TARGET is not set: set it to s3://bucket/prefix or file:///dir and re-run`,
    );
  }
  return settings.dumpTarget;
}

export async function safetyDumpBefore(args: {
  settings: Settings;
  render: RenderEnv;
  target: DbTarget;
  client: pg.Client;
  current: string[];
  next: string[];
  say: Say;
  signal?: AbortSignal;
  /** Provenance: which command takes the dump, and its history run. */
  madeBy: DumpMaker;
  runId: number;
}): Promise<RunDump> {
  requireDumpTarget(args.settings, 'this command');
  const secrets = args.target.password ? [args.target.password] : [];
  return takeVerifiedSafetyDump({
    settings: args.settings,
    render: args.render,
    target: args.target,
    server: await serverVersion(args.client),
    current: args.current,
    next: args.next,
    info: args.say,
    warn: args.say,
    scrub: (text) => redact(text, secrets),
    signal: args.signal,
    madeBy: args.madeBy,
    runId: args.runId,
  });
}

/**
 * The end of a failed restore or rollback: record it in history unless the failure path already did,
 * and return the typed error to throw (unexpected errors become a one-line FailedError, redacted).
 */
export async function failedRun(args: {
  client: pg.Client;
  schema: string;
  runId: number;
  recorded: boolean;
  command: string;
  err: unknown;
  signal?: AbortSignal;
  scrub: (text: string) => string;
}): Promise<GateError> {
  const message = args.scrub(args.err instanceof Error ? args.err.message : String(args.err));
  if (args.runId && !args.recorded) {
    await updateRun(args.client, args.schema, args.runId, {
      outcome: args.signal?.aborted ? 'interrupted' : 'failed',
      finishedAt: new Date(),
      error: message,
    }).catch(() => undefined);
  }
  if (args.err instanceof GateError) return args.err;
  return new FailedError(`${args.command} failed: ${message}`, [], { cause: args.err });
}

/** What restore and rollback need to take the gate lock the way `run` does. */
export interface LockingContext {
  settings: Settings;
  client: pg.Client;
  opts: { say: Say; signal?: AbortSignal };
  scrub: (text: string) => string;
  versionTable: { table: string; schema?: string };
}

/**
 * The gate lock, then the earlier runs settled (a row left `running` by a killed process closed as
 * interrupted, an orphaned migration session waited for): production is changed by one command at a
 * time, and never while a dead run's migration is still in flight.
 */
export async function lockAndSettle(ctx: LockingContext, runId: number): Promise<GateLock> {
  const { settings, client, opts } = ctx;
  const lock = await acquireGateLock(client, { waitMs: settings.lockWaitMs, signal: opts.signal });
  await settleEarlierRuns({
    client,
    schema: settings.historySchema,
    versionTable: ctx.versionTable,
    runId,
    waitMs: settings.lockWaitMs,
    warn: opts.say,
    scrub: ctx.scrub,
    signal: opts.signal,
  });
  return lock;
}
