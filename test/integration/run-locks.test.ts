/**
 * Lock waits name who holds the lock, on the real harness: a migration blocked by another session's
 * ACCESS EXCLUSIVE lock fails naming that session (pid, query, transaction age) and the SQL to end
 * it, which the gate never runs; a deploy waiting for the gate lock says every 10 s who holds it.
 */
import pg from 'pg';
import { GATE_LOCK_KEY } from '../../src/db/lock.js';
import { EXAMPLE_BASE } from '../helpers/project.js';
import {
  causeLine,
  gateSetup,
  lastRun,
  runGateCli,
  upgradeTo,
  versionOf,
  type GateSetup,
} from '../helpers/gate.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function withPendingAddColumn(name: string): Promise<GateSetup> {
  const s = await gateSetup(name, [EXAMPLE_BASE]);
  cleanups.push(() => s.cleanup());
  await upgradeTo(s, '1a2b3c4d5e6f');
  s.project.write({
    id: 'bb01',
    down: '1a2b3c4d5e6f',
    upgrade: "op.add_column('users', sa.Column('bio', sa.Text(), nullable=True))",
  });
  return s;
}

async function holdLock(s: GateSetup, sql: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: s.db.url, application_name: 'report-job' });
  await client.connect();
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  await client.query('BEGIN');
  await client.query(sql);
  return { client, pid };
}

test('a migration blocked by an ACCESS EXCLUSIVE lock fails naming the blocking session', async () => {
  const s = await withPendingAddColumn('locks_blocker');
  const holder = await holdLock(s, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  try {
    // Without a dump: pg_dump would wait for the same lock first (its own test is elsewhere).
    const res = await runGateCli(s, {
      MIGRATION_GATE_DUMP_POLICY: 'never',
      MIGRATION_GATE_DUMP_TARGET: '',
      MIGRATION_GATE_LOCK_TIMEOUT: '300ms',
      MIGRATION_GATE_LOCK_RETRIES: '1',
      MIGRATION_GATE_RETRY_BACKOFF: '0.1',
    });
    expect(res.exitCode).toBe(4);
    // Warned before the upgrade: the transaction was already older than lock_timeout.
    expect(res.all).toMatch(
      new RegExp(
        `A transaction older than lock_timeout=300ms holds a lock .*pid ${holder.pid} \\(application 'report-job'`,
      ),
    );
    // Each retry names the blocker...
    expect(res.all).toMatch(
      new RegExp(`gave up waiting for a lock \\(lock_timeout=300ms\\), blocked by pid ${holder.pid} `),
    );
    // ...and so does the final failure, with its query, transaction age and the SQL to end it.
    const line = causeLine(res.all);
    expect(line).toContain(
      `blocked by pid ${holder.pid} (application 'report-job', idle in transaction, transaction open`,
    );
    expect(line).toContain(': LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    expect(line).toContain(`end it with SELECT pg_terminate_backend(${holder.pid}) (the gate never does)`);
    const run = await lastRun(s.db);
    expect(run).toMatchObject({ outcome: 'failed', step: 'upgrade' });
    expect(String(run.error)).toContain(`pid ${holder.pid}`);
    expect(String(run.error)).toContain(`SELECT pg_terminate_backend(${holder.pid})`);
    // Suggested, never done: the holder's transaction is still open.
    expect((await holder.client.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n).toBe(1);
  } finally {
    await holder.client.query('ROLLBACK').catch(() => undefined);
    await holder.client.end();
  }
  expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f']);
});

test('a deploy waiting for the gate lock says every 10 s who holds it and since when', async () => {
  const s = await gateSetup('locks_wait', [EXAMPLE_BASE]);
  cleanups.push(() => s.cleanup());
  const other = new pg.Client({ connectionString: s.db.url, application_name: 'migration-gate run' });
  await other.connect();
  const pid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  await other.query('SELECT pg_advisory_lock($1::bigint)', [GATE_LOCK_KEY.toString()]);
  try {
    const res = await runGateCli(s, { MIGRATION_GATE_LOCK_WAIT: '11' });
    expect(res.exitCode).toBe(4);
    const waits = res.all.split('\n').filter((l) => l.includes('Waiting for the gate lock'));
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatch(
      new RegExp(
        `another deploy holds it since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(pid ${pid}, application 'migration-gate run'\\); waited 1\\ds of 11s`,
      ),
    );
    expect(causeLine(res.all)).toContain(`SELECT pg_terminate_backend(${pid})`);
  } finally {
    await other.end();
  }
});

test('pg_dump behind an ACCESS EXCLUSIVE lock: the dump gives up after MIGRATION_GATE_DUMP_LOCK_WAIT and names the holder', async () => {
  const s = await withPendingAddColumn('dump_lock_wait');
  const holder = await holdLock(s, 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  try {
    const res = await runGateCli(s, { MIGRATION_GATE_DUMP_LOCK_WAIT: '2' });
    expect(res.exitCode).toBe(4);
    expect(res.all).toContain('MIGRATION_GATE_DUMP_LOCK_WAIT=2s');
    expect(res.all).toContain('nothing was migrated');
    expect(res.all).toContain(`pid ${holder.pid}`);
    expect(res.all).toContain(`pg_terminate_backend(${holder.pid})`);
    expect(res.all).not.toContain('statement timeout');
  } finally {
    await holder.client.query('ROLLBACK');
    await holder.client.end();
  }
  // Nothing ran: the pending column is absent and no dump is left behind.
  const cols = new pg.Client({ connectionString: s.db.url });
  await cols.connect();
  const { rows } = await cols.query(
    "SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bio'",
  );
  await cols.end();
  expect(rows).toHaveLength(0);
});
