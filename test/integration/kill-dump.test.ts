/**
 * The gate SIGKILLed during the safety dump (file target): nothing migrates, nothing of the dump
 * survives, and the next run closes the dead row, takes its own verified dump and migrates.
 */
import { readdirSync } from 'node:fs';
import { execa } from 'execa';
import pg from 'pg';
import { alembicBin } from '../harness/pg.js';
import { STALE_RUN_CAUSE } from '../../src/db/history.js';
import {
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
import { EXAMPLE_ADDITIVE, EXAMPLE_BASE } from '../helpers/project.js';

let s: GateSetup;
beforeAll(async () => {
  s = await gateSetup('kill_dump', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
  await query(s.db, "INSERT INTO users (email, name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B')");
});
afterAll(async () => {
  await s.cleanup();
});

const dumpFiles = () =>
  readdirSync(s.dumps, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.dump'));

test('SIGKILL while pg_dump runs: no migration, no dump process or session left, then a true second run', async () => {
  // Hold pg_dump inside the dump step: it waits for a lock on users while the gate is killed.
  const blocker = new pg.Client({ connectionString: s.db.url, application_name: 'kill-test blocker' });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  const child = runGateCli(s, { MIGRATION_GATE_LOCK_WAIT: '30' });
  try {
    await waitForOutput(child, 'Connected to');
    const dumping = await eventually(
      async () =>
        (await sessionsOf(s.db)).some(
          (r) => r.application_name === 'migration-gate pg_dump' && r.query.includes('LOCK TABLE'),
        ),
      20_000,
    );
    expect(dumping).toBe(true);
    expect((await runsOf(s.db)).at(-1)).toMatchObject({ outcome: 'running', step: 'dump' });
    child.kill('SIGKILL');
    await child;
  } finally {
    await blocker.query('ROLLBACK');
    await blocker.end();
  }

  // pg_dump loses its reader with the gate: within a few seconds nothing of the dump is left.
  const gone = await eventually(
    async () =>
      processesWith('pg_dump').filter((p) => p.cmdline.includes('--format=custom')).length === 0 &&
      !(await sessionsOf(s.db)).some((r) => r.application_name.startsWith('migration-gate')),
    8_000,
  );
  expect(await sessionsOf(s.db)).toEqual([]);
  expect(gone).toBe(true);
  expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f']);
  expect(dumpFiles()).toEqual([]);
  expect((await runsOf(s.db)).at(-1)).toMatchObject({ outcome: 'running' });

  const res = await runGateCli(s);
  expect(res.exitCode).toBe(0);
  expect(res.all).toContain('Safety dump verified');
  expect(res.all).toMatch(/Migrated 1a2b3c4d5e6f -> fd4af8236c7d/);
  const runs = await runsOf(s.db);
  expect(runs.at(-2)).toMatchObject({
    outcome: 'interrupted',
    error: `${STALE_RUN_CAUSE} (last step: dump)`,
    reached_revisions: ['1a2b3c4d5e6f'],
  });
  expect(runs.at(-1)).toMatchObject({ outcome: 'migrated', reached_revisions: ['fd4af8236c7d'] });
  expect(runs.filter((r) => r.outcome === 'running')).toEqual([]);
  expect(await versionOf(s.db)).toEqual(['fd4af8236c7d']);
  // One complete, restorable dump: the second run's.
  const files = dumpFiles();
  expect(files).toHaveLength(1);
  const list = await execa('pg_restore', ['--list', `${s.dumps}/${files[0]!}`]);
  expect(list.stdout).toContain('TABLE DATA public users');
  expect(await query(s.db, 'SELECT count(*)::int AS n FROM users')).toEqual([{ n: 2 }]);
});
