/**
 * The scratch database a rehearsal runs in: a uniquely named database on REHEARSAL_DATABASE_URL's
 * server, or on a throwaway local cluster. `drop()` removes it (and the cluster) whatever happened.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connect, parseDatabaseUrl, type DbTarget } from '../db/connect.js';
import { ConfigError, FailedError } from '../errors.js';
import { startLocalCluster, type LocalCluster } from './cluster.js';

export interface ScratchDatabase {
  kind: 'server' | 'local-cluster';
  name: string;
  /** Full URL with password (for alembic and the smoke command only; never printed unredacted). */
  url: string;
  target: DbTarget;
  /** host:port of the server, for reports. */
  server: string;
  cluster?: LocalCluster;
  drop(): Promise<void>;
}

/** The same URL pointing at another database; scheme, credentials and query parameters kept. */
export function withDatabase(url: string, database: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url.trim());
  if (!m)
    throw new ConfigError(
      'REHEARSAL_DATABASE_URL is not a URL: expected postgresql://user:password@host:5432/postgres',
    );
  const u = new URL('http://' + url.trim().slice(m[0].length));
  u.pathname = '/' + encodeURIComponent(database);
  return `${m[1]}://${u.href.slice('http://'.length)}`;
}

export function scratchName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `mg_rehearsal_${stamp}_${randomBytes(3).toString('hex')}`;
}

export interface ScratchOptions {
  rehearsalUrl?: string;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

async function admin(target: DbTarget, timeoutMs: number | undefined, sql: string): Promise<void> {
  const client = await connect(target, {
    connectTimeoutMs: timeoutMs,
    applicationName: 'migration-gate rehearse',
  });
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createScratchDatabase(opts: ScratchOptions): Promise<ScratchDatabase> {
  const name = scratchName();
  let cluster: LocalCluster | undefined;
  let serverUrl: string;
  if (opts.rehearsalUrl) {
    serverUrl = opts.rehearsalUrl;
  } else {
    cluster = await startLocalCluster({ signal: opts.signal, log: opts.log });
    serverUrl = cluster.url('postgres');
  }
  const adminTarget = parseDatabaseUrl(serverUrl);
  const server = `${adminTarget.host}:${adminTarget.port}`;
  try {
    await admin(adminTarget, opts.connectTimeoutMs, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } catch (err) {
    await cluster?.stop();
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof FailedError) throw err;
    throw new FailedError(
      `cannot create the scratch database on ${server}: ${msg}; the REHEARSAL_DATABASE_URL user needs CREATEDB`,
      [],
      { cause: err },
    );
  }
  const url = withDatabase(serverUrl, name);
  let dropped = false;
  return {
    kind: cluster ? 'local-cluster' : 'server',
    name,
    url,
    target: parseDatabaseUrl(url),
    server,
    ...(cluster ? { cluster } : {}),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      try {
        if (!cluster)
          await admin(
            adminTarget,
            opts.connectTimeoutMs,
            `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`,
          );
      } finally {
        await cluster?.stop();
      }
    },
  };
}
