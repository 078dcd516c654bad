import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FailedError } from '../../src/errors.js';
import { dumpObjectName } from '../../src/storage/naming.js';
import { pruneDumps } from '../../src/storage/retention.js';
import { createS3Target, type S3TargetOptions } from '../../src/storage/s3.js';
import type { DumpMeta } from '../../src/storage/target.js';
import { startS3Server, type S3TestServer } from '../harness/s3.js';

const MiB = 1024 * 1024;
const BUCKET = 'gate-dumps';

let s3: S3TestServer;
let admin: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  admin = s3.client();
  await s3.createBucket(BUCKET);
});

afterAll(async () => {
  await s3?.stop();
});

function target(prefix: string, env: NodeJS.ProcessEnv = {}, options: S3TargetOptions = {}) {
  return createS3Target(new URL(`s3://${BUCKET}/${prefix}`), s3.env(env), { partSize: 5 * MiB, ...options });
}

function meta(overrides: Partial<DumpMeta> = {}): DumpMeta {
  return {
    service: 'billing-api',
    commit: '0123456789abcdef',
    fromRevisions: ['ae1027a6acf'],
    toRevisions: ['27c6a30d7c24'],
    pgDumpVersion: 'pg_dump (PostgreSQL) 15.18',
    serverVersion: '15.18',
    createdAt: new Date('2026-11-25T03:15:00Z'),
    ...overrides,
  };
}

/** Random data in 1 MiB chunks, with the sha256 of everything it will emit. */
function randomStream(totalBytes: number, failAfter?: number): { stream: Readable; sha256: string } {
  const chunks: Buffer[] = [];
  for (let left = totalBytes; left > 0; left -= MiB) chunks.push(randomBytes(Math.min(MiB, left)));
  const sha256 = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && sent >= failAfter) {
        this.destroy(new Error('pg_dump: error: connection to server was lost'));
        return;
      }
      const next = chunks.shift();
      sent += next?.length ?? 0;
      this.push(next ?? null);
    },
  });
  return { stream, sha256 };
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function openUploads(prefix: string): Promise<number> {
  const out = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return out.Uploads?.length ?? 0;
}

async function objectCount(prefix: string): Promise<number> {
  const out = await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return out.KeyCount ?? 0;
}

async function failureOf(promise: Promise<unknown>): Promise<FailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FailedError);
  return error as FailedError;
}

