/**
 * The pre-deploy gate end to end: the built CLI, a real PostgreSQL, the real pg_dump/pg_restore and
 * alembic. Each fault ends with a non-zero exit, a one-line cause and a history record, and two
 * invariants hold throughout: no migration without a verified dump, and a blocked migration never runs.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import {
  alembicBin,
  createTestDatabase,
  getTestServer,
  serverUrl,
  type TestDatabase,
} from '../harness/pg.js';
import {
  EXAMPLE_ADDITIVE,
  EXAMPLE_BASE,
  EXAMPLE_DESTRUCTIVE,
  repoRoot,
  tempProject,
  type TempProject,
} from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  db: TestDatabase;
  project: TempProject;
  dumps: string;
}

async function setup(name: string, examples: string[]): Promise<Setup> {
  const db = await createTestDatabase(name);
  const project = tempProject([], { withExample: examples });
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-dumps-'));
  cleanups.push(
    () => db.drop(),
    () => project.cleanup(),
    () => rmSync(dumps, { recursive: true, force: true }),
  );
  return { db, project, dumps };
}

function gate(s: Setup, env: Record<string, string> = {}, url = s.db.url) {
  return execa('node', [cli, 'run'], {
    cwd: s.project.dir,
    env: {
      DATABASE_URL: url,
      ALEMBIC_CONFIG: s.project.ini,
      MIGRATION_GATE_ALEMBIC: alembicBin(),
      MIGRATION_GATE_DUMP_TARGET: `file://${s.dumps}`,
      MIGRATION_GATE_LOG_FORMAT: 'text',
      MIGRATION_GATE_CONNECT_TIMEOUT: '3',
      RENDER: '',
      MIGRATION_GATE_ALLOW: '',
      MIGRATION_GATE_ALLOW_REASON: '',
      ...env,
    },
    reject: false,
    all: true,
  });
}

async function query<T extends pg.QueryResultRow>(
  db: TestDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const version = async (db: TestDatabase) =>
  (await query<{ version_num: string }>(db, 'SELECT version_num FROM alembic_version').catch(() => [])).map(
    (r) => r.version_num,
  );
const lastRun = async (db: TestDatabase) =>
  (
    await query<Record<string, unknown>>(db, 'SELECT * FROM migration_gate.runs ORDER BY id DESC LIMIT 1')
  )[0]!;
const dumpFiles = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.dump'));

async function upgradeTo(s: Setup, rev: string) {
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', rev], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
}

/** The last line of stderr: the one-line cause. */
const cause = (all: string) =>
  all
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('migration-gate:'))
    .pop() ?? '';

