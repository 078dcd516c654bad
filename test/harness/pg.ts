/** Access to the throwaway cluster started by global-setup.js (integration tests only). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestServer {
  host: string;
  port: number;
  user: string;
  password: string;
  binDir: string;
}

export interface TestDatabase {
  /** postgresql://user:pass@127.0.0.1:port/name */
  url: string;
  name: string;
  drop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let cached: TestServer | undefined;

export function getTestServer(): TestServer {
  if (cached) return cached;
  const file = process.env.MIGRATION_GATE_TEST_PG;
  if (!file || !existsSync(file)) {
    throw new Error(
      'MIGRATION_GATE_TEST_PG is not set: run integration tests through jest (the integration project starts the cluster)',
    );
  }
  const info = JSON.parse(readFileSync(file, 'utf8')) as TestServer;
  cached = {
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    binDir: info.binDir,
  };
  return cached;
}

export function serverUrl(
  database: string,
  overrides: { user?: string; password?: string; port?: number } = {},
): string {
  const s = getTestServer();
  const user = encodeURIComponent(overrides.user ?? s.user);
  const password = encodeURIComponent(overrides.password ?? s.password);
  return `postgresql://${user}:${password}@${s.host}:${overrides.port ?? s.port}/${database}`;
}

/** Runs one statement as the superuser on the `postgres` database (or `database`). */
export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  database = 'postgres',
): Promise<T[]> {
  const s = getTestServer();
  const client = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh database per test file; `drop()` force-disconnects its sessions. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  const name = `${clean}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  return {
    name,
    url: serverUrl(name),
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    },
  };
}

export function alembicBin(): string {
  if (process.env.MIGRATION_GATE_TEST_ALEMBIC) return process.env.MIGRATION_GATE_TEST_ALEMBIC;
  const venv = join(repoRoot, '.venv', 'bin', 'alembic');
  return existsSync(venv) ? venv : 'alembic';
}
