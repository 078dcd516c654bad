/**
 * After a kill, the next command that takes the gate lock settles what is left: a migration session of
 * an earlier run is waited for or named (pid, query, age), and only rows whose process is really gone
 * are closed as interrupted: a run still waiting for the lock keeps its row.
 */
import { execa } from 'execa';
import pg from 'pg';
import { alembicBin } from '../harness/pg.js';
import { ensureHistory, STALE_RUN_CAUSE } from '../../src/db/history.js';
import { GATE_LOCK_KEY } from '../../src/db/lock.js';
import { settleEarlierRuns } from '../../src/gate/settle.js';
import {
  causeLine,
  eventually,
  gateSetup,
  query,
  runGateCli,
  runsOf,
  waitForOutput,
  type GateSetup,
} from '../helpers/gate.js';
import { EXAMPLE_BASE } from '../helpers/project.js';

let s: GateSetup;
const clients: pg.Client[] = [];
beforeAll(async () => {
  s = await gateSetup('kill_orphans', [EXAMPLE_BASE]);
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await s.cleanup();
});

/** A session that looks like the migration of an earlier gate run, busy with `sql`. */
async function orphanSession(sql: string): Promise<{ pid: number; done: Promise<unknown> }> {
  const c = new pg.Client({ connectionString: s.db.url, application_name: 'migration-gate alembic run 999' });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  // Like alembic, it disconnects when its statement ends (or is stopped).
  const done = c
    .query(sql)
    .catch(() => undefined)
    .finally(() => c.end().catch(() => undefined));
  return { pid, done };
}

test('a migration session of an earlier run still active: the run stops naming its pid, query and age', async () => {
  const orphan = await orphanSession('SELECT pg_sleep(30)');
  const res = await runGateCli(s, { MIGRATION_GATE_LOCK_WAIT: '1' });
  expect(res.exitCode).toBe(4);
  const cause = causeLine(res.all);
  expect(cause).toContain(
    'a migration started by an earlier gate run is still running on this database although its gate is gone',
  );
  expect(cause).toMatch(
    new RegExp(
      `pid ${orphan.pid} \\('migration-gate alembic run 999', active for \\d+s: SELECT pg_sleep\\(30\\)\\)`,
    ),
  );
  expect(cause).toContain(`stop it with SELECT pg_terminate_backend(${orphan.pid})`);
  expect((await runsOf(s.db)).at(-1)).toMatchObject({ outcome: 'failed' });
  expect(String((await runsOf(s.db)).at(-1)!.error)).toContain('failed at: settle');
  await query(s.db, 'SELECT pg_terminate_backend($1)', [orphan.pid]);
  await orphan.done;
});

test('a migration session that ends within the lock wait: the run waits for it, then goes on', async () => {
  const orphan = await orphanSession('SELECT pg_sleep(3)');
  const res = await runGateCli(s, { MIGRATION_GATE_LOCK_WAIT: '30' });
  await orphan.done;
  expect(res.all).toContain(
    `A migration started by an earlier gate run is still running on this database (pid ${orphan.pid} ('migration-gate alembic run 999', active`,
  );
  expect(res.all).toContain('Waiting up to 30s for it to end before going on.');
  expect(res.exitCode).toBe(0);
  expect(res.all).toContain('Nothing pending');
});