describe('S3DumpTarget against a real S3-compatible server', () => {
  test('round trip of a 20 MiB multipart stream: put, list, get, metadata', async () => {
    const t = target('roundtrip');
    await t.preflight();
    let parts = 0;
    (t as unknown as { client: S3Client }).client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') parts++;
        return next(args);
      },
      { step: 'initialize', name: 'countParts' },
    );
    const { stream, sha256 } = randomStream(20 * MiB);
    const m = meta();
    const name = dumpObjectName(m);
    expect(name).toBe('billing-api/20261125T031500Z_ae1027a6acf_to_27c6a30d7c24_0123456.dump');

    const stored = await t.put(name, stream, m);
    expect(parts).toBe(4); // 5 MiB parts: streamed as a multipart upload
    expect(stored).toMatchObject({
      id: name,
      location: `s3://${BUCKET}/roundtrip/${name}`,
      bytes: 20 * MiB,
      sha256,
    });

    const head = await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `roundtrip/${name}` }));
    expect(head.ContentLength).toBe(20 * MiB);
    // What is known when the upload starts travels as object metadata...
    expect(head.Metadata).toMatchObject({
      service: 'billing-api',
      commit: '0123456789abcdef',
      'from-revisions': 'ae1027a6acf',
      'to-revisions': '27c6a30d7c24',
    });
    // ...and the whole record, with the sha256 known only at the end, in the sidecar object.
    const sidecar = await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: `roundtrip/${name}.json` }));
    expect(JSON.parse(await sidecar.Body!.transformToString())).toMatchObject({
      sha256,
      size: String(20 * MiB),
      service: 'billing-api',
      commit: '0123456789abcdef',
      'from-revisions': 'ae1027a6acf',
      'to-revisions': '27c6a30d7c24',
      'pg-dump-version': 'pg_dump (PostgreSQL) 15.18',
      'server-version': '15.18',
      'created-at': '2026-11-25T03:15:00.000Z',
    });

    const listed = await t.list();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: name, bytes: 20 * MiB, sha256, createdAt: m.createdAt });

    const back = await sha256Of(await t.get(name));
    expect(back).toEqual({ sha256, bytes: 20 * MiB });
    expect(await openUploads('roundtrip/')).toBe(0);
  });

  test('a small dump (one part) is stored and verified too', async () => {
    const t = target('small');
    const stored = await t.put(
      'svc/x.dump',
      Readable.from([Buffer.from('tiny dump')]),
      meta({ fromRevisions: [] }),
    );
    expect(stored.bytes).toBe(9);
    const head = await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'small/svc/x.dump' }));
    expect(head.Metadata?.['from-revisions']).toBe('base');
  });

  test('list is newest first and retention prunes the oldest, never the just-stored one', async () => {
    const t = target('retention');
    const ids: string[] = [];
    for (const day of [1, 2, 3, 4]) {
      const m = meta({ createdAt: new Date(Date.UTC(2026, 10, day, 3, 0, 0)) });
      ids.push((await t.put(dumpObjectName(m), Readable.from([Buffer.from(`dump ${day}`)]), m)).id);
    }
    expect((await t.list()).map((d) => d.id)).toEqual([...ids].reverse());

    const result = await pruneDumps(t, { keepLast: 2, now: new Date(Date.UTC(2026, 10, 30)) }, ids[0]);
    expect(result.removed.map((d) => d.id)).toEqual([ids[1]]);
    expect(result.failed).toEqual([]);
    expect((await t.list()).map((d) => d.id)).toEqual([ids[3], ids[2], ids[0]]);

    await t.remove(ids[0]!);
    expect((await t.list()).map((d) => d.id)).toEqual([ids[3], ids[2]]);
  });

  test('a wrong secret key fails with a credentials error, names no secret, leaves no upload', async () => {
    const secret = 'wrongSecretKeyValue0123456789abcdefghijk';
    const t = target('badcreds', { AWS_SECRET_ACCESS_KEY: secret });
    const pre = await failureOf(t.preflight());
    expect(pre.message).toContain('access denied / invalid credentials');
    expect(pre.message).toContain('check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');

    const error = await failureOf(t.put('svc/a.dump', randomStream(12 * MiB).stream, meta()));
    expect(error.message).toBe(
      `S3 upload to s3://${BUCKET}/badcreds failed: access denied / invalid credentials (SignatureDoesNotMatch): ` +
        'check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
    );
    expect(error.message).not.toContain(secret);
    expect(await openUploads('badcreds/')).toBe(0);
    expect(await objectCount('badcreds/')).toBe(0);
  });

  test('an unknown access key id is reported as such', async () => {
    const t = target('badkey', { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE' });
    const error = await failureOf(t.put('svc/a.dump', Readable.from([Buffer.from('x')]), meta()));
    expect(error.message).toContain('access denied / invalid credentials (InvalidAccessKeyId)');
  });

  test('a missing bucket is named, with what to do', async () => {
    const t = createS3Target(new URL('s3://no-such-bucket/dumps'), s3.env());
    const pre = await failureOf(t.preflight());
    expect(pre.message).toBe(
      'S3 check of s3://no-such-bucket/dumps failed: the bucket does not exist (NoSuchBucket); ' +
        'create it or fix MIGRATION_GATE_DUMP_TARGET',
    );
    const error = await failureOf(t.put('svc/a.dump', Readable.from([Buffer.from('x')]), meta()));
    expect(error.message).toBe(
      'S3 upload to s3://no-such-bucket/dumps failed: the bucket does not exist (NoSuchBucket); ' +
        'create it or fix MIGRATION_GATE_DUMP_TARGET',
    );
  });

  test('an unreachable endpoint fails preflight quickly and clearly', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const t = target('x', { MIGRATION_GATE_S3_ENDPOINT: `http://127.0.0.1:${port}` });
    const error = await failureOf(t.preflight());
    expect(error.message).toContain(`cannot reach http://127.0.0.1:${port} (ECONNREFUSED)`);
  });

  test('a dump stream that breaks mid-upload aborts the multipart upload', async () => {
    const t = target('cutoff');
    const { stream } = randomStream(20 * MiB, 12 * MiB);
    const error = await failureOf(t.put('svc/cut.dump', stream, meta()));
    expect(error.message).toMatch(
      /^S3 upload to s3:\/\/gate-dumps\/cutoff failed: the dump stream broke after \d+ bytes \(pg_dump: error: connection to server was lost\)/,
    );
    expect(await openUploads('cutoff/')).toBe(0);
    expect(await objectCount('cutoff/')).toBe(0);
  });

  test('an abort signal stops the upload and aborts the multipart upload', async () => {
    const t = target('aborted');
    const controller = new AbortController();
    const { stream } = randomStream(30 * MiB);
    let seen = 0;
    stream.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= 11 * MiB) controller.abort();
    });
    const error = await failureOf(t.put('svc/abort.dump', stream, meta(), controller.signal));
    expect(error.message).toMatch(/failed: interrupted after \d+ bytes; the partial upload was aborted$/);
    expect(await openUploads('aborted/')).toBe(0);
    expect(await objectCount('aborted/')).toBe(0);
  });

  test('read-back verification: a store that records a different checksum fails and both objects are deleted', async () => {
    const t = target('verify');
    // Corrupt the checksum record on its way to the store, as a misbehaving S3 clone would.
    const client = (t as unknown as { client: S3Client }).client;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') {
          const input = args.input as { Body?: string };
          const record = JSON.parse(String(input.Body)) as Record<string, string>;
          input.Body = JSON.stringify({ ...record, sha256: '0'.repeat(64) });
        }
        return next(args);
      },
      { step: 'initialize', name: 'corruptChecksum' },
    );
    const { stream, sha256 } = randomStream(6 * MiB);
    const error = await failureOf(t.put('svc/v.dump', stream, meta()));
    expect(error.message).toBe(
      `S3 upload to s3://${BUCKET}/verify failed verification: the stored sha256 is ${'0'.repeat(64)}, ` +
        `expected ${sha256}; the object was deleted, re-run to take a new dump`,
    );
    expect(await objectCount('verify/')).toBe(0);
  });

  test('a part truncated on its way to the store is caught by the stored length, and both objects are deleted', async () => {
    const t = target('truncated');
    // The last part loses its final 1000 bytes between the gate's buffer and the wire, as a broken proxy would.
    const client = (t as unknown as { client: S3Client }).client;
    let parts = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') {
          parts++;
          const input = args.input as { Body?: Buffer; PartNumber?: number };
          if (input.PartNumber === 3) input.Body = input.Body!.subarray(0, input.Body!.length - 1000);
        }
        return next(args);
      },
      { step: 'initialize', name: 'truncatePart' },
    );
    const { stream } = randomStream(12 * MiB);
    const error = await failureOf(t.put('svc/t.dump', stream, meta()));
    expect(parts).toBe(3);
    expect(error.message).toBe(
      `S3 upload to s3://${BUCKET}/truncated failed verification: the store holds ${12 * MiB - 1000} bytes ` +
        `but ${12 * MiB} were streamed; the object was deleted, re-run to take a new dump`,
    );
    expect(await objectCount('truncated/')).toBe(0);
    expect(await openUploads('truncated/')).toBe(0);
  });

  test('part buffers are reused: a 40 MiB dump in 5 MiB parts, two in flight, stores every byte in order', async () => {
    const t = target('reuse', {}, { queueSize: 2 });
    // Chunks that straddle part boundaries (1 MiB + 7 bytes), so a copy at the wrong offset would show.
    const chunks: Buffer[] = [];
    for (let left = 40 * MiB; left > 0; left -= MiB + 7) chunks.push(randomBytes(Math.min(MiB + 7, left)));
    const sha256 = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
    const stored = await t.put('svc/r.dump', Readable.from(chunks), meta());
    expect(stored).toMatchObject({ bytes: 40 * MiB, sha256 });
    expect(await sha256Of(await t.get('svc/r.dump'))).toEqual({ sha256, bytes: 40 * MiB });
    expect(await openUploads('reuse/')).toBe(0);
  });

  test('a connection dropped mid-upload is reported with the bytes streamed', async () => {
    // A loopback TCP proxy that forwards to the S3 server and, past 7 MiB, cuts every connection and
    // refuses new ones: the network going away for good in the middle of an upload.
    const upstream = new URL(s3.endpoint);
    let forwarded = 0;
    let cut = false;
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((client) => {
      if (cut) {
        client.destroy();
        return;
      }
      const server = connect(Number(upstream.port), upstream.hostname);
      sockets.add(client).add(server);
      client.on('data', (chunk: Buffer) => {
        forwarded += chunk.length;
        if (forwarded > 7 * MiB && !cut) {
          cut = true;
          for (const s of sockets) s.destroy();
          return;
        }
        server.write(chunk);
      });
      server.on('data', (chunk: Buffer) => client.write(chunk));
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    try {
      const t = target('dropped', { MIGRATION_GATE_S3_ENDPOINT: `http://127.0.0.1:${port}` });
      const { stream } = randomStream(20 * MiB);
      const error = await failureOf(t.put('svc/drop.dump', stream, meta()));
      expect(error.message).toMatch(
        /^S3 upload to s3:\/\/gate-dumps\/dropped failed: connection lost after \d+ bytes \((ECONNRESET|ECONNREFUSED|EPIPE|ERR_STREAM_PREMATURE_CLOSE|TimeoutError)\)/,
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
    // With the network gone the abort cannot get through either: that is what a bucket lifecycle rule
    // (AbortIncompleteMultipartUpload) is for. Clean up so other tests see an empty store.
    const left = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'dropped/' }));
    expect(await objectCount('dropped/')).toBe(0);
    expect(left.Uploads?.length ?? 0).toBeLessThanOrEqual(1);
  });
});
