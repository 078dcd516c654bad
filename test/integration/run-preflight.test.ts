/**
 * `run`'s preflight on the real harness: what would fail after the safety dump (alembic missing, an
 * unusable dump target, a broken version table) stops the deploy before it, with every problem in one
 * message, nothing dumped, nothing run, and the run recorded as failed at the preflight step.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileDumpTarget } from '../../src/storage/file.js';
import { createS3Target } from '../../src/storage/s3.js';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { EXAMPLE_ADDITIVE, EXAMPLE_BASE } from '../helpers/project.js';
import {
  causeLine,
  filesIn,
  gateSetup,
  lastRun,
  query,
  runGateCli,
  upgradeTo,
  versionOf,
  type GateSetup,
} from '../helpers/gate.js';
import { startS3Server, type S3TestServer } from '../harness/s3.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A database one additive migration behind the code: the next run would dump and migrate. */
async function behind(name: string): Promise<GateSetup> {
  const s = await gateSetup(name, [EXAMPLE_BASE, EXAMPLE_ADDITIVE]);
  cleanups.push(() => s.cleanup());
  await upgradeTo(s, '1a2b3c4d5e6f');
  return s;
}

async function expectStoppedBeforeDump(s: GateSetup, dumpDir = s.dumps) {
  expect(filesIn(dumpDir)).toEqual([]);
  expect(await versionOf(s.db)).toContain('1a2b3c4d5e6f');
  const run = await lastRun(s.db);
  expect(run).toMatchObject({ outcome: 'failed', step: 'preflight', dump: null });
  expect(String(run.error)).toContain('(failed at: preflight)');
}

describe('preflight stops the deploy before the dump', () => {
  test('alembic missing: the friendly message, exit 4, no dump', async () => {
    const s = await behind('pf_noalembic');
    const res = await runGateCli(s, { MIGRATION_GATE_ALEMBIC: '/nonexistent/alembic' });
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toContain(
      "cannot start Alembic: '/nonexistent/alembic' was not found; install it (pip install alembic) or set MIGRATION_GATE_ALEMBIC",
    );
    expect(causeLine(res.all)).toContain('nothing was dumped or run');
    expect(res.all).not.toContain('Taking a safety dump');
    await expectStoppedBeforeDump(s);
  });

  test('an Alembic that cannot start at all: told apart from a broken env.py', async () => {
    const s = await behind('pf_brokenalembic');
    const broken = path.join(s.project.dir, 'broken-alembic');
    writeFileSync(
      broken,
      '#!/bin/sh\necho "ModuleNotFoundError: No module named \'sqlalchemy\'" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    const res = await runGateCli(s, { MIGRATION_GATE_ALEMBIC: broken });
    expect(res.exitCode).toBe(4);
    const line = causeLine(res.all);
    expect(line).toContain(`'${broken} --version' failed (exit 1)`);
    expect(line).toContain("No module named 'sqlalchemy'");
    expect(line).toContain('check MIGRATION_GATE_ALEMBIC points at a working Alembic');
    expect(line).not.toContain('env.py');
    await expectStoppedBeforeDump(s);
  });

  test('env.py that cannot import: named before the dump', async () => {
    const s = await behind('pf_envpy');
    const envPy = path.join(s.project.dir, 'migrations', 'env.py');
    writeFileSync(envPy, 'import no_such_module_for_the_gate\n');
    const res = await runGateCli(s);
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toContain("'alembic current' failed");
    expect(causeLine(res.all)).toContain('no_such_module_for_the_gate');
    await expectStoppedBeforeDump(s);
  });

  test('every problem at once: alembic missing, an unusable target, an old pg_dump', async () => {
    const s = await behind('pf_all');
    const file = path.join(s.dumps, 'a-file');
    writeFileSync(file, 'x');
    const fakeDump = path.join(s.project.dir, 'pg_dump14');
    writeFileSync(fakeDump, '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.9"\n', { mode: 0o755 });
    const res = await runGateCli(s, {
      MIGRATION_GATE_ALEMBIC: '/nonexistent/alembic',
      MIGRATION_GATE_DUMP_TARGET: `file://${file}/sub`,
      MIGRATION_GATE_PG_DUMP: fakeDump,
    });
    expect(res.exitCode).toBe(4);
    const line = causeLine(res.all);
    expect(line).toContain('preflight found 3 problems before the safety dump');
    expect(line).toContain("'/nonexistent/alembic' was not found");
    expect(line).toContain(`dump directory ${file}/sub cannot be created`);
    expect(line).toContain('pg_dump 14.9 cannot dump a PostgreSQL 15 server');
    expect(filesIn(s.dumps)).toEqual(['a-file']);
    expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f']);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed', step: 'preflight' });
  });

  test('a dump target in a missing bucket: stopped before pg_dump runs', async () => {
    const s3 = await startS3Server();
    cleanups.push(() => s3.stop());
    const s = await behind('pf_s3');
    const res = await runGateCli(s, {
      ...(s3.env({}) as Record<string, string>),
      MIGRATION_GATE_DUMP_TARGET: 's3://no-such-bucket/dumps',
    });
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toMatch(/S3 check of s3:\/\/no-such-bucket\/dumps failed/);
    expect(res.all).not.toContain('Taking a safety dump');
    await expectStoppedBeforeDump(s);
  });
});

