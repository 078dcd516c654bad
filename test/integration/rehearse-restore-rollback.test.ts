/**
 * The way back, on the example app: `rehearse` on a throwaway local cluster from a dump file,
 * `restore` of a dump into the database (row counts equal afterwards), and `rollback` refusing to act
 * without --yes and without an override for a downgrade that drops tables holding rows.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { loadSettings, readRenderEnv } from '../../src/config/settings.js';
import { ensureHistory, listRuns, startRun, updateRun } from '../../src/db/history.js';
import { BlockedError } from '../../src/errors.js';
import { rehearse } from '../../src/rehearse/rehearse.js';
import { restoreDump } from '../../src/rollback/restore.js';
import { rollback } from '../../src/rollback/rollback.js';
import { openDumpTarget } from '../../src/storage/index.js';
import { adminQuery, alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { exampleDir } from '../helpers/project.js';
import pg from 'pg';

const BASE = '1a2b3c4d5e6f';
const ADDITIVE = 'fd4af8236c7d';
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function exampleProduction(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase(name);
  cleanups.push(() => db.drop());
  await alembic(db, ['upgrade', BASE]);
  await execa('psql', ['-v', 'ON_ERROR_STOP=1', '-q', '-f', path.join(exampleDir, 'seed.sql'), db.url]);
  return db;
}

function alembic(db: TestDatabase, args: string[]) {
  return execa(alembicBin(), ['-c', path.join(exampleDir, 'alembic.ini'), ...args], {
    cwd: exampleDir,
    env: { DATABASE_URL: db.url },
  });
}

async function counts(db: TestDatabase): Promise<Record<string, number>> {
  const rows = await adminQuery<{ t: string; n: string }>(
    `SELECT 'users' AS t, count(*) AS n FROM users UNION ALL SELECT 'projects', count(*) FROM projects`,
    [],
    db.name,
  );
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

async function revision(db: TestDatabase): Promise<string[]> {
  return (
    await adminQuery<{ version_num: string }>('SELECT version_num FROM alembic_version', [], db.name)
  ).map((r) => r.version_num);
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function settings(db: TestDatabase, extra: Record<string, string> = {}) {
  return loadSettings({
    DATABASE_URL: db.url,
    ALEMBIC_CONFIG: path.join(exampleDir, 'alembic.ini'),
    MIGRATION_GATE_ALEMBIC: alembicBin(),
    MIGRATION_GATE_LOCK_WAIT: '5',
    ...extra,
  });
}

test('rehearse without REHEARSAL_DATABASE_URL starts a throwaway local cluster, and removes it', async () => {
  const db = await exampleProduction('wb_cluster');
  const dir = tempDir('mg-src-');
  const file = path.join(dir, 'prod.dump');
  await execa('pg_dump', ['-Fc', '-f', file, db.url]);
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  const report = await rehearse({
    settings: settings(db),
    cwd: exampleDir,
    dump: file,
    logger: { info: push, warn: push, error: push },
  });
  expect(report.source).toMatchObject({ kind: 'file', description: file });
  expect(report.scratch.kind).toBe('local-cluster');
  expect(report.passed).toBe(true);
  expect(report.migrations.map((m) => m.revision)).toEqual([ADDITIVE, '7c1e2d9a0b3f']);
  const users = report.migrations[1]!.tables.find((t) => t.table === 'users');
  expect(users).toMatchObject({ rowsBefore: 12, rowsAfter: 12, exact: true });
  expect(report.migrations[0]!.tables.map((t) => t.table)).toEqual(
    expect.arrayContaining(['apertures', 'aperture_frame_types']),
  );
  expect(report.migrations[0]!.tables.find((t) => t.table === 'apertures')).toMatchObject({
    rowsBefore: null,
    rowsAfter: 0,
  });
  const clusterDir = lines.map((l) => /throwaway PostgreSQL cluster in (\S+)/.exec(l)?.[1]).find(Boolean);
  expect(clusterDir).toBeDefined();
  expect(existsSync(clusterDir!)).toBe(false);
  expect(await revision(db)).toEqual([BASE]);
});

test('restore: without --yes only the plan; with --yes a safety dump first, then the database equals the dump', async () => {
  const db = await exampleProduction('wb_restore');
  const dumps = tempDir('mg-dumps-');
  const src = tempDir('mg-src-');
  const file = path.join(src, 'before.dump');
  await execa('pg_dump', ['-Fc', '-f', file, db.url]);
  const before = await counts(db);

  // What happens next in production: the additive migration, new rows, and data lost by mistake.
  await alembic(db, ['upgrade', ADDITIVE]);
  await adminQuery(
    "INSERT INTO aperture_frame_types (name, width_mm, u_value_w_m2k) VALUES ('F1', 80, 0.8)",
    [],
    db.name,
  );
  await adminQuery('DELETE FROM projects WHERE id > 5', [], db.name);
  const s = settings(db, { MIGRATION_GATE_DUMP_TARGET: `file://${dumps}` });

  const plan: string[] = [];
  const dry = await restoreDump({
    settings: s,
    render: readRenderEnv({}),
    dump: file,
    yes: false,
    say: (l) => void plan.push(l),
  });
  expect(dry.applied).toBe(false);
  expect(plan.join('\n')).toContain(`dump:     ${file}`);
  expect(plan.join('\n')).toContain(`database now:  ${ADDITIVE}`);
  expect(plan.join('\n')).not.toContain(new URL(db.url).password);
  expect(plan.at(-1)).toContain('Nothing was changed');
  expect(await revision(db)).toEqual([ADDITIVE]);
  expect(await (await openDumpTarget(`file://${dumps}`)).list()).toHaveLength(0);

  const said: string[] = [];
  const res = await restoreDump({
    settings: s,
    render: readRenderEnv({}),
    dump: file,
    yes: true,
    say: (l) => void said.push(l),
  });
  expect(res.applied).toBe(true);
  expect(res.reachedRevisions).toEqual([BASE]);
  expect(await revision(db)).toEqual([BASE]);
  expect(await counts(db)).toEqual(before);
  // Created after the dump: gone, so the next upgrade can create it again.
  expect(await adminQuery("SELECT to_regclass('aperture_frame_types') AS t", [], db.name)).toEqual([
    { t: null },
  ]);
  expect(said.join('\n')).toContain(`The database is now at revision ${BASE} (was ${ADDITIVE})`);
  const stored = await (await openDumpTarget(`file://${dumps}`)).list();
  expect(stored).toHaveLength(1);
  expect(res.safetyDump!.id).toBe(stored[0]!.id);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const [run] = await listRuns(client, 'migration_gate', 1);
  await client.end();
  expect(run).toMatchObject({
    command: 'restore',
    outcome: 'restored',
    fromRevisions: [ADDITIVE],
    reachedRevisions: [BASE],
  });
  await alembic(db, ['upgrade', ADDITIVE]);
});

describe('rollback', () => {
  async function migratedByGate(name: string): Promise<TestDatabase> {
    const db = await exampleProduction(name);
    await alembic(db, ['upgrade', ADDITIVE]);
    await adminQuery(
      "INSERT INTO aperture_frame_types (name, width_mm, u_value_w_m2k) VALUES ('F1', 80, 0.8), ('F2', 90, 0.7)",
      [],
      db.name,
    );
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await ensureHistory(client, 'migration_gate');
    const id = await startRun(client, 'migration_gate', {
      command: 'run',
      fromRevisions: [BASE],
      toRevisions: [ADDITIVE],
    });
    await updateRun(client, 'migration_gate', id, {
      outcome: 'migrated',
      reachedRevisions: [ADDITIVE],
      finishedAt: new Date(),
    });
    await client.end();
    return db;
  }

  test('without --yes prints the plan (tables dropped, their rows) and changes nothing', async () => {
    const db = await migratedByGate('wb_rollback_plan');
    const said: string[] = [];
    const progress: string[] = [];
    const res = await rollback({
      settings: settings(db),
      render: readRenderEnv({}),
      cwd: exampleDir,
      yes: false,
      say: (l) => void said.push(l),
      progress: (l) => void progress.push(l),
    });
    const text = said.join('\n');
    expect(res.applied).toBe(false);
    // The step timings go to the log, not into the plan an operator reads.
    expect(progress.map((l) => l.split(':')[0])).toEqual(['step connect', 'step load', 'step plan']);
    expect(text).not.toMatch(/^step /m);
    // An index dropped with its table is counted on the table's line, not listed as a finding.
    expect(text).not.toContain('drop-index: drop index ix_aperture_elements_aperture_id');
    expect(text).toMatch(/drop table aperture_elements: .*; 3 indexes on it are dropped first/);
    expect(text).toContain(`Rollback plan: alembic downgrade ${BASE}`);
    expect(text).toContain(`${ADDITIVE} window builder`);
    expect(text).toContain('downgrade is DESTRUCTIVE');
    expect(text).toMatch(/aperture_frame_types: 2 rows now/);
    expect(text).toContain(`MIGRATION_GATE_ALLOW=${ADDITIVE}`);
    expect(said.at(-1)).toContain('Nothing was changed');
    expect(await revision(db)).toEqual([ADDITIVE]);
    expect(await adminQuery('SELECT count(*)::int AS n FROM aperture_frame_types', [], db.name)).toEqual([
      { n: 2 },
    ]);
    const runs = await adminQuery('SELECT command FROM migration_gate.runs', [], db.name);
    expect(runs).toEqual([{ command: 'run' }]);
  });

  test('with --yes, a destructive downgrade needs the override; with it, dump first, downgrade, record', async () => {
    const db = await migratedByGate('wb_rollback_yes');
    const dumps = tempDir('mg-dumps-');
    const said: string[] = [];
    const say = (l: string) => void said.push(l);
    const blocked = rollback({
      settings: settings(db, { MIGRATION_GATE_DUMP_TARGET: `file://${dumps}` }),
      render: readRenderEnv({}),
      cwd: exampleDir,
      yes: true,
      say,
    });
    await expect(blocked).rejects.toThrow(BlockedError);
    await expect(blocked).rejects.toThrow(new RegExp(`downgrade of ${ADDITIVE} is destructive`));
    expect(await revision(db)).toEqual([ADDITIVE]);

    const res = await rollback({
      settings: settings(db, {
        MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
        MIGRATION_GATE_ALLOW: ADDITIVE,
        MIGRATION_GATE_ALLOW_REASON: 'frame types are test data',
      }),
      render: readRenderEnv({}),
      cwd: exampleDir,
      yes: true,
      say,
    });
    expect(res.applied).toBe(true);
    expect(res.reachedRevisions).toEqual([BASE]);
    expect(await revision(db)).toEqual([BASE]);
    expect(await (await openDumpTarget(`file://${dumps}`)).list()).toHaveLength(1);
    const runs = await adminQuery<{ command: string; outcome: string }>(
      'SELECT command, outcome FROM migration_gate.runs ORDER BY id',
      [],
      db.name,
    );
    expect(runs).toEqual([
      { command: 'run', outcome: 'migrated' },
      { command: 'rollback', outcome: 'blocked' },
      { command: 'rollback', outcome: 'rolled-back' },
    ]);
    expect(readFileSync(path.join(dumps, res.safetyDump!.id)).length).toBeGreaterThan(0);
  });
});
