/**
 * A run that cannot reach the database leaves its cause in the deploy log and a note in the dump
 * target; the next run that reaches the database records that attempt in the history (as failed, at
 * its own time), says so in its log and removes the note. With a file:// target and with S3 (moto).
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { serverUrl } from '../harness/pg.js';
import { ensureHistory } from '../../src/db/history.js';
import { startS3Server, type S3TestServer } from '../harness/s3.js';
import {
  causeLine,
  gateSetup,
  query,
  runGateCli,
  runsOf,
  upgradeTo,
  type GateSetup,
} from '../helpers/gate.js';
import { EXAMPLE_BASE } from '../helpers/project.js';

const WRONG = 'not-the-pw-7d1e';
const COMMIT = '4f2a9c1be07d5a3e8f6b1c2d3e4f5a6b7c8d9e0f';
const render = { RENDER_SERVICE_NAME: 'window-builder', RENDER_GIT_COMMIT: COMMIT };

let s: GateSetup;
let s3: S3TestServer;
let admin: S3Client;
beforeAll(async () => {
  s = await gateSetup('unrecorded', [EXAMPLE_BASE]);
  await upgradeTo(s, '1a2b3c4d5e6f');
  const owner = new pg.Client({ connectionString: s.db.url });
  await owner.connect();
  await ensureHistory(owner, 'migration_gate').finally(() => owner.end());
  s3 = await startS3Server();
  admin = s3.client();
  await s3.createBucket('notes');
}, 120_000);
afterAll(async () => {
  await s?.cleanup();
  await s3?.stop();
});

const notesDir = () => path.join(s.dumps, '_unrecorded');
const notesIn = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};
const wrongPasswordUrl = () => serverUrl(s.db.name, { password: WRONG });

test('file target: the note is left, the next run records it as failed at its own time and removes it', async () => {
  const before = (await runsOf(s.db)).length;
  const failed = await runGateCli(s, { ...render, DATABASE_URL: wrongPasswordUrl() });
  expect(failed.exitCode).toBe(4);
  const line = causeLine(failed.stderr);
  expect(line).toMatch(/^migration-gate: failed: cannot connect to .*password authentication failed/);
  expect(line).toMatch(
    /; no history record was written for this attempt \(the gate keeps its history in the database .*\); the next run that reaches the database records it from the note left at file:\/\/.*\/_unrecorded\/\d{8}T\d{6}\.\d{3}Z-\d+-[0-9a-f]{6}\.json$/,
  );
  expect(failed.all).not.toContain(WRONG);
  const [note] = notesIn(notesDir());
  expect(note).toBeDefined();
  const text = readFileSync(path.join(notesDir(), note!), 'utf8');
  expect(text).not.toContain(WRONG);
  const written = JSON.parse(text) as Record<string, string>;
  expect(written).toMatchObject({ version: 1, command: 'run', step: 'connect', commit: COMMIT });
  expect(await runsOf(s.db)).toHaveLength(before);
  // `dumps` never shows a note as a dump.
  const dumps = await runGateCli(s, {}, ['dumps', 'list', '--json']);
  expect(dumps.stdout).not.toContain('_unrecorded');

  const next = await runGateCli(s, render);
  expect(next.exitCode).toBe(0);
  const rows = await runsOf(s.db);
  const recorded = rows.find((r) => r.outcome === 'failed' && r.step === 'connect')!;
  expect(recorded).toBeDefined();
  expect((recorded.started_at as Date).toISOString()).toBe(written.at);
  expect(recorded).toMatchObject({ command: 'run', service: 'window-builder', commit: COMMIT });
  expect(recorded.error).toContain('password authentication failed');
  expect(recorded.error).toMatch(/\(failed at: connect\)$/);
  expect(String(recorded.error)).not.toContain(WRONG);
  const own = rows.find((r) => r.outcome === 'noop')!;
  expect(recorded.warnings).toEqual([
    `Recorded afterwards by run #${own.id as number}: this attempt could not reach the database, and left a note in the dump target.`,
  ]);
  expect(next.stderr).toContain(
    `The deploy attempt of ${written.at} (window-builder, commit ${COMMIT.slice(0, 12)}) could not reach the database and left no history record: cannot connect to`,
  );
  expect(next.stderr).toContain(`Recorded it now as run #${recorded.id as number} (failed at: connect).`);
  expect(notesIn(notesDir())).toEqual([]);

  // Recorded once: the run after says nothing more of it.
  const again = await runGateCli(s, render);
  expect(again.exitCode).toBe(0);
  expect(again.stderr).not.toContain('could not reach the database and left no history record');
  expect((await runsOf(s.db)).filter((r) => r.step === 'connect' && r.outcome === 'failed')).toHaveLength(1);
});

test('a note the gate did not write is named and left alone; the run goes on', async () => {
  mkdirSync(notesDir(), { recursive: true });
  writeFileSync(path.join(notesDir(), '20260101T000000.000Z-1-abcdef.json'), '{"hello": 1}\n');
  const res = await runGateCli(s, render);
  expect(res.exitCode).toBe(0);
  expect(res.stderr).toMatch(
    /Ignored the note file:\/\/.*20260101T000000\.000Z-1-abcdef\.json: it is not a version 1 note of `migration-gate run`/,
  );
  expect(notesIn(notesDir())).toEqual(['20260101T000000.000Z-1-abcdef.json']);
});

describe('S3 target', () => {
  const env = (extra: Record<string, string> = {}) =>
    s3.env({ MIGRATION_GATE_DUMP_TARGET: 's3://notes/prod', ...render, ...extra }) as Record<string, string>;
  const noteKeys = async () =>
    (
      (await admin.send(new ListObjectsV2Command({ Bucket: 'notes', Prefix: 'prod/_unrecorded/' })))
        .Contents ?? []
    )
      .map((o) => o.Key!)
      .sort();

  test('database down: the note goes to the bucket; the next run records it and deletes the object', async () => {
    const failed = await runGateCli(s, env({ DATABASE_URL: serverUrl(s.db.name, { port: 1 }) }));
    expect(failed.exitCode).toBe(4);
    expect(causeLine(failed.stderr)).toMatch(
      /connection refused by 127\.0\.0\.1:1.*; the next run that reaches the database records it from the note left at s3:\/\/notes\/prod\/_unrecorded\/.*\.json$/,
    );
    const keys = await noteKeys();
    expect(keys).toHaveLength(1);
    const body = await (
      await admin.send(new GetObjectCommand({ Bucket: 'notes', Key: keys[0]! }))
    ).Body!.transformToString();
    expect(JSON.parse(body)).toMatchObject({ step: 'connect', service: 'window-builder' });

    const next = await runGateCli(s, env());
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toMatch(
      /could not reach the database and left no history record: cannot connect to .*connection refused.*Recorded it now as run #\d+ \(failed at: connect\)\./,
    );
    expect(await noteKeys()).toEqual([]);
    const rows = await query<{ n: number }>(
      s.db,
      "SELECT count(*)::int AS n FROM migration_gate.runs WHERE outcome = 'failed' AND error LIKE '%connection refused%'",
    );
    expect(rows[0]!.n).toBe(1);
  });

  test('the bucket unreachable too: the cause says this log is the only record, with why', async () => {
    const res = await runGateCli(
      s,
      env({
        DATABASE_URL: serverUrl(s.db.name, { port: 1 }),
        MIGRATION_GATE_S3_ENDPOINT: 'http://127.0.0.1:1',
      }),
    );
    expect(res.exitCode).toBe(4);
    expect(res.stderr).toMatch(
      /Could not leave a note for the next run in the dump target \(S3 write of the note .* failed: cannot reach http:\/\/127\.0\.0\.1:1 .*\): the next run will not know about this attempt, so this log is its only record\./,
    );
    expect(causeLine(res.stderr)).toMatch(/, so this deploy log is its only record$/);
  });

  test('a note that cannot be read never fails the run', async () => {
    await admin.send(
      new PutObjectCommand({
        Bucket: 'notes',
        Key: 'prod/_unrecorded/20260101T000000.000Z-2-aaaaaa.json',
        Body: 'not json',
      }),
    );
    const res = await runGateCli(s, env());
    expect(res.exitCode).toBe(0);
    expect(res.stderr).toContain(
      'Ignored the note s3://notes/prod/_unrecorded/20260101T000000.000Z-2-aaaaaa.json: it is not JSON.',
    );
  });
});
