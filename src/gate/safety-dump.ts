/**
 * The safety dump before anything changes production (run, restore, rollback): pg_dump compatible
 * with the server, streamed to the dump target, verified, then old dumps pruned by the retention
 * settings. One implementation so every path keeps the same guarantees.
 */
import type { RenderEnv, Settings } from '../config/settings.js';
import { describeTarget, type DbTarget } from '../db/connect.js';
import { checkDumpCompatible, pgToolVersion, takeSafetyDump } from '../db/dump.js';
import type { RunDump } from '../db/history.js';
import { describeClient } from '../pgclient/discover.js';
import { formatProgress, PROGRESS_EVERY_MS } from '../progress.js';
import { openDumpTarget } from '../storage/index.js';
import { dumpObjectName } from '../storage/naming.js';
import { dumpPurpose } from '../storage/provenance.js';
import { pruneDumps } from '../storage/retention.js';
import type { DumpMaker, DumpTarget } from '../storage/target.js';

export interface SafetyDumpArgs {
  settings: Settings;
  render: RenderEnv;
  target: DbTarget;
  server: { num: number; text: string };
  /** Revisions before and after the change, for the dump's name and metadata. */
  current: string[];
  next: string[];
  info: (line: string) => void;
  warn: (line: string) => void;
  scrub: (text: string) => string;
  signal?: AbortSignal;
  now?: () => Date;
  /** pg_database_size of the database, for the progress lines' estimate (an upper bound for the dump). */
  databaseBytes?: number;
  /** Provenance: the command taking the dump (default `run`) and its history run id. */
  madeBy?: DumpMaker;
  runId?: number;
  /** Default: dumpPurpose(madeBy, runId, current, next), e.g. "before deploy #12: a -> b". */
  purpose?: string;
  /** When the caller took the gate lock: leftovers older than this are a killed run's (default: now). */
  lockedSince?: Date;
}

/** Partial files / incomplete uploads of a killed run: removed under the lock, before the new dump. */
async function sweepLeftovers(sink: DumpTarget, olderThan: Date, args: SafetyDumpArgs): Promise<void> {
  const swept = await sink.sweep(olderThan);
  for (const item of swept.removed)
    args.info(`Removed a partial dump left by an earlier, interrupted run: ${item}.`);
  for (const f of swept.failed) args.warn(args.scrub(f.message));
}

async function applyRetention(
  sink: DumpTarget,
  settings: Settings,
  now: Date,
  keepId: string,
  args: SafetyDumpArgs,
): Promise<void> {
  if (settings.dumpKeepLast === undefined && settings.dumpKeepDays === undefined) return;
  const pruned = await pruneDumps(
    sink,
    { keepLast: settings.dumpKeepLast, keepDays: settings.dumpKeepDays, now },
    keepId,
  );
  if (pruned.removed.length > 0) args.info(`Retention: removed ${pruned.removed.length} old dump(s).`);
  for (const f of pruned.failed)
    args.warn(`Retention: could not remove ${f.dump.id}: ${args.scrub(f.error)}`);
}

export async function takeVerifiedSafetyDump(args: SafetyDumpArgs): Promise<RunDump> {
  const { settings, render, target, current, next } = args;
  // MIGRATION_GATE_DUMP_METHOD=render-export|auto may take Render's export instead of pg_dump.
  const exported = await (await import('../render/dump-method.js')).renderExportIfChosen(args);
  if (exported) return exported;
  const sink = await openDumpTarget(settings.dumpTarget!);
  await sink.preflight();
  const pgDump = await pgToolVersion(settings.pgDump);
  checkDumpCompatible(pgDump.major, args.server.num, pgDump.text);
  const createdAt = (args.now ?? (() => new Date()))();
  await sweepLeftovers(sink, args.lockedSince ?? createdAt, args);
  const madeBy = args.madeBy ?? 'run';
  const purpose = args.purpose ?? dumpPurpose(madeBy, args.runId, current, next);
  const name = dumpObjectName({
    service: render.service,
    createdAt,
    fromRevisions: current,
    toRevisions: next,
    commit: render.commit,
  });
  args.info(
    `Taking a safety dump of ${describeTarget(target)} to ${sink.description} (pg_dump ${pgDump.text}: ${describeClient(settings.pgDump, process.env, process.cwd())}).`,
  );
  const dumpStarted = Date.now();
  const res = await takeSafetyDump({
    target,
    sink,
    name,
    meta: {
      service: render.service,
      commit: render.commit,
      fromRevisions: current,
      toRevisions: next,
      pgDumpVersion: pgDump.text,
      serverVersion: args.server.text,
      createdAt,
      madeBy,
      ...(args.runId ? { runId: args.runId } : {}),
      purpose,
    },
    pgDump: settings.pgDump,
    pgRestore: settings.pgRestore,
    // Every 10 s: bytes streamed to the target (uploaded and verified as they go), rate, estimate.
    progressEveryMs: PROGRESS_EVERY_MS,
    onProgress: (p) =>
      args.info(
        formatProgress({
          step: 'dump',
          bytes: p.bytes,
          elapsedMs: Date.now() - dumpStarted,
          ...(args.databaseBytes
            ? { estimate: { bytes: args.databaseBytes, source: 'pg_database_size', upperBound: true } }
            : {}),
          ...(p.table ? { detail: `dumping ${p.table}` } : {}),
        }),
      ),
    signal: args.signal,
    // pg_dump waits for ACCESS SHARE locks; behind an exclusive lock it fails instead of hanging the deploy.
    lockWaitTimeoutMs: settings.dumpLockWaitMs,
  });
  args.info(
    `Safety dump verified: ${res.location}, ${res.bytes} bytes, sha256 ${res.sha256}, ${res.tocEntries} archive entries, ${(res.durationMs / 1000).toFixed(1)}s.`,
  );
  await applyRetention(sink, settings, createdAt, res.id, args);
  return {
    id: res.id,
    location: res.location,
    bytes: res.bytes,
    sha256: res.sha256,
    durationMs: res.durationMs,
    madeBy,
    revisions: current,
    purpose,
    createdAt: createdAt.toISOString(),
  };
}
