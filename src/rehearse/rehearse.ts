/**
 * `rehearse`: runbook steps 2-8 as one command. Restore a dump on a scratch database, run the pending
 * migrations there one revision at a time while watching locks and table sizes from a second
 * connection, optionally run the operator's smoke command and a downgrade roundtrip, then drop the
 * scratch database. Production is only read (pg_dump), never written.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { failureLine, runAlembic } from '../alembic/runner.js';
import type { Settings } from '../config/settings.js';
import { connect, parseDatabaseUrl, redact } from '../db/connect.js';
import { readCurrentRevisions } from '../db/version.js';
import { ConfigError, FailedError } from '../errors.js';
import { loadProject } from '../gate/project.js';
import type { MigrationScript } from '../types.js';
import {
  startLockSampler,
  snapshotTables,
  tableChanges,
  type LockHeld,
  type TableChange,
  type TableStat,
} from './probe.js';
import { dumpSchema, schemaDiff } from './schema.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch.js';
import { resolveDumpSource, type DumpSource } from './source.js';

/** What rehearse logs through: the CLI's winston logger, or anything with these three methods. */
export interface RehearseLogger {
  info(message: string): unknown;
  warn(message: string): unknown;
  error(message: string): unknown;
}

/** application_name of the migration's session (PGAPPNAME), so the lock sampler finds it. */
export const REHEARSAL_APP_NAME = 'migration-gate rehearsal';

export interface MigrationRehearsal {
  revision: string;
  file: string;
  message?: string;
  ok: boolean;
  durationMs: number;
  locks: LockHeld[];
  tables: TableChange[];
  error?: { message: string; statement?: string; output: string[] };
}

export type RehearsalOutcome =
  'passed' | 'nothing-pending' | 'migration-failed' | 'smoke-failed' | 'roundtrip-failed';

export interface RehearsalReport {
  passed: boolean;
  outcome: RehearsalOutcome;
  summary: string;
  source: { kind: DumpSource['kind']; description: string; bytes: number; durationMs: number };
  scratch: {
    kind: ScratchDatabase['kind'];
    server: string;
    database: string;
    kept: boolean;
    connect?: string;
  };
  restore: { durationMs: number; jobs: number; warnings: string[] };
  fromRevisions: string[];
  targetRevisions: string[];
  reachedRevisions: string[];
  migrations: MigrationRehearsal[];
  smoke?: { command: string; exitCode: number; passed: boolean; durationMs: number; output: string[] };
  roundtrip?: {
    passed: boolean;
    downgradeTo: string;
    downgradeMs: number;
    reupgradeMs: number;
    diff: string[];
    error?: string;
  };
  totalMs: number;
}

export interface RehearseOptions {
  settings: Settings;
  /** Where ALEMBIC_CONFIG is resolved from and alembic runs. */
  cwd: string;
  /** `--dump`: a stored dump id, `latest`, or a local file; absent: a fresh pg_dump of DATABASE_URL. */
  dump?: string;
  /** Parallel pg_restore jobs (default: the number of CPUs). */
  jobs?: number;
  keep?: boolean;
  smoke?: string;
  roundtrip?: boolean;
  /** Refuse to start a local cluster (run's precondition uses REHEARSAL_DATABASE_URL only). */
  requireServer?: boolean;
  logger?: RehearseLogger;
  signal?: AbortSignal;
  /** Lock sampling interval (ms). */
  sampleMs?: number;
}

function tailPush(list: string[], line: string, max = 200): void {
  list.push(line);
  if (list.length > max) list.shift();
}

