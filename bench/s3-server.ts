/**
 * A real S3-compatible server on loopback for the integration tests and the benchmark: moto's server
 * (Python, part of this machine image) started by scripts/moto_s3.py on 127.0.0.1 with an ephemeral port,
 * with SigV4 authentication on and one IAM user allowed s3:*. The one launcher: test/harness/s3.ts
 * re-exports it (the tests cannot be imported by the compiled bench, so it lives under bench/).
 *
 * Why not s3rver: with the current AWS SDK v3 it handles multipart uploads, but it has no
 * AbortMultipartUpload (405) and no ListMultipartUploads (501), and it accepts any secret for a known key,
 * so "no orphaned parts" and the credentials error could not be tested against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { repoRoot } from './root.js';

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** moto's process id (the benchmark reads its CPU time). */
  pid: number | undefined;
  /** A client signed with the server's valid key. */
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  /** Environment for createS3Target: endpoint, path-style, region and the valid key. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const SCRIPT = join(repoRoot(), 'scripts/moto_s3.py');

export async function startS3Server(): Promise<S3Server> {
  const python = process.env.MIGRATION_GATE_TEST_PYTHON ?? 'python3';
  const child: ChildProcess = spawn(python, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Keep the tail of moto's request log for error messages; always drain it so the server never blocks.
  const stderrTail: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrTail.push(chunk.toString());
    if (stderrTail.length > 20) stderrTail.shift();
  });

  const info = await new Promise<{ port: number; accessKeyId: string; secretAccessKey: string }>(
    (resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`moto S3 server did not start in 30 s: ${stderrTail.join('')}`)),
        30_000,
      );
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line));
        } catch (error) {
          reject(new Error(`moto S3 server printed ${JSON.stringify(line)}: ${String(error)}`));
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${python} ${SCRIPT} (moto S3 server): ${error.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`moto S3 server exited with ${code}: ${stderrTail.join('')}`));
      });
    },
  );

  const endpoint = `http://127.0.0.1:${info.port}`;
  const region = 'us-east-1';
  const clients: S3Client[] = [];
  const makeClient = () => {
    const c = new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    });
    clients.push(c);
    return c;
  };

  return {
    endpoint,
    region,
    pid: child.pid,
    accessKeyId: info.accessKeyId,
    secretAccessKey: info.secretAccessKey,
    client: makeClient,
    async createBucket(name) {
      await makeClient().send(new CreateBucketCommand({ Bucket: name }));
    },
    env(extra = {}) {
      return {
        MIGRATION_GATE_S3_ENDPOINT: endpoint,
        MIGRATION_GATE_S3_FORCE_PATH_STYLE: 'true',
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: info.accessKeyId,
        AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
        ...extra,
      };
    },
    async stop() {
      for (const c of clients) c.destroy();
      // Already gone (a Ctrl-C reaches the whole process group): 'exit' will not fire again.
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        // The script serves until its stdin closes.
        child.stdin!.end();
      });
    },
  };
}
