import type pg from 'pg';
import { FailedError } from '../../src/errors.js';
import { connect, parseDatabaseUrl } from '../../src/db/connect.js';
import { acquireGateLock, lockHolder } from '../../src/db/lock.js';
import { readCurrentRevisions } from '../../src/db/version.js';
import {
  invalidIndexes,
  looksLikePooler,
  poolerReason,
  serverVersion,
  tableSizes,
} from '../../src/db/catalog.js';
import { createTestDatabase, type TestDatabase } from '../harness/pg.js';

let db: TestDatabase;
const clients: pg.Client[] = [];
async function open(app = 'migration-gate'): Promise<pg.Client> {
  const c = await connect(parseDatabaseUrl(db.url), { applicationName: app });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  db = await createTestDatabase('db_lock_catalog');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await db?.drop();
});

describe('gate lock', () => {
  it('lets one session in, names the holder to the other, and is free after release', async () => {
    const a = await open('deploy-a');
    const b = await open('deploy-b');
    const lock = await acquireGateLock(a, { waitMs: 0 });

    const holder = await lockHolder(b);
    const { rows } = await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(holder).toMatchObject({ pid: rows[0]!.pid, application: 'deploy-a' });
    expect(holder!.since).toBeInstanceOf(Date);

    const started = Date.now();
    let err: unknown;
    try {
      await acquireGateLock(b, { waitMs: 300, pollMs: 50 });
    } catch (e) {
      err = e;
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(err).toBeInstanceOf(FailedError);
    const msg = (err as Error).message;
    expect(msg).toContain(`another deploy is migrating this database since ${holder!.since!.toISOString()}`);
    expect(msg).toContain(`(pid ${holder!.pid}, application 'deploy-a')`);
    expect(msg).toContain(`SELECT pg_terminate_backend(${holder!.pid})`);

    await lock.release();
    expect(await lockHolder(b)).toBeNull();
    const lockB = await acquireGateLock(b, { waitMs: 0 });
    await lockB.release();
  });

  it('waits for a holder that finishes within waitMs', async () => {
    const a = await open();
    const b = await open();
    const lock = await acquireGateLock(a, { waitMs: 0 });
    setTimeout(() => void lock.release(), 150);
    const lockB = await acquireGateLock(b, { waitMs: 5000, pollMs: 25 });
    await lockB.release();
  });

  it('is released when the holding session dies', async () => {
    const a = await open();
    const b = await open();
    await acquireGateLock(a, { waitMs: 0 });
    await a.end();
    const lockB = await acquireGateLock(b, { waitMs: 2000, pollMs: 25 });
    await lockB.release();
  });
});

describe('version table', () => {
  it('reads [] when absent, then the stored revisions (also in another schema)', async () => {
    const c = await open();
    expect(await readCurrentRevisions(c)).toEqual([]);
    await c.query('CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)');
    expect(await readCurrentRevisions(c)).toEqual([]);
    await c.query("INSERT INTO alembic_version VALUES ('b2'), ('a1')");
    expect(await readCurrentRevisions(c)).toEqual(['a1', 'b2']);

    await c.query('CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."my""versions" (version_num text)');
    await c.query(`INSERT INTO "Odd Schema"."my""versions" VALUES ('c3')`);
    expect(await readCurrentRevisions(c, { schema: 'Odd Schema', table: 'my"versions' })).toEqual(['c3']);
    expect(await readCurrentRevisions(c, { schema: 'nope', table: 'alembic_version' })).toEqual([]);
  });
});

describe('catalog', () => {
  it('reports the server version', async () => {
    const c = await open();
    const v = await serverVersion(c);
    expect(v.num).toBeGreaterThanOrEqual(120000);
    expect(v.text).toMatch(/^\d+\.\d+/);
  });

  it('reports estimated rows and bytes for existing tables only', async () => {
    const c = await open();
    await c.query('CREATE TABLE users (id int PRIMARY KEY, name text)');
    await c.query("INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 5000) g");
    await c.query('CREATE TABLE never_analyzed (id int)');
    await c.query('CREATE SCHEMA billing; CREATE TABLE billing."Invoices" (id int)');
    await c.query('INSERT INTO billing."Invoices" SELECT generate_series(1, 100)');
    await c.query('ANALYZE users; ANALYZE billing."Invoices"');

    const sizes = await tableSizes(c, [
      'users',
      'never_analyzed',
      'billing.Invoices',
      'missing',
      'nope.users',
    ]);
    expect([...sizes.keys()].sort()).toEqual(['billing.Invoices', 'never_analyzed', 'users']);
    expect(sizes.get('users')!.rows).toBe(5000);
    expect(sizes.get('users')!.bytes).toBeGreaterThan(100_000);
    expect(sizes.get('never_analyzed')!.rows).toBeNull();
    expect(sizes.get('billing.Invoices')!.rows).toBe(100);
    expect(await tableSizes(c, [])).toEqual(new Map());
  });

  it('sums the partitions of a partitioned table', async () => {
    const c = await open();
    await c.query(`CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
      CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      INSERT INTO events SELECT g, '2024-06-01'::date + (g % 400) FROM generate_series(1, 2000) g;
      ANALYZE events`);
    const sizes = await tableSizes(c, ['events']);
    expect(sizes.get('events')!.rows).toBe(2000);
    expect(sizes.get('events')!.bytes).toBeGreaterThan(0);
  });

  it('finds an index left invalid by a failed CREATE INDEX CONCURRENTLY', async () => {
    const c = await open();
    await c.query('CREATE TABLE dupes (email text)');
    await c.query("INSERT INTO dupes VALUES ('a@x'), ('a@x')");
    await expect(
      c.query('CREATE UNIQUE INDEX CONCURRENTLY dupes_email_key ON dupes (email)'),
    ).rejects.toThrow(/could not create unique index/);
    const invalid = await invalidIndexes(c);
    expect(invalid).toEqual([
      {
        schema: 'public',
        name: 'dupes_email_key',
        table: 'dupes',
        fix: 'DROP INDEX CONCURRENTLY "public"."dupes_email_key";',
      },
    ]);
    await c.query(invalid[0]!.fix);
    expect(await invalidIndexes(c)).toEqual([]);
  });

  it('recognises pooler-looking targets', () => {
    expect(looksLikePooler(parseDatabaseUrl('postgresql://u:p@db.example:6432/app'))).toBe(true);
    expect(looksLikePooler(parseDatabaseUrl('postgresql://u:p@app-pooler.example/app'))).toBe(true);
    expect(poolerReason(parseDatabaseUrl('postgresql://u:p@h/app?pgbouncer=true'))).toContain(
      'pgbouncer=true',
    );
    expect(looksLikePooler(parseDatabaseUrl('postgresql://u:p@dpg-abc.oregon-postgres.render.com/app'))).toBe(
      false,
    );
  });
});
