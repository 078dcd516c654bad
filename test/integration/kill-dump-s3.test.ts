/**
 * The gate SIGKILLed while its safety dump streams into S3 (moto on loopback): the multipart upload
 * it leaves is aborted by the next run, which closes the dead row and takes its own verified dump.
 */
import { execa } from 'execa';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { alembicBin } from '../harness/pg.js';
import { startS3Server, type S3TestServer } from '../harness/s3.js';
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

const BUCKET = 'gate-kill';
const PREFIX = 'window-builder';

let s: GateSetup;
let s3: S3TestServer;
let admin: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  admin = s3.client();
  await s3.createBucket(BUCKET);
  s = await gateSetup('kill_dump_s3', [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
  await query(s.db, "INSERT INTO users (email, name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B')");
  // 48 MiB of random bytes: incompressible, so the dump is several 8 MiB parts long and the gate is
  // killed with a multipart upload open.
  await query(s.db, 'CREATE TABLE blobs (id int PRIMARY KEY, b bytea)');
  await query(
    s.db,
    `INSERT INTO blobs SELECT g, (SELECT decode(string_agg(md5(g::text || ':' || i::text || random()::text), ''), 'hex')
                                  FROM generate_series(1, 65536) i)
       FROM generate_series(1, 48) g`,
  );
}, 120_000);
afterAll(async () => {
  await s?.cleanup();
  await s3?.stop();
});

const env = () =>
  s3.env({ MIGRATION_GATE_DUMP_TARGET: `s3://${BUCKET}/${PREFIX}` }) as Record<string, string>;

const openUploads = async () =>
  (await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}/` }))).Uploads ?? [];

const dumpObjects = async () =>
  ((await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }))).Contents ?? [])
    .map((o) => o.Key!)
    .filter((k) => k.endsWith('.dump'));

const dumpProcesses = () => processesWith('pg_dump').filter((p) => p.cmdline.includes('--format=custom'));

test('SIGKILL mid-upload: the next run aborts the open multipart upload, closes the row and migrates', async () => {
  const child = runGateCli(s, env());
  await waitForOutput(child, 'Taking a safety dump');
  // The first part is on its way: the upload is open. pg_dump is paused so the upload cannot finish
  // between this check and the kill.
  expect(await eventually(async () => (await openUploads()).length > 0, 30_000)).toBe(true);
  const paused = dumpProcesses();
  for (const p of paused) process.kill(p.pid, 'SIGSTOP');
  child.kill('SIGKILL');
  await child;
  for (const p of paused) process.kill(p.pid, 'SIGCONT');

  // What the kill leaves: an open upload, no dump object, a row still "running", no migration.
  const left = await openUploads();
  expect(left).toHaveLength(1);
  expect(left[0]!.Key).toMatch(new RegExp(`^${PREFIX}/.*_1a2b3c4d5e6f_to_fd4af8236c7d.*\\.dump$`));
  expect(await dumpObjects()).toEqual([]);
  expect((await runsOf(s.db)).at(-1)).toMatchObject({ outcome: 'running', step: 'dump' });
  expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f']);
  // pg_dump loses its reader with the gate, and its session goes with it.
  expect(
    await eventually(
      async () =>
        dumpProcesses().length === 0 &&
        !(await sessionsOf(s.db)).some((r) => r.application_name.startsWith('migration-gate')),
      10_000,
    ),
  ).toBe(true);

  const res = await runGateCli(s, env());
  expect(res.exitCode).toBe(0);
  expect(res.all).toContain(
    `Removed a partial dump left by an earlier, interrupted run: s3://${BUCKET}/${left[0]!.Key}`,
  );
  expect(res.all).toContain('Safety dump verified');
  expect(res.all).toMatch(/Migrated 1a2b3c4d5e6f -> fd4af8236c7d/);
  expect(await openUploads()).toEqual([]);
  const objects = await dumpObjects();
  expect(objects).toHaveLength(1);
  const runs = await runsOf(s.db);
  expect(runs.at(-2)).toMatchObject({
    outcome: 'interrupted',
    error: `${STALE_RUN_CAUSE} (last step: dump)`,
    reached_revisions: ['1a2b3c4d5e6f'],
  });
  expect(runs.at(-1)).toMatchObject({ outcome: 'migrated', reached_revisions: ['fd4af8236c7d'] });
  expect((runs.at(-1)!.dump as { id: string }).id).toBe(objects[0]!.slice(PREFIX.length + 1));
  expect(await versionOf(s.db)).toEqual(['fd4af8236c7d']);
}, 180_000);
