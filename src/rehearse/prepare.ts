/**
 * The steps that build the scratch copy: preflight (project and settings), dump and scratch (at the
 * same time), restore (pg_restore -j), analyze, plan (where the copy is, what is pending).
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { connect, parseDatabaseUrl } from '../db/connect.js';
import { readCurrentRevisions } from '../db/version.js';
import { ConfigError } from '../errors.js';
import { loadProject } from '../gate/project.js';
import type { MigrationScript } from '../types.js';
import { checkAborted, seconds, step, type RehearsalContext } from './context.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch.js';
import { resolveDumpSource, type DumpSource } from './source.js';
import { restoreWarnings } from './stream.js';

/** The project loads without graph problems and the settings allow this kind of rehearsal. */
export async function preflightStep(ctx: RehearsalContext): Promise<void> {
  const { opts, settings } = ctx;
  if (opts.requireServer && !settings.rehearsalDatabaseUrl) {
    throw new ConfigError(
      'MIGRATION_GATE_REHEARSE_BEFORE_RUN=true needs REHEARSAL_DATABASE_URL: a server where the gate may create and drop a scratch database',
    );
  }
  ctx.iniPath = path.resolve(opts.cwd, settings.alembicConfig);
  const loaded = await loadProject(ctx.iniPath);
  const problem = loaded.graphProblems[0];
  if (problem) throw new ConfigError(`cannot rehearse: ${problem.message}; ${problem.hint}`);
  ctx.graph = loaded.graph;
  ctx.heads = loaded.graph.heads;
  ctx.jobs = Math.max(1, opts.jobs ?? availableParallelism());
  if (settings.databaseUrl) {
    ctx.production = parseDatabaseUrl(settings.databaseUrl);
    if (ctx.production.password) ctx.secrets.push(ctx.production.password);
  }
}

/**
 * `dump` and `scratch` side by side: initdb and the server start (or CREATE DATABASE) cost nothing
 * extra while pg_dump streams. When one fails the other is cancelled, and whatever it made is still
 * cleaned up.
 */
export async function dumpAndScratchSteps(ctx: RehearsalContext): Promise<void> {
  const sibling = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, sibling.signal]) : sibling.signal;
  const settle = <T>(p: Promise<T>) =>
    p.catch((err: unknown) => {
      sibling.abort();
      throw err;
    });
  const [source, scratch] = await Promise.allSettled([
    settle(step(ctx, 'dump', () => dumpStep(ctx, signal))),
    settle(step(ctx, 'scratch', () => scratchStep(ctx, signal))),
  ]);
  if (source.status === 'fulfilled') {
    ctx.source = source.value;
    ctx.cleanups.push(source.value.cleanup);
  }
  if (scratch.status === 'fulfilled') ctx.scratch = scratch.value;
  // The first failure is the cause; the other step's is only the cancellation it caused.
  const first = ctx.failedStep === 'scratch' ? [scratch, source] : [source, scratch];
  for (const r of first) if (r.status === 'rejected') throw r.reason;
  checkAborted(ctx);
}

function dumpStep(ctx: RehearsalContext, signal: AbortSignal): Promise<DumpSource> {
  return resolveDumpSource({
    dump: ctx.opts.dump,
    dumpTargetUrl: ctx.settings.dumpTarget,
    database: ctx.production,
    pgDump: ctx.settings.pgDump,
    signal,
    log: ctx.log,
  });
}

export async function scratchStep(ctx: RehearsalContext, signal: AbortSignal): Promise<ScratchDatabase> {
  const sc = await createScratchDatabase({
    rehearsalUrl: ctx.settings.rehearsalDatabaseUrl,
    connectTimeoutMs: ctx.settings.connectTimeoutMs,
    signal,
    log: ctx.log,
  });
  if (sc.target.password) ctx.secrets.push(sc.target.password);
  ctx.log(
    `Scratch database ${sc.name} on ${sc.server} (${sc.kind === 'local-cluster' ? 'throwaway local cluster' : 'REHEARSAL_DATABASE_URL'}).`,
  );
  return sc;
}

/**
 * pg_restore -j into the scratch database: the closest copy of production we can get, owners and
 * grants left out (other roles). Returns the errors pg_restore went on after (a missing extension or
 * role: the copy is usable but not exact).
 */
export async function restoreStep(ctx: RehearsalContext): Promise<string[]> {
  const { settings } = ctx;
  const sc = ctx.scratch!;
  const source = ctx.source!;
  ctx.log(`Restoring ${source.description} with pg_restore -j ${ctx.jobs}.`);
  const restored = await execa(
    settings.pgRestore,
    ['--no-owner', '--no-acl', '--no-password', `--jobs=${ctx.jobs}`, `--dbname=${sc.name}`, source.file],
    {
      env: { LC_ALL: 'C', ...sc.target.libpqEnv() },
      reject: false,
      stdin: 'ignore',
      cancelSignal: ctx.signal,
    },
  );
  checkAborted(ctx);
  return restoreWarnings(ctx, restored);
}

/**
 * The probe connection, and planner statistics so the migration plans as it would on production.
 * A small sample is enough and keeps a 1 GiB restore from paying for a full-size ANALYZE.
 */
export async function analyzeStep(ctx: RehearsalContext): Promise<void> {
  const client = await connect(ctx.scratch!.target, {
    connectTimeoutMs: ctx.settings.connectTimeoutMs,
    applicationName: 'migration-gate rehearse probe',
  });
  ctx.client = client;
  ctx.cleanups.push(() => client.end().catch(() => undefined));
  await client.query('SET default_statistics_target = 10');
  await client.query('ANALYZE');
  await client.query('RESET default_statistics_target');
}

export interface RehearsalPlan {
  from: string[];
  pending: MigrationScript[];
}

/** The revision the copy is at, and the migrations between it and the code's heads. */
export async function planStep(ctx: RehearsalContext): Promise<RehearsalPlan> {
  const from = await readCurrentRevisions(ctx.client!, versionOptions(ctx));
  const unknown = ctx.graph.unknown(from);
  if (unknown.length > 0) {
    throw new ConfigError(
      `the dump is at revision ${unknown.join(', ')}, which no migration file defines: rehearse with the code that matches the dump`,
    );
  }
  const pending = ctx.graph.pending(from, ctx.heads);
  ctx.log(
    pending.length === 0
      ? `The copy is at ${from.join(', ') || 'base'}: nothing pending.`
      : `The copy is at ${from.join(', ') || 'base'}: ${pending.length} migration(s) pending.`,
  );
  return { from, pending };
}

export function versionOptions(ctx: RehearsalContext): { table: string; schema?: string } {
  return { table: ctx.settings.versionTable, schema: ctx.settings.versionTableSchema };
}

export function restoredLine(ms: number, warnings: string[]): string {
  return `Restored in ${seconds(ms)}${warnings.length ? ` with ${warnings.length} error(s) pg_restore skipped` : ''}.`;
}
