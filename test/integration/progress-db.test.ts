/** The dump progress estimate reads pg_database_size from the real server. */
import pg from 'pg';
import { databaseSize, formatProgress } from '../../src/progress.js';
import { createTestDatabase, type TestDatabase } from '../harness/pg.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('progress_size');
});
afterAll(async () => {
  await db?.drop();
});

test('databaseSize is what PostgreSQL reports, and grows with the data', async () => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const empty = await databaseSize(client);
    expect(empty).toBeGreaterThan(1024 * 1024); // an empty database is a few MiB of catalogs
    await client.query(
      'CREATE TABLE t AS SELECT g, repeat($1, 200) AS pad FROM generate_series(1, 20000) g',
      ['x'],
    );
    const filled = await databaseSize(client);
    expect(filled! - empty!).toBeGreaterThan(2 * 1024 * 1024);
    expect(
      formatProgress({
        step: 'dump',
        bytes: 1024 * 1024,
        elapsedMs: 10_000,
        estimate: { bytes: filled!, source: 'pg_database_size', upperBound: true },
      }),
    ).toMatch(
      /^dump: 1\.0 MiB so far in 10 s \(102\.4 KiB\/s\); pg_database_size is \d+\.\d MiB \(the dump is usually smaller\): at most ~\d+ (s|min) left at this rate$/,
    );
  } finally {
    await client.end();
  }
});
