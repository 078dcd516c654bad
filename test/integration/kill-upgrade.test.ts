/**
 * The gate SIGKILLed during `alembic upgrade` (the OOM killer, the instance stopping): nothing of the
 * migration may outlive it, and the next deploy must see the truth and then migrate.
 */
import { execa } from 'execa';
import { alembicBin } from '../harness/pg.js';
import {
  causeLine,
  eventually,
  gateSetup,
  processesWith,
  query,
  runGateCli,
  runsOf,
  sessionsOf,
  versionOf,
  waitForOutput,
  type GateSetup,
} from '../helpers/gate.js';
import { EXAMPLE_BASE } from '../helpers/project.js';

const STALE_CAUSE =
  'the gate process ended without recording a result (killed, out of memory, or the instance was stopped)';

let s: GateSetup;
beforeAll(async () => {
  s = await gateSetup('kill_upgrade', [EXAMPLE_BASE]);
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
});
afterAll(async () => {
  await s.cleanup();
});

const slowMigration = (sleep: boolean) => ({
  id: 'kk01',
  down: '1a2b3c4d5e6f',
  upgrade:
    "op.create_table('kk_slow', sa.Column('id', sa.Integer(), primary_key=True))" +
    (sleep ? "\nop.execute('SELECT pg_sleep(60)')" : ''),
});
const allow = { MIGRATION_GATE_ALLOW: 'kk01', MIGRATION_GATE_ALLOW_REASON: 'kill test' };

test('SIGKILL during the upgrade: alembic and its session end, the transaction rolls back', async () => {
  s.project.write(slowMigration(true));
  const child = runGateCli(s, allow);
  await waitForOutput(child, 'Running alembic upgrade');
  // Wait until the migration's statement is really running on the server.
  const sleeping = await eventually(
    async () =>
      (await sessionsOf(s.db)).some(
        (r) => r.application_name.startsWith('migration-gate alembic run') && r.query.includes('pg_sleep'),
      ),
    20_000,
  );
  expect(sleeping).toBe(true);
  expect(processesWith(s.project.ini).length).toBeGreaterThan(0);

  child.kill('SIGKILL');
  await child;

  // Within a few seconds: no alembic process, no session of the gate or of its migration.
  const gone = await eventually(
    async () =>
      processesWith(s.project.ini).length === 0 &&
      !(await sessionsOf(s.db)).some((r) => r.application_name.startsWith('migration-gate')),
    6_000,
  );
  expect({ processes: processesWith(s.project.ini), sessions: await sessionsOf(s.db) }).toEqual({
    processes: [],
    sessions: [],
  });
  expect(gone).toBe(true);
  // The migration's transaction rolled back: the old revision, no new table.
  expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f']);
  expect(await query(s.db, "SELECT to_regclass('kk_slow') AS t")).toEqual([{ t: null }]);
  // The row the killed gate left behind still says running: nobody has closed it yet.
  expect((await runsOf(s.db)).at(-1)).toMatchObject({ outcome: 'running', finished_at: null });
});

test('the next run closes the stale row as interrupted, then migrates and records the truth', async () => {
  const before = await runsOf(s.db);
  const stale = before.at(-1)!;
  s.project.write(slowMigration(false));
  const res = await runGateCli(s, allow);
  expect(causeLine(res.all)).toMatch(/^migration-gate: Migrated 1a2b3c4d5e6f -> kk01 in/);
  expect(res.exitCode).toBe(0);
  expect(res.all).toContain(
    `Run #${String(stale.id)} (run, started ${(stale.started_at as Date).toISOString()}, last step upgrade) was left running`,
  );

  const runs = await runsOf(s.db);
  const closed = runs.find((r) => r.id === stale.id)!;
  expect(closed).toMatchObject({ outcome: 'interrupted', error: `${STALE_CAUSE} (last step: upgrade)` });
  expect(closed.reached_revisions).toEqual(['1a2b3c4d5e6f']);
  expect(closed.finished_at).toBeInstanceOf(Date);

  const last = runs.at(-1)!;
  expect(last.id).not.toBe(stale.id);
  expect(last).toMatchObject({ outcome: 'migrated' });
  expect(last.from_revisions).toEqual(['1a2b3c4d5e6f']);
  expect(last.reached_revisions).toEqual(['kk01']);
  expect(await versionOf(s.db)).toEqual(['kk01']);
  expect(await query(s.db, "SELECT to_regclass('kk_slow')::text AS t")).toEqual([{ t: 'kk_slow' }]);
});
