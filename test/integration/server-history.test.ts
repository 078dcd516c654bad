/**
 * What serve shows from a history table it did not expect, on a real PostgreSQL: unreadable rows
 * (junk values, unknown outcomes) shown as such while the rest renders, a table of the wrong shape,
 * a role without privileges; and what it shows for recovery: a restore's source dump, each migrated
 * run's way back, the failed step.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/db/connect.js';
import { ensureHistory, startRun, updateRun } from '../../src/db/history.js';
import { createApp, type AppDeps } from '../../src/server/app.js';
import { adminQuery, createTestDatabase, serverUrl, type TestDatabase } from '../harness/pg.js';

const SCHEMA = 'migration_gate';
const warnings: string[] = [];
const logger = { info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
const html = { Accept: 'text/html' };

let db: TestDatabase;
let pool: pg.Pool;
const servers: Server[] = [];
const pools: pg.Pool[] = [];
const ids: Record<string, number> = {};

async function listen(deps: Partial<AppDeps> = {}): Promise<string> {
  const app = createApp({ pool, schema: SCHEMA, logger, ...deps });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(base + path, { headers });
  return { status: r.status, text: await r.text() };
}

const dump = (id: string) => ({
  id,
  location: `file:///dumps/${id}`,
  bytes: 1024,
  sha256: 'ef'.repeat(32),
  durationMs: 300,
});

beforeAll(async () => {
  db = await createTestDatabase('server_history');
  pool = new pg.Pool({ ...parseDatabaseUrl(db.url).pgConfig, ssl: false, max: 4 });
  await ensureHistory(pool, SCHEMA);
  // Columns later versions add (step, source_dump): present or not, serve reads them when there.
  await pool.query(`ALTER TABLE ${SCHEMA}.runs ADD COLUMN IF NOT EXISTS step text`);
  await pool.query(`ALTER TABLE ${SCHEMA}.runs ADD COLUMN IF NOT EXISTS source_dump jsonb`);

  ids.deploy = await startRun(pool, SCHEMA, {
    command: 'run',
    service: 'api',
    fromRevisions: ['aaa111'],
    toRevisions: ['bbb222'],
  });
  await updateRun(pool, SCHEMA, ids.deploy, {
    outcome: 'migrated',
    decision: 'allow',
    finishedAt: new Date(),
    reachedRevisions: ['bbb222'],
    dump: dump('api-before-deploy.dump'),
  });
  ids.rollback = await startRun(pool, SCHEMA, { command: 'rollback', fromRevisions: ['bbb222'] });
  await updateRun(pool, SCHEMA, ids.rollback, {
    outcome: 'rolled-back',
    finishedAt: new Date(),
    reachedRevisions: ['aaa111'],
    dump: dump('api-before-rollback.dump'),
  });
  ids.restore = await startRun(pool, SCHEMA, { command: 'restore', fromRevisions: ['aaa111'] });
  await updateRun(pool, SCHEMA, ids.restore, {
    outcome: 'restored',
    finishedAt: new Date(),
    reachedRevisions: ['aaa111'],
    dump: dump('api-before-restore.dump'),
  });
  await pool.query(`UPDATE ${SCHEMA}.runs SET source_dump = $1 WHERE id = $2`, [
    JSON.stringify({ id: 'api-before-deploy.dump', madeBy: 'run', revisions: ['aaa111'] }),
    ids.restore,
  ]);
  ids.failed = await startRun(pool, SCHEMA, { command: 'run', service: 'api', toRevisions: ['ccc333'] });
  await updateRun(pool, SCHEMA, ids.failed, {
    outcome: 'failed',
    finishedAt: new Date(),
    error: 'pg_dump exited with 1: disk full (failed at: dump)',
  });
  await pool.query(`UPDATE ${SCHEMA}.runs SET step = 'dump' WHERE id = $1`, [ids.failed]);
  // Rows no version of the gate writes: an unknown outcome, pending as an object, a number as error.
  const junk = async (sql: string) =>
    Number((await pool.query<{ id: string }>(`INSERT INTO ${SCHEMA}.runs ${sql} RETURNING id`)).rows[0]!.id);
  ids.exploded = await junk(`(command, outcome) VALUES ('run', 'exploded')`);
  ids.badPending = await junk(`(command, outcome, pending) VALUES ('run', 'noop', '{"revision": 1}')`);
  ids.latest = await startRun(pool, SCHEMA, { command: 'run', service: 'api', toRevisions: ['aaa111'] });
  await updateRun(pool, SCHEMA, ids.latest, { outcome: 'noop', decision: 'noop', finishedAt: new Date() });
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const p of pools) await p.end();
  await pool.end();
  await db.drop();
});

describe('unreadable rows', () => {
  test('/status and /metrics answer 200; the bad rows are shown as unreadable, the rest renders, the log names them', async () => {
    const base = await listen();
    const r = await get(base, '/status');
    expect(r.status).toBe(200);
    const s = JSON.parse(r.text);
    expect(s.lastRun).toMatchObject({ id: ids.latest, outcome: 'noop' });
    const byId = new Map(s.recentRuns.map((x: { id: number }) => [x.id, x]));
    expect(byId.get(ids.exploded)).toEqual({
      id: ids.exploded,
      unreadable: 'outcome "exploded" is not one migration-gate writes',
    });
    expect(byId.get(ids.badPending)).toEqual({ id: ids.badPending, unreadable: 'pending is not a list' });
    expect(byId.get(ids.deploy)).toMatchObject({ outcome: 'migrated' });

    const page = await get(base, '/status', html);
    expect(page.status).toBe(200);
    expect(page.text).toContain(
      '<span class="pill p-unreadable">unreadable</span> outcome &quot;exploded&quot;',
    );
    expect(page.text).toContain(`#${ids.deploy}`);

    const m = await get(base, '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^migration_gate_history_unreadable_rows 2$/m);
    expect(m.text).toMatch(/^migration_gate_history_readable 1$/m);

    const one = await get(base, `/status/runs/${ids.exploded}`, html);
    expect(one.status).toBe(200);
    expect(one.text).toContain('This history row is unreadable: outcome &quot;exploded&quot;');

    expect(warnings).toContain(
      `history row #${ids.exploded} of ${SCHEMA}.runs is unreadable: outcome "exploded" is not one migration-gate writes; /status shows it as unreadable and renders the rest`,
    );
    // Logged once, not on every refresh.
    await get(base, `/status/runs/${ids.exploded}`);
    expect(warnings.filter((w) => w.includes(`#${ids.exploded} `))).toHaveLength(1);
  });
});

describe('recovery on /status', () => {
  test('a restore says what it restored from (the run that took it) and what the pre-restore dump is', async () => {
    const base = await listen();
    const run = JSON.parse((await get(base, `/status/runs/${ids.restore}`)).text);
    expect(run.sourceDump).toEqual({
      id: 'api-before-deploy.dump',
      madeBy: 'run',
      revisions: ['aaa111'],
      runId: ids.deploy,
      purpose: null,
    });
    expect(run.summary).toBe(
      `Restored from api-before-deploy.dump, taken before deploy #${ids.deploy}; the database is at aaa111. The state before the restore was saved first as api-before-restore.dump. Deploy code that matches this revision.`,
    );
    const page = (await get(base, `/status/runs/${ids.restore}`, html)).text;
    expect(page).toContain(
      `restored from <code>api-before-deploy.dump</code>, taken before deploy <a href="/status/runs/${ids.deploy}">#${ids.deploy}</a>`,
    );
    expect(page).toContain(
      '<th scope="row">Pre-restore dump</th><td><strong>pre-restore safety dump</strong>',
    );
    expect(page).not.toMatch(/deploy[^#]*api-before-restore/);
  });

  test('a migrated run shows its way back: rollback and the restore of its pre-deploy dump by id', async () => {
    const base = await listen();
    const run = JSON.parse((await get(base, `/status/runs/${ids.deploy}`)).text);
    expect(run.wayBack).toEqual({
      rollback: 'migration-gate rollback --yes',
      restore: 'migration-gate restore --dump api-before-deploy.dump --yes',
      note: expect.stringContaining(
        'data the upgrade deleted or rewrote does not come back with a downgrade',
      ),
    });
    const page = (await get(base, `/status/runs/${ids.deploy}`, html)).text;
    expect(page).toContain(
      '<code class="cmd">migration-gate restore --dump api-before-deploy.dump --yes</code>',
    );
    expect(page).toContain('<code class="cmd">migration-gate rollback --yes</code>');
  });

  test('a failed run names the step it failed at', async () => {
    const base = await listen();
    const run = JSON.parse((await get(base, `/status/runs/${ids.failed}`)).text);
    expect(run.step).toBe('dump');
    expect(run.summary).toBe(
      'Failed at dump: pg_dump exited with 1: disk full. Fix the cause and re-deploy.',
    );
    const list = (await get(base, '/status', html)).text;
    expect(list).toContain('failed at: dump');
  });
});

describe('a history table serve cannot read', () => {
  test('wrong shape: a cause naming the table and the fix; the version table still shows', async () => {
    const other = 'wrong_shape';
    await pool.query(`CREATE SCHEMA ${other}`);
    await pool.query(`CREATE TABLE ${other}.runs (run_no int, note text)`);
    const base = await listen({ schema: other });
    const r = await get(base, '/status');
    expect(r.status).toBe(200);
    const s = JSON.parse(r.text);
    expect(s.database.status).toBe('reachable');
    expect(s.historyProblem).toMatch(
      /^the history table wrong_shape\.runs does not have the columns migration-gate writes \(column r\.\w+ does not exist\): .*ALTER TABLE "wrong_shape"\.runs RENAME TO runs_old.*MIGRATION_GATE_HISTORY_SCHEMA/,
    );
    expect(s.summary).toMatch(/^The history cannot be read: the history table wrong_shape\.runs/);
    const page = await get(base, '/status', html);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<strong>History unreadable</strong>');
    const m = await get(base, '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^migration_gate_history_readable 0$/m);
    const one = await get(base, '/status/runs/1');
    expect(one.status).toBe(503);
    expect(JSON.parse(one.text).message).toMatch(/^Cannot read run #1: the history table wrong_shape\.runs/);
  });

  test('no privilege: a cause naming the user, the table, the privilege and the GRANT to run', async () => {
    const role = `reader_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    try {
      const url = serverUrl(db.name, { user: role, password });
      const reader = new pg.Pool({ ...parseDatabaseUrl(url).pgConfig, ssl: false, max: 2 });
      pools.push(reader);
      const base = await listen({ pool: reader, secrets: [password] });
      const s = JSON.parse((await get(base, '/status')).text);
      expect(s.database.status).toBe('reachable');
      expect(s.historyProblem).toBe(
        `the database user "${role}" may not read the history table ${SCHEMA}.runs (permission denied for schema ${SCHEMA}): serve needs USAGE on schema ${SCHEMA} and SELECT on ${SCHEMA}.runs. As the table's owner run: GRANT USAGE ON SCHEMA "${SCHEMA}" TO "${role}"; GRANT SELECT ON "${SCHEMA}".runs TO "${role}";`,
      );
      expect((await get(base, '/metrics')).status).toBe(200);
      await reader.end();
      pools.pop();
    } finally {
      await adminQuery(`DROP OWNED BY ${role}`, [], db.name).catch(() => undefined);
      await adminQuery(`DROP ROLE ${role}`);
    }
  });
});

describe('dead runs', () => {
  test('a running row whose process is gone shows as interrupted; a live one (holding its row lock) as running', async () => {
    // No liveness lock held: the process that wrote it is gone (SIGKILL, OOM).
    const dead = Number(
      (
        await pool.query<{ id: string }>(
          `INSERT INTO ${SCHEMA}.runs (command, outcome, step) VALUES ('run', 'running', 'upgrade') RETURNING id`,
        )
      ).rows[0]!.id,
    );
    const base = await listen({ cacheMs: 0 });
    const s = JSON.parse((await get(base, '/status')).text);
    expect(s.lastRun).toMatchObject({ id: dead, outcome: 'interrupted' });
    expect(s.lastRun.error).toBe(
      'the gate process ended without recording a result (killed, out of memory, or the instance was stopped); the next gate run closes this row as interrupted',
    );
    expect(s.summary).toBe(
      'Interrupted at upgrade: the gate process ended without recording a result (killed, out of memory, or the instance was stopped); the next gate run closes this row as interrupted. Fix the cause and re-deploy.',
    );
    expect(s.inProgress.running).toBe(false);
    const m = (await get(base, '/metrics')).text;
    expect(m).not.toMatch(/^migration_gate_runs\{outcome="running"/m);
    expect(m).toMatch(/^migration_gate_last_run_info\{outcome="interrupted",decision="none"\} 1$/m);

    // A live run (its session holds the row lock, e.g. while it waits for the gate lock).
    const client = new pg.Client({ ...parseDatabaseUrl(db.url).pgConfig, ssl: false });
    await client.connect();
    try {
      const live = await startRun(client, SCHEMA, { command: 'run', service: 'api' });
      const s2 = JSON.parse((await get(base, '/status')).text);
      expect(s2.lastRun).toMatchObject({ id: live, outcome: 'running' });
      expect(s2.summary).toMatch(new RegExp(`^In progress: run #${live} started at`));
      expect(s2.recentRuns.find((r: { id: number }) => r.id === dead).outcome).toBe('interrupted');
    } finally {
      await client.end();
    }
    // Its process ends without a word: interrupted from the next read on.
    const s3 = JSON.parse((await get(base, '/status')).text);
    expect(s3.lastRun.outcome).toBe('interrupted');
  });
});