describe('the version table is checked before the dump', () => {
  test('a repeated row: stopped, with the SQL to inspect it', async () => {
    const s = await behind('pf_duprow');
    // Alembic's own primary key forbids this; a manual repair that dropped it does not.
    await query(s.db, 'ALTER TABLE alembic_version DROP CONSTRAINT alembic_version_pkc');
    await query(s.db, "INSERT INTO alembic_version VALUES ('1a2b3c4d5e6f')");
    const res = await runGateCli(s);
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toContain('the version table lists 1a2b3c4d5e6f more than once');
    expect(causeLine(res.all)).toContain('SELECT * FROM "alembic_version"');
    expect(res.all).not.toContain('alembic: ');
    await expectStoppedBeforeDump(s);
    expect(await versionOf(s.db)).toEqual(['1a2b3c4d5e6f', '1a2b3c4d5e6f']);
  });

  test('an ancestor and its descendant: stopped, even when nothing else is pending', async () => {
    const s = await behind('pf_overlap');
    await upgradeTo(s, 'fd4af8236c7d');
    await query(s.db, "INSERT INTO alembic_version VALUES ('1a2b3c4d5e6f')");
    const res = await runGateCli(s);
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toContain(
      'the version table lists both 1a2b3c4d5e6f and its descendant fd4af8236c7d',
    );
    expect(causeLine(res.all)).toContain('SELECT * FROM "alembic_version"');
    expect(filesIn(s.dumps)).toEqual([]);
    expect(await lastRun(s.db)).toMatchObject({ outcome: 'failed', step: 'preflight' });
  });
});

describe('dump target probes', () => {
  test('a directory without room for the estimated dump is refused, naming both sizes', async () => {
    const s = await behind('pf_space');
    const t = new FileDumpTarget(s.dumps);
    await expect(t.preflight({ estimatedBytes: 2 ** 60 })).rejects.toThrow(
      /has [\d.]+ MiB free, but the safety dump needs about [\d.]+ MiB/,
    );
    await expect(t.preflight({ estimatedBytes: 1024 })).resolves.toBeUndefined();
    expect(filesIn(s.dumps)).toEqual([]); // the write probe is removed
  });

  test('the S3 write probe leaves nothing in the bucket', async () => {
    const s3: S3TestServer = await startS3Server();
    cleanups.push(() => s3.stop());
    await s3.createBucket('probe-bucket');
    const t = createS3Target(new URL('s3://probe-bucket/dumps'), s3.env({}));
    await t.preflight({ writeProbe: true });
    const listed = await s3.client().send(new ListObjectsV2Command({ Bucket: 'probe-bucket' }));
    expect(listed.KeyCount ?? 0).toBe(0);
  });
});
