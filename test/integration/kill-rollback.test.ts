/**
 * `rollback` runs alembic under the same guard as `run`: SIGKILLed during the downgrade, nothing of it
 * survives, the downgrade's transaction rolls back, and the next command that takes the lock closes
 * the rollback's row as interrupted.
 */
import { execa } from 'execa';
import { STALE_RUN_CAUSE } from '../../src/db/history.js';
import { alembicBin } from '../harness/pg.js';
import {
  eventually,
  gateSetup,
  processesWith,
  query,
  runGateCli,
  runsOf,
  sessionsOf,
  versionOf,
  type GateSetup,
} from '../helpers/gate.js';
import { EXAMPLE_BASE } from '../helpers/project.js';

let s: GateSetup;
beforeAll(async () => {
  s = await gateSetup('kill_rollback', [EXAMPLE_BASE]);
});
afterAll(async () => {
  await s.cleanup();
});

const allow = { MIGRATION_GATE_ALLOW: 'kr01', MIGRATION_GATE_ALLOW_REASON: 'kill test' };

test('SIGKILL during rollback: alembic and its session end, the downgrade rolls back, the row is closed next', async () => {
  s.project.write({
    id: 'kr01',
    down: '1a2b3c4d5e6f',
    upgrade: "op.create_table('kr_t', sa.Column('id', sa.Integer(), primary_key=True))",
    downgrade: "op.drop_table('kr_t')\nop.execute('SELECT pg_sleep(60)')",
  });
  // The base by hand, then the gate migrates base -> kr01: rollback undoes the last gate run.
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
  const migrated = await runGateCli(s, allow);
  expect(migrated.exitCode).toBe(0);
  expect(await versionOf(s.db)).toEqual(['kr01']);

  const child = runGateCli(s, allow, ['rollback', '--yes']);
  const sleeping = await eventually(
    async () =>
      (await sessionsOf(s.db)).some(
        (r) =>
          r.application_name.startsWith('migration-gate alembic rollback') && r.query.includes('pg_sleep'),
      ),
    30_000,
  );
  expect(sleeping).toBe(true);
  child.kill('SIGKILL');
  await child;

  await eventually(
    async () =>
      processesWith(s.project.ini).length === 0 &&
      !(await sessionsOf(s.db)).some((r) => r.application_name.startsWith('migration-gate')),
    6_000,
  );
  expect(processesWith(s.project.ini)).toEqual([]);
  expect(await sessionsOf(s.db)).toEqual([]);
  // The downgrade's transaction rolled back: still at kr01, the table still there.
  expect(await versionOf(s.db)).toEqual(['kr01']);
  expect(await query(s.db, "SELECT to_regclass('kr_t')::text AS t")).toEqual([{ t: 'kr_t' }]);
  const rollbackRow = (await runsOf(s.db)).at(-1)!;
  expect(rollbackRow).toMatchObject({ command: 'rollback', outcome: 'running' });

  // The next command that takes the lock (a deploy with nothing pending) closes it.
  const next = await runGateCli(s);
  expect(next.exitCode).toBe(0);
  expect(next.all).toContain(`Run #${String(rollbackRow.id)} (rollback, started`);
  expect(next.all).toContain('Nothing pending');
  const closed = (await runsOf(s.db)).find((r) => r.id === rollbackRow.id)!;
  expect(closed).toMatchObject({
    outcome: 'interrupted',
    error: `${STALE_RUN_CAUSE} (last step: downgrade)`,
    reached_revisions: ['kr01'],
  });
});