/** The statement SQLAlchemy quotes in its error (`[SQL: ...]`, possibly over several lines). */
export function failingStatement(lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const at = lines[i]!.indexOf('[SQL: ');
    if (at < 0) continue;
    const parts: string[] = [];
    for (let j = i; j < lines.length; j++) {
      const text = j === i ? lines[j]!.slice(at + '[SQL: '.length) : lines[j]!;
      const end = text.trimEnd().endsWith(']');
      parts.push(end ? text.trimEnd().slice(0, -1) : text);
      if (end) break;
    }
    return parts.join('\n').trim();
  }
  return undefined;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export async function rehearse(opts: RehearseOptions): Promise<RehearsalReport> {
  const { settings, signal } = opts;
  const started = Date.now();
  const log = (line: string) => opts.logger?.info(line);
  const iniPath = path.resolve(opts.cwd, settings.alembicConfig);
  const loaded = await loadProject(iniPath);
  if (loaded.graphProblems.length > 0) {
    throw new ConfigError(
      `cannot rehearse: ${loaded.graphProblems[0]!.message}; ${loaded.graphProblems[0]!.hint}`,
    );
  }
  const heads = loaded.graph.heads;
  const jobs = Math.max(1, opts.jobs ?? availableParallelism());
  if (opts.requireServer && !settings.rehearsalDatabaseUrl) {
    throw new ConfigError(
      'MIGRATION_GATE_REHEARSE_BEFORE_RUN=true needs REHEARSAL_DATABASE_URL: a server where the gate may create and drop a scratch database',
    );
  }
  const production = settings.databaseUrl ? parseDatabaseUrl(settings.databaseUrl) : undefined;

  const cleanups: Array<() => Promise<void>> = [];
  let scratch: ScratchDatabase | undefined;
  let kept = false;
  try {
    const source = await resolveDumpSource({
      dump: opts.dump,
      dumpTargetUrl: settings.dumpTarget,
      database: production,
      pgDump: settings.pgDump,
      signal,
      log,
    });
    cleanups.push(source.cleanup);
    if (signal?.aborted) throw interrupted();

    scratch = await createScratchDatabase({
      rehearsalUrl: settings.rehearsalDatabaseUrl,
      connectTimeoutMs: settings.connectTimeoutMs,
      signal,
      log,
    });
    const sc = scratch;
    const secrets = [sc.target.password, production?.password].filter((s): s is string => Boolean(s));
    const scrub = (s: string) => redact(s, secrets);
    log(
      `Scratch database ${sc.name} on ${sc.server} (${sc.kind === 'local-cluster' ? 'throwaway local cluster' : 'REHEARSAL_DATABASE_URL'}).`,
    );
    if (signal?.aborted) throw interrupted();

    // Restore: the closest copy of production we can get, owners and grants left out (other roles).
    const restoreStart = Date.now();
    log(`Restoring ${source.description} with pg_restore -j ${jobs}.`);
    const restored = await execa(
      settings.pgRestore,
      ['--no-owner', '--no-acl', '--no-password', `--jobs=${jobs}`, `--dbname=${sc.name}`, source.file],
      {
        env: { LC_ALL: 'C', ...sc.target.libpqEnv() },
        reject: false,
        stdin: 'ignore',
        cancelSignal: signal,
      },
    );
    if (signal?.aborted) throw interrupted();
    const restoreWarnings: string[] = [];
    if (restored.exitCode !== 0) {
      const code = (restored.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT')
        throw new FailedError(
          `${settings.pgRestore} was not found: apt-get install postgresql-client, or set MIGRATION_GATE_PG_RESTORE`,
        );
      const lines = String(restored.stderr)
        .split('\n')
        .filter((l) => /error/i.test(l));
      if (lines.length === 0)
        throw new FailedError(
          `pg_restore into the scratch database failed (exit ${restored.exitCode}): ${scrub(String(restored.stderr).trim().split('\n').pop() ?? '')}`,
        );
      // pg_restore goes on after an error (a missing extension or role): the copy is usable but not exact.
      for (const l of lines.slice(0, 20)) restoreWarnings.push(scrub(l.trim()));
    }
    const client = await connect(sc.target, {
      connectTimeoutMs: settings.connectTimeoutMs,
      applicationName: 'migration-gate rehearse probe',
    });
    cleanups.push(() => client.end().catch(() => undefined));
    // Row estimates (reltuples) for the report, and planner statistics so the migration plans as it
    // would on production. A small sample is enough for both and keeps a 1 GiB restore from paying
    // for a full-size ANALYZE.
    await client.query('SET default_statistics_target = 10');
    await client.query('ANALYZE');
    await client.query('RESET default_statistics_target');
    const restoreMs = Date.now() - restoreStart;
    log(
      `Restored in ${seconds(restoreMs)}${restoreWarnings.length ? ` with ${restoreWarnings.length} error(s) pg_restore skipped` : ''}.`,
    );

    const versionOpts = { table: settings.versionTable, schema: settings.versionTableSchema };
    const from = await readCurrentRevisions(client, versionOpts);
    const unknown = loaded.graph.unknown(from);
    if (unknown.length > 0) {
      throw new ConfigError(
        `the dump is at revision ${unknown.join(', ')}, which no migration file defines: rehearse with the code that matches the dump`,
      );
    }
    const pending: MigrationScript[] = loaded.graph.pending(from, heads);
    const excludeSchemas = [settings.historySchema];
    const versionTable = settings.versionTableSchema
      ? `${settings.versionTableSchema}.${settings.versionTable}`
      : settings.versionTable;
    const exclude = [versionTable];
    const base: Omit<
      RehearsalReport,
      'passed' | 'outcome' | 'summary' | 'reachedRevisions' | 'migrations' | 'totalMs'
    > = {
      source: {
        kind: source.kind,
        description: source.description,
        bytes: source.bytes,
        durationMs: source.durationMs,
      },
      scratch: { kind: sc.kind, server: sc.server, database: sc.name, kept: false },
      restore: { durationMs: restoreMs, jobs, warnings: restoreWarnings },
      fromRevisions: from,
      targetRevisions: heads,
    };

    const alembicEnv = { DATABASE_URL: sc.target.sqlalchemyUrl, PGAPPNAME: REHEARSAL_APP_NAME };
    const alembic = async (args: string[], output: string[]) => {
      const running = runAlembic(args, {
        command: settings.alembic,
        iniPath,
        cwd: opts.cwd,
        env: alembicEnv,
        statementTimeout: settings.statementTimeout,
        signal,
        onLine: (line) => {
          tailPush(output, scrub(line));
          log(`alembic: ${scrub(line)}`);
        },
      });
      const res = await running.done;
      if (signal?.aborted) throw interrupted();
      return res;
    };

    const migrations: MigrationRehearsal[] = [];
    let snapshot: Map<number, TableStat> = await snapshotTables(client, excludeSchemas);
    const startSchema = opts.roundtrip
      ? await dumpSchema(sc.target, { pgDump: settings.pgDump, excludeSchemas, signal })
      : '';
    let failed: MigrationRehearsal | undefined;
    for (const script of pending) {
      log(
        `Rehearsing ${script.revision}${script.message ? ` (${script.message})` : ''}: alembic upgrade ${script.revision}.`,
      );
      const sampler = startLockSampler(client, REHEARSAL_APP_NAME, exclude, opts.sampleMs ?? 50);
      const output: string[] = [];
      const t0 = Date.now();
      let res: Awaited<ReturnType<typeof alembic>>;
      let locks: LockHeld[] = [];
      try {
        res = await alembic(['upgrade', script.revision], output);
      } finally {
        locks = await sampler.stop();
      }
      const durationMs = Date.now() - t0;
      const after = await snapshotTables(client, excludeSchemas);
      const entry: MigrationRehearsal = {
        revision: script.revision,
        file: script.file,
        ...(script.message ? { message: script.message } : {}),
        ok: res.exitCode === 0,
        durationMs,
        locks,
        tables: tableChanges(
          snapshot,
          after,
          locks.map((l) => l.relation),
          exclude,
        ),
      };
      snapshot = after;
      if (res.exitCode !== 0) {
        const statement = failingStatement(output);
        entry.error = {
          message: scrub(failureLine(res.tail)),
          ...(statement ? { statement: scrub(statement) } : {}),
          output: output.slice(-30),
        };
        migrations.push(entry);
        failed = entry;
        break;
      }
      migrations.push(entry);
      log(`${script.revision} applied in ${seconds(durationMs)}.`);
    }
    const reached = await readCurrentRevisions(client, versionOpts);
    const finish = (
      outcome: RehearsalOutcome,
      summary: string,
      extra: Partial<RehearsalReport> = {},
    ): RehearsalReport => ({
      passed: outcome === 'passed' || outcome === 'nothing-pending',
      outcome,
      summary,
      ...base,
      reachedRevisions: reached,
      migrations,
      totalMs: Date.now() - started,
      ...extra,
    });

    let report: RehearsalReport;
    if (failed) {
      report = finish(
        'migration-failed',
        `Rehearsal FAILED: ${failed.revision} failed on the scratch copy after ${seconds(failed.durationMs)}: ${failed.error!.message}${failed.error!.statement ? ` (statement: ${failed.error!.statement.split('\n')[0]})` : ''}. Production was not touched.`,
      );
    } else if (pending.length === 0) {
      report = finish(
        'nothing-pending',
        `Nothing pending: the dump is at ${from.join(', ') || 'base'}, the code's head. Nothing was rehearsed.`,
      );
    } else {
      let smoke: RehearsalReport['smoke'];
      if (opts.smoke) {
        log(
          `Smoke test: sh -c ${JSON.stringify(opts.smoke)} with DATABASE_URL pointing at the scratch database.`,
        );
        const output: string[] = [];
        const t0 = Date.now();
        // The operator's own command line, run by a shell on purpose.
        const child = execa('sh', ['-c', opts.smoke], {
          cwd: opts.cwd,
          env: { DATABASE_URL: sc.target.sqlalchemyUrl },
          extendEnv: true,
          reject: false,
          stdin: 'ignore',
          all: true,
          buffer: false,
          cancelSignal: signal,
          forceKillAfterDelay: 5000,
        });
        let pendingText = '';
        child.all?.on('data', (chunk: Buffer) => {
          pendingText += chunk.toString('utf8');
          const lines = pendingText.split('\n');
          pendingText = lines.pop() ?? '';
          for (const l of lines) {
            tailPush(output, scrub(l), 40);
            log(`smoke: ${scrub(l)}`);
          }
        });
        const r = await child;
        if (pendingText) tailPush(output, scrub(pendingText), 40);
        if (signal?.aborted) throw interrupted();
        const exitCode = r.exitCode ?? 128;
        smoke = {
          command: opts.smoke,
          exitCode,
          passed: exitCode === 0,
          durationMs: Date.now() - t0,
          output,
        };
      }
      let roundtrip: RehearsalReport['roundtrip'];
      if (opts.roundtrip) roundtrip = await runRoundtrip();
      const applied = `${pending.length} migration${pending.length > 1 ? 's' : ''} (${from.join(', ') || 'base'} -> ${reached.join(', ')})`;
      if (smoke && !smoke.passed) {
        report = finish(
          'smoke-failed',
          `Rehearsal FAILED: ${applied} applied, but the smoke command exited ${smoke.exitCode}. Production was not touched.`,
          { smoke, roundtrip },
        );
      } else if (roundtrip && !roundtrip.passed) {
        report = finish(
          'roundtrip-failed',
          `Rehearsal FAILED: ${applied} applied, but the downgrade to ${roundtrip.downgradeTo} ${roundtrip.error ? `failed: ${roundtrip.error}` : `does not undo the upgrade (${roundtrip.diff.length} schema line(s) differ)`}. Production was not touched.`,
          { smoke, roundtrip },
        );
      } else {
        report = finish(
          'passed',
          `Rehearsal passed: ${applied} in ${seconds(migrations.reduce((s, m) => s + m.durationMs, 0))} on a copy restored in ${seconds(restoreMs)}.`,
          { smoke, roundtrip },
        );
      }
    }
    if (opts.keep) {
      kept = true;
      const redactedUrl = redact(sc.url, secrets);
      report.scratch = {
        ...report.scratch,
        kept: true,
        connect:
          sc.kind === 'local-cluster' && sc.cluster
            ? `PGPASSWORD='${sc.cluster.password}' psql -h ${sc.cluster.host} -p ${sc.cluster.port} -U ${sc.cluster.user} -d ${sc.name}; stop the throwaway cluster afterwards with: ${process.getuid?.() === 0 ? 'runuser -u postgres -- ' : ''}${sc.cluster.binDir}/pg_ctl -D ${sc.cluster.dataDir} stop && rm -rf ${sc.cluster.dir}`
            : `psql "${redactedUrl}" (with the REHEARSAL_DATABASE_URL password); drop it afterwards with DROP DATABASE ${sc.name}`,
      };
    }
    return report;

    async function runRoundtrip(): Promise<NonNullable<RehearsalReport['roundtrip']>> {
      if (from.length > 1) {
        return {
          passed: true,
          downgradeTo: from.join(', '),
          downgradeMs: 0,
          reupgradeMs: 0,
          diff: [],
          error: 'skipped: the dump is at several heads; downgrade to a merge point is not automated',
        };
      }
      const to = from[0] ?? 'base';
      log(`Roundtrip: alembic downgrade ${to}.`);
      const out: string[] = [];
      const t0 = Date.now();
      const down = await alembic(['downgrade', to], out);
      const downgradeMs = Date.now() - t0;
      if (down.exitCode !== 0) {
        const statement = failingStatement(out);
        return {
          passed: false,
          downgradeTo: to,
          downgradeMs,
          reupgradeMs: 0,
          diff: [],
          error: `${scrub(failureLine(down.tail))}${statement ? ` (statement: ${scrub(statement)})` : ''}`,
        };
      }
      const endSchema = await dumpSchema(sc.target, { pgDump: settings.pgDump, excludeSchemas, signal });
      const diff = schemaDiff(startSchema, endSchema);
      log(`Roundtrip: alembic upgrade ${heads.length === 1 ? heads[0] : 'heads'} again.`);
      const t1 = Date.now();
      const up = await alembic(['upgrade', heads.length === 1 ? heads[0]! : 'heads'], out);
      const reupgradeMs = Date.now() - t1;
      if (up.exitCode !== 0) {
        return {
          passed: false,
          downgradeTo: to,
          downgradeMs,
          reupgradeMs,
          diff,
          error: `the upgrade after the downgrade failed: ${scrub(failureLine(up.tail))}`,
        };
      }
      return { passed: diff.length === 0, downgradeTo: to, downgradeMs, reupgradeMs, diff };
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (scratch && !kept) {
      await scratch.drop().catch((err: unknown) => {
        opts.logger?.warn(
          `could not drop the scratch database ${scratch!.name} on ${scratch!.server}: ${err instanceof Error ? err.message : String(err)}; drop it by hand`,
        );
      });
    }
  }

  function interrupted(): FailedError {
    return new FailedError(
      'rehearsal interrupted (signal): the scratch database was dropped; production was not touched',
    );
  }
}

export interface RehearseBeforeRunResult {
  passed: boolean;
  summary: string;
  nextSteps: string[];
  report: RehearsalReport;
}

/**
 * `run`'s precondition when MIGRATION_GATE_REHEARSE_BEFORE_RUN=true: rehearse the pending migrations
 * on a fresh dump of DATABASE_URL, restored on REHEARSAL_DATABASE_URL. Resolves with passed=false when
 * the migrations fail there (the gate blocks); throws FailedError/ConfigError for infrastructure errors.
 */
export async function rehearseBeforeRun(opts: {
  settings: Settings;
  cwd: string;
  logger: RehearseLogger;
  signal?: AbortSignal;
}): Promise<RehearseBeforeRunResult> {
  const report = await rehearse({
    settings: opts.settings,
    cwd: opts.cwd,
    logger: opts.logger,
    signal: opts.signal,
    requireServer: true,
  });
  const nextSteps = report.passed
    ? []
    : [
        'fix the migration (see the rehearsal report: failing statement and output) and deploy again',
        'reproduce it with `migration-gate rehearse --keep` and inspect the scratch database',
      ];
  return { passed: report.passed, summary: report.summary, nextSteps, report };
}
