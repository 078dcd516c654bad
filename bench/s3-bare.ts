/**
 * The bare S3 baseline for the `s3` section: pg_dump -Fc piped straight into @aws-sdk/lib-storage's
 * Upload with the gate's part size and queue size, no hashing, no pg_restore, no sidecar, no HEAD.
 * It is what the SDK alone costs, so the gate's verified dump can be judged against it in the same run.
 * The client is built from the same settings as the gate's (s3ClientConfig): for a custom endpoint
 * that means no CRC32 trailers, which the test server (moto) handles with a different amount of CPU.
 * BENCH_SDK_DEFAULTS=1 uses the SDK's default client instead (CRC32 trailers), for comparison.
 * Started by bench.ts with DATABASE_URL, the moto env of s3-server.ts and BENCH_BUCKET/BENCH_KEY.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execa } from 'execa';
import { parseDatabaseUrl } from '../src/db/connect.js';
import { s3ClientConfig, s3ConfigFromEnv } from '../src/storage/s3.js';

const MiB = 1024 * 1024;
const url = process.env.DATABASE_URL;
const bucket = process.env.BENCH_BUCKET;
const key = process.env.BENCH_KEY;
const endpoint = process.env.MIGRATION_GATE_S3_ENDPOINT;
if (!url || !bucket || !key || !endpoint) {
  console.error('s3-bare: set DATABASE_URL, BENCH_BUCKET, BENCH_KEY and MIGRATION_GATE_S3_ENDPOINT');
  process.exit(3);
}
const started = Date.now();
const dump = execa(process.env.MIGRATION_GATE_PG_DUMP ?? 'pg_dump', ['-Fc'], {
  env: parseDatabaseUrl(url).libpqEnv(),
  extendEnv: false,
  stdin: 'ignore',
  buffer: false,
});
const client = new S3Client(
  process.env.BENCH_SDK_DEFAULTS === '1'
    ? { endpoint, forcePathStyle: true, region: process.env.AWS_REGION ?? 'us-east-1' }
    : s3ClientConfig(s3ConfigFromEnv(new URL(`s3://${bucket}/bare`), process.env)),
);
// The gate's defaults (src/storage/s3.ts): 8 MiB parts, 2 in flight.
const upload = new Upload({
  client,
  params: { Bucket: bucket, Key: key, Body: dump.stdout! },
  partSize: 8 * MiB,
  queueSize: 2,
});
try {
  await Promise.all([upload.done(), dump]);
  console.log(JSON.stringify({ wallMs: Date.now() - started }));
} catch (err) {
  console.error(`s3-bare: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
