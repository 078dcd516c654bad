/**
 * examples/window-builder is a working Alembic project: the real Alembic walks its three revisions
 * up and down against a real PostgreSQL, the seed loads at the base revision, and the smoke check
 * (`python -m app.health`) tells a migrated database from an unmigrated one.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { exampleProjectDir } from '../../bench/bench-db.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';

// Real alembic and PostgreSQL; jest ignores testTimeout inside `projects`, so set it per test.
const TIMEOUT = 120_000;
const dir = exampleProjectDir();
const python = join(dirname(alembicBin()), 'python');

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('examples/window-builder', () => {
  let db: TestDatabase;
  // Render's spelling: env.py must accept postgres://.
  let renderUrl: string;
  const alembic = (...args: string[]) =>
    execa(alembicBin(), args, { cwd: dir, env: { DATABASE_URL: renderUrl }, all: true });
  const health = () =>
    execa(python, ['-m', 'app.health'], {
      cwd: dir,
      env: { DATABASE_URL: renderUrl },
      all: true,
      reject: false,
    });

  beforeAll(async () => {
    db = await createTestDatabase('example');
    renderUrl = db.url.replace(/^postgresql:/, 'postgres:');
  }, TIMEOUT);
  afterAll(() => db.drop());

  test(
    'history is base -> window builder -> destructive head',
    async () => {
      const { all } = await alembic('history');
      expect(all!.split('\n')).toEqual([
        'fd4af8236c7d -> 7c1e2d9a0b3f (head), drop users.name, require apertures.grid_rows',
        '1a2b3c4d5e6f -> fd4af8236c7d, window builder',
        '<base> -> 1a2b3c4d5e6f, base schema',
      ]);
    },
    TIMEOUT,
  );

  test(
    'base revision + seed: the smoke check fails until the window builder tables exist',
    async () => {
      await alembic('upgrade', '1a2b3c4d5e6f');
      const seed = readFileSync(join(dir, 'seed.sql'), 'utf8');
      await sql(db.url, seed);
      await sql(db.url, seed); // re-runnable
      expect(await sql(db.url, 'SELECT count(*)::int AS n FROM users')).toEqual([{ n: 12 }]);
      const before = await health();
      expect(before.exitCode).toBe(1);
      expect(before.all).toContain('health: table apertures is missing');
    },
    TIMEOUT,
  );

  test(
    'fd4af8236c7d adds six tables and keeps the data; the smoke check passes',
    async () => {
      await alembic('upgrade', 'fd4af8236c7d');
      const tables = await sql<{ t: string }>(
        db.url,
        "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'aperture%' ORDER BY 1",
      );
      expect(tables.map((r) => r.t)).toEqual([
        'aperture_element_frame',
        'aperture_element_glazing',
        'aperture_elements',
        'aperture_frame_types',
        'aperture_glazing_types',
        'apertures',
      ]);
      expect(await sql(db.url, 'SELECT count(*)::int AS n FROM projects')).toEqual([{ n: 18 }]);
      const after = await health();
      expect(after.all).toBe('health: ok (8 tables readable)');
      expect(after.exitCode).toBe(0);
    },
    TIMEOUT,
  );

  test(
    'head drops users.name; downgrading to the base and upgrading again both work',
    async () => {
      await alembic('upgrade', 'head');
      const cols = () =>
        sql<{ c: string }>(
          db.url,
          "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'users' ORDER BY 1",
        );
      expect((await cols()).map((r) => r.c)).toEqual(['created_at', 'email', 'id']);
      await alembic('downgrade', '1a2b3c4d5e6f');
      expect((await cols()).map((r) => r.c)).toEqual(['created_at', 'email', 'id', 'name']);
      expect((await health()).exitCode).toBe(1);
      await alembic('upgrade', 'head');
      expect((await alembic('current')).all).toContain('7c1e2d9a0b3f (head)');
      expect((await health()).exitCode).toBe(0);
    },
    TIMEOUT,
  );
});
