/** Runs the built CLI against a test database and project, and inspects what it leaves behind. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { repoRoot, tempProject, type TempProject } from './project.js';

export const cli = path.join(repoRoot, 'dist/cli.js');

export interface GateSetup {
  db: TestDatabase;
  project: TempProject;
  dumps: string;
  cleanup(): Promise<void>;
}

export async function gateSetup(name: string, examples: string[]): Promise<GateSetup> {
  const db = await createTestDatabase(name);
  const project = tempProject([], { withExample: examples });
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-dumps-'));
  return {
    db,
    project,
    dumps,
    cleanup: async () => {
      await db.drop();
      project.cleanup();
      rmSync(dumps, { recursive: true, force: true });
    },
  };
}

export function gateEnv(s: GateSetup, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: s.db.url,
    ALEMBIC_CONFIG: s.project.ini,
    MIGRATION_GATE_ALEMBIC: alembicBin(),
    MIGRATION_GATE_DUMP_TARGET: `file://${s.dumps}`,
    MIGRATION_GATE_LOG_FORMAT: 'text',
    MIGRATION_GATE_CONNECT_TIMEOUT: '3',
    RENDER: '',
    MIGRATION_GATE_ALLOW: '',
    MIGRATION_GATE_ALLOW_REASON: '',
    ...env,
  };
}

export function runGateCli(s: GateSetup, env: Record<string, string> = {}, command: string[] = ['run']) {
  return execa('node', [cli, ...command], {
    cwd: s.project.dir,
    env: gateEnv(s, env),
    reject: false,
    all: true,
  });
}
export type GateChild = ReturnType<typeof runGateCli>;

/** Resolves once the child's output contains `text` (or the child ended). */
export function waitForOutput(child: GateChild, text: string): Promise<string> {
  return new Promise((resolve) => {
    let seen = '';
    child.all.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) resolve(seen);
    });
    void child.then(() => resolve(seen));
  });
}

export async function query<T extends pg.QueryResultRow>(
  db: TestDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export const versionOf = async (db: TestDatabase): Promise<string[]> =>
  (await query<{ version_num: string }>(db, 'SELECT version_num FROM alembic_version').catch(() => [])).map(
    (r) => r.version_num,
  );

export const runsOf = (db: TestDatabase) =>
  query<Record<string, unknown>>(db, 'SELECT * FROM migration_gate.runs ORDER BY id');

/** Sessions on this database other than the asking one, with their application name and query. */
export const sessionsOf = (db: TestDatabase) =>
  query<{ pid: number; application_name: string; state: string | null; query: string }>(
    db,
    `SELECT pid, application_name, state, query FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );

/** Live processes whose command line contains `needle` (read from /proc: Linux only). */
export function processesWith(needle: string): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Polls `probe` until it returns true or `ms` pass; returns the last value. */
export async function eventually(probe: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The last `migration-gate:` line of the output: the one-line cause. */
export const causeLine = (all: string): string =>
  all
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('migration-gate:'))
    .pop() ?? '';

/** The newest history row. */
export const lastRun = async (db: TestDatabase): Promise<Record<string, unknown>> =>
  (
    await query<Record<string, unknown>>(db, 'SELECT * FROM migration_gate.runs ORDER BY id DESC LIMIT 1')
  )[0]!;

/** Every file under `dir` (dumps, partial files, sidecars), so "no dump exists" means nothing at all. */
export const filesIn = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String);

/** Brings the test database to `rev` with the real alembic, as an earlier deploy would have. */
export async function upgradeTo(s: GateSetup, rev: string): Promise<void> {
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', rev], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
}