describe('happy paths', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup('run_happy', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    await query(
      s.db,
      "INSERT INTO users (email, name) VALUES ('a@example.com', 'A'), ('b@example.com', NULL)",
    );
  });

  test('an additive migration runs after a verified dump, and the run is recorded', async () => {
    const res = await gate(s, { RENDER_GIT_COMMIT: 'abc123def456', RENDER_SERVICE_NAME: 'api' });
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('additive    fd4af8236c7d');
    expect(res.all).toContain('Safety dump verified');
    expect(res.all).toMatch(/Migrated 1a2b3c4d5e6f -> fd4af8236c7d/);
    expect(await version(s.db)).toEqual(['fd4af8236c7d']);
    const files = dumpFiles(s.dumps);
    expect(files).toHaveLength(1);
    // The archive is a real, restorable custom-format dump.
    const list = await execa('pg_restore', ['--list', path.join(s.dumps, files[0]!)]);
    expect(list.stdout).toContain('TABLE DATA public users');
    const run = await lastRun(s.db);
    expect(run).toMatchObject({
      outcome: 'migrated',
      decision: 'allow',
      commit: 'abc123def456',
      service: 'api',
    });
    expect(run.from_revisions).toEqual(['1a2b3c4d5e6f']);
    expect(run.reached_revisions).toEqual(['fd4af8236c7d']);
    expect((run.dump as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(run)).not.toContain(getTestServer().password);
    expect(res.all).not.toContain(getTestServer().password);
    // Every step is timed in the log, and the row ends at the last step.
    for (const step of ['connect', 'lock', 'load', 'decide', 'dump', 'upgrade', 'verify-head', 'record'])
      expect(res.all).toMatch(new RegExp(`step ${step}: \\d+\\.\\ds`));
    expect(run.step).toBe('record');
  });

  test('nothing pending: exit 0 at once, no dump, recorded as noop', async () => {
    const before = dumpFiles(s.dumps).length;
    const res = await gate(s);
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('Nothing pending: the database is at fd4af8236c7d');
    expect(res.all).not.toContain('alembic:');
    expect(dumpFiles(s.dumps).length).toBe(before);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'noop', decision: 'noop', step: 'record' });
    // The no-op path never reaches the migrate steps.
    expect(res.all).toMatch(/step load: \d+\.\ds/);
    expect(res.all).not.toContain('step decide');
  });

  test('a history table from before the step column gets it on the next run', async () => {
    await query(s.db, 'ALTER TABLE migration_gate.runs DROP COLUMN step');
    const res = await gate(s);
    expect(res.exitCode).toBe(0);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'noop', step: 'record' });
  });

  test('dumps lists the stored safety dump and dumps get downloads a restorable copy', async () => {
    const env = { MIGRATION_GATE_DUMP_TARGET: `file://${s.dumps}` };
    const list = await execa('node', [cli, 'dumps'], { env, reject: false, all: true });
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toContain(`Safety dumps in file://${s.dumps}`);
    expect(list.stdout).toMatch(/1a2b3c4d5e6f_to_fd4af8236c7d/);
    const out = path.join(s.dumps, 'copy.bin');
    const get = await execa('node', [cli, 'dumps', 'get', 'latest', '--out', out], {
      env,
      reject: false,
      all: true,
    });
    expect(get.exitCode).toBe(0);
    expect(get.stdout).toContain(`to ${out}`);
    const toc = await execa('pg_restore', ['--list', out]);
    expect(toc.stdout).toContain('TABLE DATA public users');
    const missing = await execa('node', [cli, 'dumps', 'get', 'nope'], { env, reject: false, all: true });
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toContain("no dump 'nope'");
  });

  test('a destructive migration is blocked, never runs, and the report says how to override', async () => {
    // The destructive revision arrives with the next push.
    const { cpSync } = await import('node:fs');
    cpSync(
      path.join(repoRoot, 'examples/window-builder/migrations/versions', EXAMPLE_DESTRUCTIVE),
      path.join(s.project.versions, EXAMPLE_DESTRUCTIVE),
    );
    const before = dumpFiles(s.dumps).length;
    const res = await gate(s);
    expect(res.exitCode).toBe(2);
    expect(res.all).toContain('DESTRUCTIVE 7c1e2d9a0b3f');
    expect(res.all).toContain('drop-column');
    expect(res.all).toContain('MIGRATION_GATE_ALLOW=7c1e2d9a0b3f and MIGRATION_GATE_ALLOW_REASON=');
    expect(await version(s.db)).toEqual(['fd4af8236c7d']);
    const cols = await query(
      s.db,
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'name'",
    );
    expect(cols).toHaveLength(1);
    expect(dumpFiles(s.dumps).length).toBe(before);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'blocked', decision: 'block' });
  });

  test('the status service shows the blocked run written by the real gate, with how to override', async () => {
    const { startServe } = await import('../../src/server/serve.js');
    const { silentLogger } = await import('../../src/log.js');
    const server = await startServe({
      databaseUrl: s.db.url,
      port: 0,
      host: '127.0.0.1',
      token: 'status-token-123456',
      requireToken: true,
      schema: 'migration_gate',
      logger: silentLogger(),
    });
    try {
      const auth = { authorization: 'Bearer status-token-123456' };
      const json = (await (await fetch(`${server.url}/status`, { headers: auth })).json()) as {
        summary: string;
        lastRun: { outcome: string; pending: Array<{ revision: string; verdict: string }> };
      };
      expect(json.lastRun.outcome).toBe('blocked');
      expect(json.lastRun.pending.map((p) => [p.revision, p.verdict])).toEqual([
        ['7c1e2d9a0b3f', 'destructive'],
      ]);
      expect(json.summary).toContain('MIGRATION_GATE_ALLOW=7c1e2d9a0b3f');
      const html = await (
        await fetch(`${server.url}/status`, { headers: { ...auth, accept: 'text/html' } })
      ).text();
      expect(html).toContain('7c1e2d9a0b3f');
      expect(html).not.toContain(getTestServer().password);
      const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
      expect(metrics).toMatch(/migration_gate_runs\{[^}]*outcome="blocked"[^}]*\} 1/);
      expect((await fetch(`${server.url}/status`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  test('a stale override naming another revision does not allow it', async () => {
    const res = await gate(s, {
      MIGRATION_GATE_ALLOW: 'fd4af8236c7d',
      MIGRATION_GATE_ALLOW_REASON: 'old flag',
    });
    expect(res.exitCode).toBe(2);
    expect(res.all).toContain('MIGRATION_GATE_ALLOW names fd4af8236c7d, which is not pending');
    expect(await version(s.db)).toEqual(['fd4af8236c7d']);
  });

  test('an override without a reason is a configuration error', async () => {
    const res = await gate(s, { MIGRATION_GATE_ALLOW: '7c1e2d9a0b3f' });
    expect(res.exitCode).toBe(3);
    expect(res.all).toContain('MIGRATION_GATE_ALLOW is set without MIGRATION_GATE_ALLOW_REASON');
  });

  test('the override that names the revision lets it through, recorded with its reason', async () => {
    const res = await gate(s, {
      MIGRATION_GATE_ALLOW: '7c1e2d9a0b3f',
      MIGRATION_GATE_ALLOW_REASON: 'users.name unused since v2',
    });
    expect(res.exitCode).toBe(0);
    expect(await version(s.db)).toEqual(['7c1e2d9a0b3f']);
    const run = await lastRun(s.db);
    expect(run).toMatchObject({ outcome: 'migrated' });
    expect(run.override).toMatchObject({
      revisions: ['7c1e2d9a0b3f'],
      reason: 'users.name unused since v2',
      all: false,
    });
  });

  test('code rollback: the database is ahead because a later deploy migrated it', async () => {
    const { rmSync: rm } = await import('node:fs');
    rm(path.join(s.project.versions, EXAMPLE_DESTRUCTIVE));
    const res = await gate(s);
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('Code rollback: the database is at 7c1e2d9a0b3f');
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'code-rollback' });
    const strict = await gate(s, { MIGRATION_GATE_CODE_ROLLBACK: 'block' });
    expect(strict.exitCode).toBe(2);
  });
});

