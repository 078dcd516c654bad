/**
 * `run`'s preflight: everything that would make the deploy fail *after* its safety dump, checked before
 * it, in parallel, and reported together (one message listing every problem, nothing dumped or run).
 * Each check returns its problems rather than throwing, so one failure never hides another.
 */
import path from 'node:path';
import { failureLine, runAlembic } from '../alembic/runner.js';
import type { Settings } from '../config/settings.js';
import { checkDumpCompatible, pgToolVersion } from '../db/dump.js';
import { ConfigError, FailedError, GateError } from '../errors.js';
import { openDumpTarget } from '../storage/index.js';

import type { PreflightProblem } from './version-rows.js';

export { versionRowProblems, type PreflightProblem } from './version-rows.js';

/**
 * pg_dump's custom format over pg_database_size: about 0.11 measured on a 177 MB database of text,
 * jsonb and indexes (20 MB dump). Doubled and more as a margin, since indexes and bloat vary.
 */
export const DUMP_SIZE_RATIO = 0.25;

export function estimateDumpBytes(databaseBytes: number): number {
  return Math.ceil(databaseBytes * DUMP_SIZE_RATIO);
}

function problemOf(err: unknown, scrub: (s: string) => string): PreflightProblem {
  const text = scrub(err instanceof Error ? err.message : String(err));
  return { kind: err instanceof ConfigError ? 'config' : 'failed', text };
}

/** Runs every check at once; resolves with all their problems (a check that throws is one problem). */
export async function collectProblems(
  checks: Array<() => Promise<PreflightProblem[]>>,
  scrub: (s: string) => string,
): Promise<PreflightProblem[]> {
  const results = await Promise.all(checks.map((c) => c().catch((err: unknown) => [problemOf(err, scrub)])));
  return results.flat();
}

/** One error for all the problems: a configuration error only when every problem is one. */
export function preflightError(problems: PreflightProblem[]): GateError {
  const tail = 'nothing was dumped or run; fix this and re-deploy';
  const message =
    problems.length === 1
      ? `${problems[0]!.text} (preflight: ${tail})`
      : `preflight found ${problems.length} problems before the safety dump (${tail}): ${problems
          .map((p, i) => `(${i + 1}) ${p.text}`)
          .join('; ')}`;
  return problems.every((p) => p.kind === 'config') ? new ConfigError(message) : new FailedError(message);
}

export interface AlembicCheckInput {
  settings: Settings;
  cwd: string;
  /** The environment the upgrade gets (DATABASE_URL, PGAPPNAME). */
  env: Record<string, string | undefined>;
  scrub: (s: string) => string;
  signal?: AbortSignal;
  serverVersionNum?: number;
}

async function alembic(input: AlembicCheckInput, args: string[]) {
  const { settings } = input;
  return runAlembic(args, {
    command: settings.alembic,
    iniPath: path.resolve(input.cwd, settings.alembicConfig),
    cwd: input.cwd,
    env: input.env,
    lockTimeout: settings.lockTimeout,
    statementTimeout: settings.statementTimeout,
    serverVersionNum: input.serverVersionNum,
    signal: input.signal,
  }).done;
}

/**
 * Alembic starts and env.py imports and connects (`current`: it runs env.py online and only reads the
 * version table), with the same command and environment as the upgrade.
 */
export async function checkAlembic(input: AlembicCheckInput): Promise<PreflightProblem[]> {
  // One Python start on the usual path: `current` working proves Alembic starts too.
  const current = await alembic(input, ['current']);
  if (current.exitCode === 0) return [];
  // It failed: a broken Alembic install and a broken env.py need different fixes.
  const version = await alembic(input, ['--version']);
  if (version.exitCode !== 0) {
    return [
      {
        kind: 'failed',
        text: `'${input.settings.alembic} --version' failed (exit ${version.exitCode}): ${input.scrub(failureLine(version.tail))}; check MIGRATION_GATE_ALEMBIC points at a working Alembic (e.g. .venv/bin/alembic)`,
      },
    ];
  }
  return [
    {
      kind: 'failed',
      text: `'alembic current' failed (exit ${current.exitCode}): ${input.scrub(failureLine(current.tail))}; env.py could not be imported or could not connect with DATABASE_URL, and the upgrade would fail the same way: run \`alembic current\` locally to see the traceback`,
    },
  ];
}

/** pg_dump and pg_restore exist and are at least the server's major version. */
export async function checkPgTools(settings: Settings, serverNum: number): Promise<PreflightProblem[]> {
  const serverMajor = Math.floor(serverNum / 10000);
  const checks = [settings.pgDump, settings.pgRestore].map((bin, i) => async () => {
    const v = await pgToolVersion(bin, serverMajor);
    if (i === 0) checkDumpCompatible(v.major, serverNum, v.text);
    else if (v.major < serverMajor) {
      throw new FailedError(
        `pg_restore ${v.text} is older than the PostgreSQL ${serverMajor} server, so the dump could not be verified or restored: install postgresql-client-${serverMajor} and point MIGRATION_GATE_PG_RESTORE at it`,
      );
    }
    return [];
  });
  return collectProblems(checks, (s) => s);
}

/** The dump target takes a write (and, for a directory, has room for the estimated dump). */
export async function checkDumpTarget(
  settings: Settings,
  estimatedBytes: number,
): Promise<PreflightProblem[]> {
  const sink = await openDumpTarget(settings.dumpTarget!);
  await sink.preflight({ estimatedBytes, writeProbe: true });
  return [];
}
