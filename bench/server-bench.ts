/**
 * Load test of `serve`: /status and /metrics with autocannon, 50 connections for 10 s each on
 * loopback, against a real database seeded with 20 runs in a scratch history schema (dropped after).
 * Targets: >= 2,000 req/s and p99 <= 50 ms per endpoint. autocannon runs as its own process, as a
 * real client would: in-process it would share (and slow) the server's event loop.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { execa } from 'execa';
import { connect, parseDatabaseUrl } from '../src/db/connect.js';
import { ensureHistory, startRun, updateRun } from '../src/db/history.js';
import { ConfigError } from '../src/errors.js';
import { startServe } from '../src/server/serve.js';
import type { ClassifiedMigration } from '../src/types.js';

export interface ServerBenchOptions {
  /** Default: MIGRATION_GATE_BENCH_DATABASE_URL, then DATABASE_URL. */
  databaseUrl?: string;
  connections?: number;
  durationSec?: number;
  log?: (line: string) => void;
}

export interface EndpointResult {
  path: string;
  requestsPerSec: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  ok: boolean;
}

const TARGET_RPS = 2000;
const TARGET_P99_MS = 50;

function pending(i: number): ClassifiedMigration[] {
  return Array.from({ length: 3 }, (_, k) => ({
    revision: `${(i * 10 + k).toString(16).padStart(12, '0')}`,
    file: `migrations/versions/${i}_${k}.py`,
    message: `change ${i}.${k}`,
    verdict: k === 2 ? ('destructive' as const) : ('additive' as const),
    findings:
      k === 2
        ? [
            {
              rule: 'drop-column',
              category: 'data-loss' as const,
              line: 14,
              message: `drops column t${i}.c${k}`,
              hint: 'Expand, migrate, contract.',
              severity: 'error' as const,
              table: `t${i}`,
            },
          ]
        : [],
    downgradeFindings: [],
  }));
}

export async function benchServer(opts: ServerBenchOptions = {}): Promise<EndpointResult[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const databaseUrl =
    opts.databaseUrl ?? process.env.MIGRATION_GATE_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!databaseUrl) {
    throw new ConfigError(
      'the server benchmark needs a database: set MIGRATION_GATE_BENCH_DATABASE_URL (or DATABASE_URL) to a scratch PostgreSQL database',
    );
  }
  const target = parseDatabaseUrl(databaseUrl);
  const schema = `migration_gate_bench_${randomBytes(4).toString('hex')}`;
  const token = randomBytes(24).toString('hex');
  const client = await connect(target, { applicationName: 'migration-gate bench' });
  const results: EndpointResult[] = [];
  try {
    await ensureHistory(client, schema);
    for (let i = 0; i < 25; i++) {
      const id = await startRun(client, schema, {
        command: 'run',
        service: 'bench',
        commit: randomBytes(20).toString('hex'),
      });
      await updateRun(client, schema, id, {
        outcome: i % 5 === 4 ? 'blocked' : 'migrated',
        decision: i % 5 === 4 ? 'block' : 'allow',
        finishedAt: new Date(),
        pending: pending(i),
        durationMs: 4000 + i,
        upgradeMs: 1000 + i,
        dump: {
          id: `d${i}`,
          location: `file:///dumps/d${i}.dump`,
          bytes: 1_000_000 + i,
          sha256: 'ab'.repeat(32),
          durationMs: 900,
        },
      });
    }

    const server = await startServe({
      databaseUrl,
      port: 0,
      host: '127.0.0.1',
      token,
      requireToken: true,
      schema,
      logger: { info: () => undefined, warn: (m) => log(`warn: ${m}`), error: (m) => log(`error: ${m}`) },
    });
    try {
      for (const path of ['/status', '/metrics']) {
        const r = await loadTest(server.url + path, token, opts.connections ?? 50, opts.durationSec ?? 10);
        const res: EndpointResult = {
          path,
          requestsPerSec: Math.round(r.requests.average),
          p99Ms: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors,
          ok:
            r.requests.average >= TARGET_RPS &&
            r.latency.p99 <= TARGET_P99_MS &&
            r.non2xx === 0 &&
            r.errors === 0,
        };
        results.push(res);
        log(
          `serve ${path.padEnd(8)} ${String(res.requestsPerSec).padStart(6)} req/s  p99 ${String(res.p99Ms).padStart(3)} ms` +
            `  (target >= ${TARGET_RPS} req/s, p99 <= ${TARGET_P99_MS} ms)${res.non2xx || res.errors ? `  non-2xx ${res.non2xx}, errors ${res.errors}` : ''}  ${res.ok ? 'ok' : 'MISSED'}`,
        );
      }
    } finally {
      await server.close();
    }
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
  return results;
}

interface LoadResult {
  requests: { average: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
}

async function loadTest(
  url: string,
  token: string,
  connections: number,
  durationSec: number,
): Promise<LoadResult> {
  const bin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  const res = await execa(
    process.execPath,
    [
      bin,
      '--json',
      '-c',
      String(connections),
      '-d',
      String(durationSec),
      '-H',
      `authorization=Bearer ${token}`,
      '-H',
      'accept=application/json',
      url,
    ],
    { timeout: (durationSec + 30) * 1000 },
  );
  return JSON.parse(res.stdout) as LoadResult;
}
