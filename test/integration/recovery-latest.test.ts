/**
 * The way back after a bad deploy, as on-call would take it (issue 12, "Done when"): the built CLI, a
 * real PostgreSQL, pg_dump/pg_restore, Alembic and a file:// target. A deploy deletes rows and adds a
 * column; `rollback --yes` (with the override it needs) downgrades and takes its own dump; then
 * `restore --dump latest --yes` must restore the PRE-DEPLOY state (revision and row counts), not the
 * rollback's dump of the broken state. Each dump says who made it (`dumps --json`), rollback names the
 * pre-deploy dump by id, and the restore's history row records what it restored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { repoRoot, tempProject, type TempProject } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ITEMS = {
  id: 'aa01',
  down: null,
  upgrade: `op.create_table('items', sa.Column('id', sa.Integer, primary_key=True), sa.Column('qty', sa.Integer, nullable=False))`,
  downgrade: `op.drop_table('items')`,
};
// The bad deploy: rewrites data (deletes rows) and changes the schema.
const BAD = {
  id: 'bb02',
  down: 'aa01',
  upgrade: `op.execute("DELETE FROM items WHERE qty < 5")\nop.add_column('items', sa.Column('note', sa.Text))`,
  downgrade: `op.drop_column('items', 'note')`,
};

interface Setup {
  db: TestDatabase;
  project: TempProject;
  dumps: string;
}

function cmd(s: Setup, args: string[], env: Record<string, string> = {}) {
  return execa('node', [cli, ...args], {
    cwd: s.project.dir,
    env: {
      DATABASE_URL: s.db.url,
      ALEMBIC_CONFIG: s.project.ini,
      MIGRATION_GATE_ALEMBIC: alembicBin(),
      MIGRATION_GATE_DUMP_TARGET: `file://${s.dumps}`,
      MIGRATION_GATE_LOG_FORMAT: 'text',
      MIGRATION_GATE_LOCK_WAIT: '5',
      RENDER: '',
      MIGRATION_GATE_ALLOW: '',
      MIGRATION_GATE_ALLOW_REASON: '',
      ...env,
    },
    reject: false,
    all: true,
  });
}

async function query<T extends pg.QueryResultRow>(db: TestDatabase, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

async function state(db: TestDatabase) {
  const [rev] = await query<{ v: string }>(db, 'SELECT version_num AS v FROM alembic_version');
  const [items] = await query<{ n: number }>(db, 'SELECT count(*)::int AS n FROM items');
  const cols = await query<{ c: string }>(
    db,
    "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
  );
  return { revision: rev?.v, rows: items?.n, columns: cols.map((r) => r.c) };
}

interface Listed {
  id: string;
  createdAt: string;
  madeBy: string | null;
  runId: number | null;
  revisions: string[];
  bytes: number;
  sha256: string | null;
  purpose: string | null;
}

const ALLOW_BAD = { MIGRATION_GATE_ALLOW: 'bb02', MIGRATION_GATE_ALLOW_REASON: 'recovery drill' };

test('run -> rollback --yes -> restore --dump latest --yes brings back the pre-deploy state', async () => {
  const db = await createTestDatabase('recovery_latest');
  const project = tempProject([ITEMS]);
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-dumps-'));
  cleanups.push(
    () => db.drop(),
    () => project.cleanup(),
    () => rmSync(dumps, { recursive: true, force: true }),
  );
  const s: Setup = { db, project, dumps };

  // Deploy 1 creates the table; production then has 10 rows.
  expect((await cmd(s, ['run'])).exitCode).toBe(0);
  await query(db, 'INSERT INTO items (qty) SELECT g FROM generate_series(1, 10) g');
  const preDeploy = await state(db);
  expect(preDeploy).toEqual({ revision: 'aa01', rows: 10, columns: ['id', 'qty'] });

  // Deploy 2, the bad one: 4 rows deleted, a column added.
  project.write(BAD);
  const deploy = await cmd(s, ['run'], ALLOW_BAD);
  expect(deploy.exitCode).toBe(0);
  expect(await state(db)).toEqual({ revision: 'bb02', rows: 6, columns: ['id', 'qty', 'note'] });

  const listed = JSON.parse((await cmd(s, ['dumps', '--json'])).stdout) as Listed[];
  expect(listed.map((d) => [d.madeBy, d.runId, d.revisions])).toEqual([
    ['run', 2, ['aa01']],
    ['run', 1, []],
  ]);
  const preDeployDump = listed[0]!;
  expect(preDeployDump.purpose).toBe('before deploy #2: aa01 -> bb02');
  expect(preDeployDump.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(preDeployDump.bytes).toBeGreaterThan(0);
  expect(Number.isNaN(Date.parse(preDeployDump.createdAt))).toBe(false);

  // Rollback: the plan and the result name the pre-deploy dump by id and say the data stays lost.
  const restoreCmd = `migration-gate restore --dump ${preDeployDump.id} --yes`;
  // Without the override the destructive downgrade is refused; the way out it names is the dump's id.
  const refused = await cmd(s, ['rollback', '--yes']);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toContain(`or restore the pre-deploy dump instead (${restoreCmd})`);
  expect(refused.all).not.toContain('--dump latest');
  const back = await cmd(s, ['rollback', '--yes'], ALLOW_BAD);
  expect(back.exitCode).toBe(0);
  expect(back.all).toContain('does NOT come back with a downgrade');
  expect(back.all.split(restoreCmd).length - 1).toBe(2); // in the plan and in the result
  expect(back.all).not.toContain('--dump latest');
  for (const step of ['connect', 'load', 'plan', 'lock', 'dump', 'downgrade', 'record'])
    expect(back.all).toMatch(new RegExp(`step ${step}: \\d+\\.\\ds`));
  // The downgrade reversed the schema only: the deleted rows are still gone.
  expect(await state(db)).toEqual({ revision: 'aa01', rows: 6, columns: ['id', 'qty'] });

  // The rollback's own dump is now the newest; `latest` must still mean the pre-deploy one.
  const afterRollback = JSON.parse((await cmd(s, ['dumps', '--json'])).stdout) as Listed[];
  expect(afterRollback[0]).toMatchObject({ madeBy: 'rollback', runId: 4, revisions: ['bb02'] });
  const table = (await cmd(s, ['dumps'])).stdout;
  expect(table).toMatch(/MADE BY\s+REVISIONS\s+SIZE/);
  expect(table).toMatch(new RegExp(`${afterRollback[0]!.id}\\s+\\S+\\s+rollback #4\\s+bb02\\s`));

  const plan = await cmd(s, ['restore', '--dump', 'latest']);
  expect(plan.exitCode).toBe(0);
  expect(plan.stdout).toContain(`dump:     ${preDeployDump.id}`);
  expect(plan.stdout).toContain('chosen:   the dump taken before the last deploy that migrated (run #2)');
  expect(plan.stdout).toContain('made by:  run #2, before deploy #2: aa01 -> bb02');
  expect(plan.stdout).toContain('dump revision: aa01');
  expect(plan.stdout).toContain(
    'database now:  at aa01, the same revision as the dump: only the data goes back',
  );
  expect(plan.stdout).toContain(
    "code's head:   bb02: the dump is behind the code's head; the next deploy upgrades it again",
  );
  expect(plan.stdout).toContain('Nothing was changed');

  const restored = await cmd(s, ['restore', '--dump', 'latest', '--yes']);
  expect(restored.exitCode).toBe(0);
  expect(await state(db)).toEqual(preDeploy);
  expect(restored.stdout).toContain(`Restored ${preDeployDump.id} (before deploy #2: aa01 -> bb02)`);
  // The step timings are log lines (stderr); stdout holds what the operator reads.
  for (const step of ['connect', 'load', 'plan', 'lock', 'dump', 'restore', 'record'])
    expect(restored.stderr).toMatch(new RegExp(`info {2}step ${step}: \\d+\\.\\ds`));
  expect(restored.stdout).not.toMatch(/^step /m);

  const [row] = await query<{
    command: string;
    outcome: string;
    source_dump: unknown;
    dump: unknown;
    step: string;
  }>(
    db,
    "SELECT command, outcome, source_dump, dump, step FROM migration_gate.runs WHERE command = 'restore'",
  );
  expect(row).toMatchObject({
    command: 'restore',
    outcome: 'restored',
    step: 'record',
    source_dump: {
      id: preDeployDump.id,
      madeBy: 'run',
      runId: 2,
      revisions: ['aa01'],
      purpose: 'before deploy #2: aa01 -> bb02',
    },
    dump: { madeBy: 'restore', revisions: ['aa01'], purpose: 'before restore #5 (the database was at aa01)' },
  });
  const final = JSON.parse((await cmd(s, ['dumps', '--json'])).stdout) as Listed[];
  expect(final.map((d) => d.madeBy)).toEqual(['restore', 'rollback', 'run', 'run']);
});
