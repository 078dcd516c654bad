/**
 * The benchmark database generator against a real PostgreSQL and the real Alembic with the example
 * project: right size, the example's base revision, idempotent, reset after migrations, and refusing
 * to overwrite a database it did not build.
 */
import { execa } from 'execa';
import pg from 'pg';
import {
  BENCH_BASE_REVISION,
  BENCH_PENDING_REVISION,
  createBenchDatabase,
  exampleProjectDir,
} from '../../bench/bench-db.js';
import { ConfigError } from '../../src/errors.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';

// Real alembic and PostgreSQL; jest ignores testTimeout inside `projects`, so set it per test.
const TIMEOUT = 120_000;
const MiB = 1024 * 1024;

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function alembic(url: string, ...args: string[]) {
  return execa(alembicBin(), ['-c', `${exampleProjectDir()}alembic.ini`, ...args], {
    env: { DATABASE_URL: url },
    all: true,
  });
}

describe('createBenchDatabase', () => {
  let db: TestDatabase;
  let other: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('bench');
    other = await createTestDatabase('bench_foreign');
  }, TIMEOUT);
  afterAll(async () => {
    await db.drop();
    await other.drop();
  });

  test(
    'builds about targetBytes at the base revision, with progress lines',
    async () => {
      const lines: string[] = [];
      const result = await createBenchDatabase(db.url, { targetBytes: 24 * MiB, log: (l) => lines.push(l) });
      expect(result.created).toBe(true);
      expect(result.bytes).toBeGreaterThan(24 * MiB * 0.85);
      expect(result.bytes).toBeLessThan(24 * MiB * 1.25);
      expect(lines[0]).toContain(`at revision ${BENCH_BASE_REVISION}`);
      expect(lines.at(-1)).toMatch(/^bench-db: done: \d+ MiB \(target 24 MiB\) in [\d.]+s$/);

      const [counts] = await query<{ users: string; projects: string; events: string; version: string }>(
        db.url,
        `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM projects) AS projects,
              (SELECT count(*) FROM events) AS events, (SELECT string_agg(version_num, ',') FROM alembic_version) AS version`,
      );
      expect(counts).toEqual({
        users: String(result.users),
        projects: String(result.projects),
        events: String(result.events),
        version: BENCH_BASE_REVISION,
      });
      // The one pending migration, as the real Alembic sees it.
      const heads = await alembic(db.url, 'current');
      expect(heads.all).toContain(BENCH_BASE_REVISION);
    },
    TIMEOUT,
  );

  test(
    'a second call with the same target keeps the data',
    async () => {
      const lines: string[] = [];
      const again = await createBenchDatabase(db.url, { targetBytes: 24 * MiB, log: (l) => lines.push(l) });
      expect(again.created).toBe(false);
      expect(again.resetFrom).toBeUndefined();
      expect(lines).toEqual([expect.stringMatching(/already has \d+ MiB of bench data$/)]);
    },
    TIMEOUT,
  );

  test(
    'after the example migrations ran (even the destructive one) it is put back at the base revision',
    async () => {
      await alembic(db.url, 'upgrade', BENCH_PENDING_REVISION);
      await alembic(db.url, 'upgrade', 'head');
      const reset = await createBenchDatabase(db.url, { targetBytes: 24 * MiB, log: () => undefined });
      expect(reset).toMatchObject({ created: false, resetFrom: '7c1e2d9a0b3f' });
      const upgraded = await alembic(db.url, 'upgrade', BENCH_PENDING_REVISION);
      expect(upgraded.all).toContain(
        `Running upgrade ${BENCH_BASE_REVISION} -> ${BENCH_PENDING_REVISION}, window builder`,
      );
    },
    TIMEOUT,
  );

  test(
    'refuses to overwrite a database that holds other tables',
    async () => {
      await query(other.url, 'CREATE TABLE invoices (id int)');
      const attempt = createBenchDatabase(other.url, { targetBytes: 16 * MiB, log: () => undefined });
      await expect(attempt).rejects.toThrow(ConfigError);
      await expect(attempt).rejects.toThrow(
        /already has tables \(invoices\) and no bench_meta marker: refusing to overwrite it/,
      );
      expect(await query(other.url, 'SELECT * FROM invoices')).toEqual([]);
    },
    TIMEOUT,
  );
});
