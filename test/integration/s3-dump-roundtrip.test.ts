import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { parseDatabaseUrl } from '../../src/db/connect.js';
import { takeSafetyDump } from '../../src/db/dump.js';
import { dumpObjectName } from '../../src/storage/naming.js';
import { createS3Target } from '../../src/storage/s3.js';
import type { DumpMeta } from '../../src/storage/target.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { startS3Server, type S3TestServer } from '../harness/s3.js';

let s3: S3TestServer;
let db: TestDatabase;
let restored: TestDatabase;

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket('render-dumps');
  db = await createTestDatabase('s3_dump');
  restored = await createTestDatabase('s3_dump_restored');
  await adminQuery(
    `CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);
     INSERT INTO users SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 2000) g;
     CREATE TABLE big (id int, payload text);
     INSERT INTO big SELECT g, md5(g::text) || md5(random()::text) FROM generate_series(1, 100000) g;`,
    [],
    db.name,
  );
});

afterAll(async () => {
  await db?.drop();
  await restored?.drop();
  await s3?.stop();
});

const count = async (name: string) =>
  (
    await adminQuery<{ n: string }>(
      "SELECT (SELECT count(*) FROM users) || ',' || (SELECT count(*) FROM big) AS n",
      [],
      name,
    )
  )[0]!.n;

test('pg_dump -> S3 -> pg_restore round trip', async () => {
  const sink = createS3Target(new URL('s3://render-dumps/prod'), s3.env());
  await sink.preflight();
  const meta: DumpMeta = {
    service: 'web',
    commit: 'f00dfeed1234',
    fromRevisions: ['a1'],
    toRevisions: ['b2'],
    pgDumpVersion: '15',
    createdAt: new Date('2026-11-25T03:15:00Z'),
  };
  const name = dumpObjectName(meta);
  const result = await takeSafetyDump({ target: parseDatabaseUrl(db.url), sink, name, meta });
  expect(result).toMatchObject({ id: name, location: `s3://render-dumps/prod/${name}` });

  const head = await s3.client().send(new HeadObjectCommand({ Bucket: 'render-dumps', Key: `prod/${name}` }));
  expect(head.ContentLength).toBe(result.bytes);
  expect(head.Metadata).toMatchObject({ service: 'web', 'to-revisions': 'b2' });
  expect((await sink.list()).map((d) => [d.id, d.bytes, d.sha256])).toEqual([
    [name, result.bytes, result.sha256],
  ]);

  // Restore straight from the object stream (pg_restore reads the custom-format archive on stdin).
  const restore = execa('pg_restore', ['--no-owner', `--dbname=${restored.name}`], {
    env: parseDatabaseUrl(restored.url).libpqEnv(),
    input: await sink.get(name),
    reject: false,
  });
  const r = await restore;
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(await count(restored.name)).toBe('2000,100000');
});