test('only dead rows are closed: a run waiting for the lock keeps its running row', async () => {
  // A row left by a process that is gone: inserted without the liveness lock, as a killed run leaves it.
  const [dead] = await query<{ id: string }>(
    s.db,
    "INSERT INTO migration_gate.runs (command, started_at) VALUES ('run', now() - interval '5 minutes') RETURNING id",
  );
  const holder = new pg.Client({ connectionString: s.db.url, application_name: 'migration-gate run' });
  await holder.connect();
  clients.push(holder);
  await holder.query('SELECT pg_advisory_lock($1::bigint)', [GATE_LOCK_KEY.toString()]);
  const waiting = runGateCli(s, { MIGRATION_GATE_LOCK_WAIT: '60' });
  try {
    await waitForOutput(waiting, 'Connected to');
    const waitingRow = async () =>
      (await runsOf(s.db)).find((r) => Number(r.id) > Number(dead!.id) && r.outcome === 'running');
    expect(await eventually(async () => (await waitingRow()) !== undefined, 10_000)).toBe(true);
    const live = (await waitingRow())!;

    // The lock holder settles, as the next command would.
    const warnings: string[] = [];
    const closed = await settleEarlierRuns({
      client: holder,
      schema: 'migration_gate',
      versionTable: {},
      runId: 0,
      waitMs: 0,
      warn: (line) => warnings.push(line),
    });
    expect(closed).toEqual([Number(dead!.id)]);
    const rows = await runsOf(s.db);
    expect(rows.find((r) => r.id === dead!.id)).toMatchObject({
      outcome: 'interrupted',
      error: STALE_RUN_CAUSE,
      reached_revisions: ['1a2b3c4d5e6f'],
    });
    expect(rows.find((r) => r.id === live.id)).toMatchObject({ outcome: 'running', finished_at: null });
    expect(warnings).toEqual([expect.stringContaining(`Run #${dead!.id} (run, started `)]);
    expect(warnings[0]).toContain(`was left running: ${STALE_RUN_CAUSE}. Recorded it as interrupted`);
  } finally {
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [GATE_LOCK_KEY.toString()]);
  }
  // Released: the waiting run goes on and records its own result on its own row.
  const res = await waiting;
  expect(res.exitCode).toBe(0);
  const rows = await runsOf(s.db);
  expect(rows.filter((r) => r.outcome === 'running')).toEqual([]);
  expect(rows.at(-1)).toMatchObject({ outcome: 'noop' });
});

test('database down at the start: the deploy log has the cause and says no record was written', async () => {
  const { serverUrl } = await import('../harness/pg.js');
  const res = await runGateCli(s, { DATABASE_URL: serverUrl(s.db.name, { port: 1 }) });
  expect(res.exitCode).toBe(4);
  // stderr is what Render keeps as the deploy log.
  const line = causeLine(res.stderr);
  expect(line).toMatch(/^migration-gate: failed: cannot connect to .*connection refused by 127\.0\.0\.1:1/);
  expect(line).toMatch(
    /; no history record was written for this attempt \(the gate keeps its history in the database .*\); the next run that reaches the database records it from the note left at file:\/\/.*\.json$/,
  );
});

test('a history table the gate cannot write: the cause names it and says no record was written', async () => {
  const owner = new pg.Client({ connectionString: s.db.url });
  await owner.connect();
  await ensureHistory(owner, 'migration_gate').finally(() => owner.end());
  const before = (await runsOf(s.db)).length;
  await query(s.db, 'CREATE ROLE kill_ro LOGIN PASSWORD $$kill-ro-pw$$');
  await query(s.db, `GRANT CONNECT ON DATABASE "${s.db.name}" TO kill_ro`);
  await query(s.db, 'GRANT USAGE ON SCHEMA migration_gate TO kill_ro');
  await query(s.db, 'GRANT SELECT ON migration_gate.runs TO kill_ro');
  try {
    const { serverUrl } = await import('../harness/pg.js');
    const res = await runGateCli(s, {
      DATABASE_URL: serverUrl(s.db.name, { user: 'kill_ro', password: 'kill-ro-pw' }),
    });
    expect(res.exitCode).toBe(4);
    const line = causeLine(res.stderr);
    expect(line).toContain(
      'could not record the start of the run in migration_gate.runs: permission denied for table runs',
    );
    expect(line).toContain(
      'No history record was written for this attempt (the gate keeps its history in migration_gate.runs); the next run that reaches the database records it from the note left at file://',
    );
    expect(line).not.toContain('kill-ro-pw');
    expect(await runsOf(s.db)).toHaveLength(before);
  } finally {
    await query(s.db, 'DROP OWNED BY kill_ro');
    await query(s.db, 'DROP ROLE kill_ro');
  }
});
