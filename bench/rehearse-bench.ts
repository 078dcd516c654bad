/**
 * Benchmark: `migration-gate rehearse` of a database against the manual runbook sequence it replaces
 * (pg_dump; createdb; pg_restore, one job; alembic upgrade head), both on the same scratch server.
 * Prints the median of each and their ratio (rehearse / manual: below 1 means the gate is faster,
 * despite its per-revision runs, lock sampling and ANALYZE). The manual side is what a person types:
 * pg_dump's default (compressed) archive to a file, then a plain pg_restore. The gate streams an
 * uncompressed dump straight into pg_restore, so the dump and the restore overlap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { loadSettings } from '../src/config/settings.js';
import { connect, parseDatabaseUrl } from '../src/db/connect.js';
import { FailedError } from '../src/errors.js';
import { rehearse } from '../src/rehearse/rehearse.js';
import { scratchName, withDatabase } from '../src/rehearse/scratch.js';

export interface RehearseBenchOptions {
  /** The database to rehearse (it is only read). */
  databaseUrl: string;
  /** A server where scratch databases may be created. */
  rehearsalUrl: string;
  /** alembic.ini of the project and the directory alembic runs in. */
  iniPath: string;
  cwd: string;
  alembic?: string;
  /** Timed runs of each (default 3). */
  runs?: number;
  /** pg_restore jobs for the gate (default: CPUs). */
  jobs?: number;
  log?: (line: string) => void;
}

export interface RehearseBenchResult {
  gateMs: number[];
  manualMs: number[];
  medianGateMs: number;
  medianManualMs: number;
  /** median(gate) / median(manual). */
  ratio: number;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

async function manualSequence(opts: RehearseBenchOptions): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'mg-bench-'));
  const server = parseDatabaseUrl(opts.rehearsalUrl);
  const prod = parseDatabaseUrl(opts.databaseUrl);
  const name = scratchName();
  const admin = await connect(server, { applicationName: 'migration-gate bench' });
  const started = Date.now();
  try {
    const file = join(dir, 'manual.dump');
    await execa('pg_dump', ['-Fc', '-f', file], { env: prod.libpqEnv() });
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    const scratch = parseDatabaseUrl(withDatabase(opts.rehearsalUrl, name));
    await execa('pg_restore', ['--no-owner', '--no-acl', '-j', '1', '-d', name, file], {
      env: scratch.libpqEnv(),
    });
    const up = await execa(opts.alembic ?? 'alembic', ['-c', opts.iniPath, 'upgrade', 'head'], {
      cwd: opts.cwd,
      env: { DATABASE_URL: scratch.sqlalchemyUrl },
      reject: false,
    });
    if (up.exitCode !== 0)
      throw new FailedError(
        `manual sequence: alembic upgrade head failed: ${String(up.stderr).split('\n').pop()}`,
      );
    return Date.now() - started;
  } finally {
    await admin
      .query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
      .catch(() => undefined);
    await admin.end().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchRehearse(opts: RehearseBenchOptions): Promise<RehearseBenchResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const settings = loadSettings({
    DATABASE_URL: opts.databaseUrl,
    REHEARSAL_DATABASE_URL: opts.rehearsalUrl,
    ALEMBIC_CONFIG: opts.iniPath,
    MIGRATION_GATE_ALEMBIC: opts.alembic ?? 'alembic',
  });
  const runs = Math.max(1, opts.runs ?? 3);
  const gateMs: number[] = [];
  const manualMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Alternate the order so cache warmth does not favour one side.
    const order = i % 2 === 0 ? ['gate', 'manual'] : ['manual', 'gate'];
    for (const which of order) {
      if (which === 'gate') {
        const t0 = Date.now();
        const report = await rehearse({ settings, cwd: opts.cwd, jobs: opts.jobs });
        if (!report.passed)
          throw new FailedError(`rehearsal did not pass during the benchmark: ${report.summary}`);
        gateMs.push(Date.now() - t0);
        log(`run ${i + 1}/${runs}: migration-gate rehearse ${(gateMs.at(-1)! / 1000).toFixed(2)}s`);
      } else {
        manualMs.push(await manualSequence(opts));
        log(`run ${i + 1}/${runs}: manual sequence ${(manualMs.at(-1)! / 1000).toFixed(2)}s`);
      }
    }
  }
  const medianGateMs = median(gateMs);
  const medianManualMs = median(manualMs);
  const ratio = medianGateMs / medianManualMs;
  log(
    `median: rehearse ${(medianGateMs / 1000).toFixed(2)}s, manual (pg_dump; createdb; pg_restore -j 1; alembic upgrade head) ${(medianManualMs / 1000).toFixed(2)}s; ratio ${ratio.toFixed(2)}`,
  );
  return { gateMs, manualMs, medianGateMs, medianManualMs, ratio };
}