describe('faults', () => {
  test('wrong password: one line, no password, exit 4', async () => {
    const s = await setup('run_pw', [EXAMPLE_BASE]);
    const url = serverUrl(s.db.name, { password: 'not-the-password-xyz' });
    const res = await gate(s, {}, url);
    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toMatch(/password authentication failed|wrong password/i);
    expect(res.all).not.toContain('not-the-password-xyz');
    expect(res.all).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('database down (nothing listening): exit 4 with a clear cause', async () => {
    const s = await setup('run_down', [EXAMPLE_BASE]);
    const res = await gate(s, {}, serverUrl(s.db.name, { port: 1 }));
    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toMatch(/refused|not running|cannot connect/i);
  });

  test('pg_dump missing: no migration, recorded as failed', async () => {
    const s = await setup('run_nodump', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    const res = await gate(s, { MIGRATION_GATE_PG_DUMP: '/nonexistent/pg_dump' });
    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toContain('pg_dump');
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    const run = await lastRun(s.db);
    expect(run).toMatchObject({ outcome: 'failed' });
    // The row names the step that failed, so /status can show where the run stopped.
    expect(run.step).toMatch(/^(preflight|dump)$/);
    expect(run.error).toMatch(/\(failed at: (preflight|dump)\)$/);
  });

  test('dump target not writable: no migration, no partial file', async () => {
    const s = await setup('run_ro', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    const file = path.join(s.dumps, 'not-a-dir');
    writeFileSync(file, 'x');
    const res = await gate(s, { MIGRATION_GATE_DUMP_TARGET: `file://${file}/sub` });
    expect(res.exitCode).not.toBe(0);
    expect(cause(res.all)).toMatch(/dump/i);
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(dumpFiles(s.dumps)).toHaveLength(0);
    expect((await lastRun(s.db)).outcome).toMatch(/failed/);
  });

  test('pg_dump killed mid-dump: no migration', async () => {
    const s = await setup('run_kill', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    // A pg_dump that starts writing an archive and is then killed.
    const fake = path.join(s.dumps, 'pg_dump');
    writeFileSync(
      fake,
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec pg_dump --version; fi\npg_dump "$@" | head -c 100\nkill -9 $$\n`,
    );
    chmodSync(fake, 0o755);
    const res = await gate(s, {
      MIGRATION_GATE_PG_DUMP: fake,
      MIGRATION_GATE_DUMP_TARGET: `file://${s.dumps}/out`,
    });
    expect(res.exitCode).toBe(4);
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(existsSync(path.join(s.dumps, 'out')) ? dumpFiles(path.join(s.dumps, 'out')) : []).toHaveLength(0);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed' });
  });

  test('pg_dump older than the server: a clear error saying what to install, no migration', async () => {
    const s = await setup('run_olddump', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    const fake = path.join(s.dumps, 'pg_dump14');
    writeFileSync(fake, '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.9"\n');
    chmodSync(fake, 0o755);
    const res = await gate(s, { MIGRATION_GATE_PG_DUMP: fake });
    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toContain(
      'pg_dump 14.9 cannot dump a PostgreSQL 15 server: install postgresql-client-15',
    );
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed' });
  });

  test('on Render a local dump target is refused when migrations will run, and not needed when none will', async () => {
    const s = await setup('run_render', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    const res = await gate(s, { RENDER: 'true' });
    expect(res.exitCode).toBe(3);
    expect(res.all).toContain('on Render the pre-deploy command runs on an instance whose disk is discarded');
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed' });
    const accepted = await gate(s, { RENDER: 'true', MIGRATION_GATE_ACCEPT_EPHEMERAL_DUMP: 'true' });
    expect(accepted.exitCode).toBe(0);
    const noop = await gate(s, { RENDER: 'true', MIGRATION_GATE_DUMP_TARGET: '' });
    expect(noop.exitCode).toBe(0);
    expect(noop.all).toContain('Nothing pending');
  });

  test('dump policy never migrates without a dump and records it', async () => {
    const s = await setup('run_never', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    const res = await gate(s, { MIGRATION_GATE_DUMP_POLICY: 'never', MIGRATION_GATE_DUMP_TARGET: '' });
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('WITHOUT a safety dump');
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'migrated', dump_policy: 'never', dump: null });
  });

  test('a migration that fails half-way: exit 4, the cause, the revision reached', async () => {
    const s = await setup('run_half', [EXAMPLE_BASE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    await query(s.db, "INSERT INTO users (email, name) VALUES ('x@example.com', NULL)");
    s.project.write({
      id: 'aa01',
      down: '1a2b3c4d5e6f',
      upgrade: "op.add_column('users', sa.Column('nickname', sa.Text(), nullable=True))",
    });
    s.project.write({
      id: 'aa02',
      down: 'aa01',
      upgrade: "op.alter_column('users', 'name', nullable=False)",
    });
    const res = await gate(s, { MIGRATION_GATE_ALLOW: 'aa02', MIGRATION_GATE_ALLOW_REASON: 'test' });
    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toContain('alembic upgrade failed');
    expect(res.all).toMatch(/contains null values|NotNullViolation/);
    expect(await version(s.db)).toEqual(['aa01']); // transaction_per_migration: the first one stays
    expect(dumpFiles(s.dumps)).toHaveLength(1);
    const run = await lastRun(s.db);
    expect(run).toMatchObject({ outcome: 'failed' });
    expect(run.reached_revisions).toEqual(['aa01']);
  });

  test('a migration stuck on a lock: lock_timeout fires, retried, then a clear failure', async () => {
    const s = await setup('run_lock', [EXAMPLE_BASE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    s.project.write({
      id: 'bb01',
      down: '1a2b3c4d5e6f',
      upgrade: "op.add_column('users', sa.Column('bio', sa.Text(), nullable=True))",
    });
    const holder = new pg.Client({ connectionString: s.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE users IN SHARE MODE');
    try {
      const res = await gate(s, {
        MIGRATION_GATE_LOCK_TIMEOUT: '300ms',
        MIGRATION_GATE_LOCK_RETRIES: '1',
        MIGRATION_GATE_RETRY_BACKOFF: '0.1',
      });
      expect(res.exitCode).toBe(4);
      expect(res.all).toContain('Retrying in');
      expect(cause(res.all)).toContain('lock_timeout=300ms');
      expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed' });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
  });

  test('two runs at once: the second waits, then fails naming the first', async () => {
    const s = await setup('run_twice', [EXAMPLE_BASE]);
    const holder = new pg.Client({ connectionString: s.db.url, application_name: 'migration-gate run' });
    await holder.connect();
    const { GATE_LOCK_KEY } = await import('../../src/db/lock.js');
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [GATE_LOCK_KEY.toString()]);
    try {
      const res = await gate(s, { MIGRATION_GATE_LOCK_WAIT: '1' });
      expect(res.exitCode).toBe(4);
      expect(cause(res.all)).toContain('another deploy is migrating this database since');
      expect(cause(res.all)).toContain("application 'migration-gate run'");
    } finally {
      await holder.end();
    }
    expect(await version(s.db)).toEqual([]);
  });

  test('SIGTERM during the upgrade: forwarded, recorded as interrupted, exit non-zero', async () => {
    const s = await setup('run_term', [EXAMPLE_BASE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    s.project.write({
      id: 'cc01',
      down: '1a2b3c4d5e6f',
      upgrade:
        "op.create_table('slow', sa.Column('id', sa.Integer(), primary_key=True))\nop.execute('SELECT pg_sleep(30)')",
    });
    const child = gate(s, { MIGRATION_GATE_ALLOW: 'cc01', MIGRATION_GATE_ALLOW_REASON: 'test' });
    let seen = '';
    await new Promise<void>((resolve) => {
      child.all!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('Running alembic upgrade')) resolve();
      });
      void child.then(() => resolve());
    });
    // Signal once the migration's statement is running (a fixed delay is too short on a busy machine).
    for (let i = 0; i < 100; i++) {
      const sleeping = await query(
        s.db,
        "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'migration-gate alembic%' AND query LIKE '%pg_sleep%'",
      );
      if (sleeping.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGTERM');
    const res = await child;

    expect(res.exitCode).toBe(4);
    expect(cause(res.all)).toContain('interrupted');
    expect(await version(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'interrupted' });
    expect((await lastRun(s.db)).reached_revisions).toEqual(['1a2b3c4d5e6f']);
    // The orphaned statement was stopped, not left sleeping with its locks: by the gate
    // (pg_terminate_backend), or first by the server itself, which checks for a vanished client
    // (client_connection_check_interval, PostgreSQL 14+). Which one wins is a race.
    const orphans = await query(
      s.db,
      "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'migration-gate alembic%'",
    );
    expect(orphans).toHaveLength(0);
    // The lock was released: the next deploy (which reverted the slow migration) gets it at once.
    s.project.remove('cc01');
    const again = await gate(s, { MIGRATION_GATE_LOCK_WAIT: '1' });
    expect(again.exitCode).toBe(0);
    expect(again.all).toContain('Nothing pending');
  });

  test('a broken migration file: exit 3 naming the file and line, recorded', async () => {
    const s = await setup('run_broken', [EXAMPLE_BASE]);
    writeFileSync(
      path.join(s.project.versions, 'dd01_broken.py'),
      "revision = 'dd01'\ndown_revision = '1a2b3c4d5e6f'\ndef upgrade(:\n    pass\n",
    );
    const res = await gate(s);
    expect(res.exitCode).toBe(3);
    expect(cause(res.all)).toMatch(/dd01_broken\.py:3/);
    expect(res.all).not.toMatch(/\n\s+at /);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed' });
  });

  test('multiple heads: blocked, says to merge', async () => {
    const s = await setup('run_heads', [EXAMPLE_BASE]);
    s.project.write({
      id: 'ee01',
      down: '1a2b3c4d5e6f',
      upgrade: "op.create_table('a1', sa.Column('id', sa.Integer(), primary_key=True))",
    });
    s.project.write({
      id: 'ee02',
      down: '1a2b3c4d5e6f',
      upgrade: "op.create_table('a2', sa.Column('id', sa.Integer(), primary_key=True))",
    });
    const res = await gate(s);
    expect(res.exitCode).toBe(2);
    expect(res.all).toContain('alembic merge');
    expect(await version(s.db)).toEqual([]);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'blocked' });
  });

  test('unknown current revision: blocked with an explanation', async () => {
    const s = await setup('run_unknown', [EXAMPLE_BASE]);
    await upgradeTo(s, '1a2b3c4d5e6f');
    await query(s.db, "UPDATE alembic_version SET version_num = 'deadbeef0000'");
    const res = await gate(s);
    expect(res.exitCode).toBe(2);
    expect(res.all).toContain('deadbeef0000, which is not in this code');
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'blocked' });
  });
});

describe('notifications', () => {
  test('a blocked run posts a JSON webhook with the decision and no secret; the exit code is unchanged', async () => {
    const s = await setup('run_hook', [EXAMPLE_BASE, EXAMPLE_ADDITIVE, EXAMPLE_DESTRUCTIVE]);
    await upgradeTo(s, 'fd4af8236c7d');
    const bodies: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(bodies.length === 1 ? 503 : 200).end('ok'); // the first attempt fails: retried
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const res = await gate(s, {
        MIGRATION_GATE_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
        MIGRATION_GATE_WEBHOOK_FORMAT: 'json',
        MIGRATION_GATE_STATUS_URL: 'https://gate.example.com/status',
      });
      expect(res.exitCode).toBe(2);
      expect(bodies).toHaveLength(2);
      const payload = JSON.parse(bodies[1]!);
      expect(JSON.stringify(payload)).toContain('7c1e2d9a0b3f');
      expect(JSON.stringify(payload)).toContain('blocked');
      expect(bodies[1]).not.toContain(getTestServer().password);
      // A webhook that is down never changes the gate's exit code.
      server.close();
      const again = await gate(s, { MIGRATION_GATE_WEBHOOK_URL: `http://127.0.0.1:${port}/hook` });
      expect(again.exitCode).toBe(2);
      expect(again.all).toContain('Webhook not delivered');
    } finally {
      server.close();
    }
  });
});
