/** Starts the status server; the CLI owns signals and calls close() on SIGTERM. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import pg from 'pg';
import { connect, connectError, parseDatabaseUrl, type DbTarget } from '../db/connect.js';
import { ConfigError, FailedError } from '../errors.js';
import { createApp, type ServerLogger } from './app.js';

export interface ServeOptions {
  databaseUrl: string;
  port: number;
  host: string;
  token?: string;
  /** MIGRATION_GATE_STATUS_REQUIRE_TOKEN when set explicitly; undefined: on Render yes, elsewhere no. */
  requireToken?: boolean;
  /** RENDER=true: the service is on the public internet behind Render's proxy. */
  onRender?: boolean;
  schema: string;
  logger: ServerLogger;
  /** Optional: the deployed code's heads, when known (otherwise the last run's). */
  codeHeads?: string[];
  versionTable?: string;
  versionTableSchema?: string;
  cacheMs?: number;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 3000;
// Connection-class SQLSTATEs (08: connection, 28: auth, 3D000: no database, 57P0x: shutdown, 53300: too many).
const CONNECTION_CODES = /^(08|28|3D000|57P0|53300|E[A-Z]+)/;

const NO_SSL_SUPPORT = 'The server does not support SSL connections';

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const preferMode = (t: DbTarget) => (t.sslmode ?? 'prefer') === 'prefer' && t.ssl !== false;

/**
 * pg's Pool has no libpq `prefer` (TLS, else plain): one connection through connect(), which does,
 * tells which the pool should use. When the database is down now, serve starts anyway (it reports
 * the outage) and keeps the URL's setting.
 */
async function probeSsl(target: DbTarget, logger: ServerLogger): Promise<pg.ClientConfig['ssl']> {
  try {
    const client = await connect(target, {
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      applicationName: 'migration-gate serve',
    });
    const used = (client as unknown as { ssl: pg.ClientConfig['ssl'] }).ssl;
    await client.end().catch(() => undefined);
    return used || false;
  } catch (err) {
    logger.warn(`database not reachable yet, serving anyway (status will say so): ${errorText(err)}`);
    return target.pgConfig.ssl;
  }
}

export interface TokenPolicy {
  /** Why serve must not start (no token where one is required). */
  refusal?: string;
  /** Said once at start when the service runs open. */
  warning?: string;
}

/**
 * On Render a web service is public, so a status service without a token is refused unless the
 * operator said MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false on purpose (e.g. a private service).
 */
export function tokenPolicy(o: { token?: string; requireToken?: boolean; onRender?: boolean }): TokenPolicy {
  if (o.token) return {};
  const required = o.requireToken ?? o.onRender === true;
  if (required) {
    const why =
      o.requireToken === undefined
        ? 'on Render (RENDER=true) a web service is public, so /status, /status/runs/<id> and /metrics need a token'
        : 'MIGRATION_GATE_STATUS_REQUIRE_TOKEN is on';
    return {
      refusal: `serve refuses to start without a token: ${why}, but MIGRATION_GATE_STATUS_TOKEN is not set. Set it to a long random string (in render.yaml: generateValue: true), then sign in at /status with it or send Authorization: Bearer <token>; to run open on purpose (a private service), set MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false`,
    };
  }
  const where = o.onRender
    ? 'MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false on Render: /status and /metrics are open to anyone who has the URL'
    : 'MIGRATION_GATE_STATUS_TOKEN is not set: /status and /metrics are open to anyone who can reach this port';
  return {
    warning: `${where}; set MIGRATION_GATE_STATUS_TOKEN unless the service is private`,
  };
}

function statusPool(target: DbTarget, ssl: pg.ClientConfig['ssl'], logger: ServerLogger): pg.Pool {
  const pool = new pg.Pool({
    ...target.pgConfig,
    ssl,
    max: 5,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A stuck query must not hang /status: the server side gives up, and so does the client.
    statement_timeout: 5000,
    query_timeout: 6000,
    application_name: 'migration-gate serve',
  });
  pool.on('error', (err) =>
    logger.warn(`idle database connection lost: ${connectError(err, target, CONNECT_TIMEOUT_MS).message}`),
  );
  return pool;
}

export async function startServe(opts: ServeOptions): Promise<RunningServer> {
  const token = opts.token?.trim() || undefined;
  const policy = tokenPolicy({ ...opts, ...(token ? { token } : {}) });
  if (policy.refusal) throw new ConfigError(policy.refusal);
  const target = parseDatabaseUrl(opts.databaseUrl);
  if (policy.warning) opts.logger.warn(policy.warning);

  const ssl = await probeSsl(target, opts.logger);
  const pool = statusPool(target, ssl, opts.logger);

  const secrets = [target.password, opts.databaseUrl, token].filter((s): s is string => !!s);
  const app = createApp({
    pool,
    schema: opts.schema,
    ...(token ? { token } : {}),
    // Render terminates TLS in one proxy hop; elsewhere the peer is the client.
    trustProxy: opts.onRender ? 1 : false,
    ...(opts.codeHeads ? { codeHeads: opts.codeHeads } : {}),
    ...(opts.versionTable ? { versionTable: opts.versionTable } : {}),
    ...(opts.versionTableSchema ? { versionTableSchema: opts.versionTableSchema } : {}),
    ...(opts.cacheMs !== undefined ? { cacheMs: opts.cacheMs } : {}),
    logger: opts.logger,
    secrets,
    describeError: (err) => {
      // Down at startup, so the probe could not tell: libpq's `prefer` falls back to plain on the next read.
      if (preferMode(target) && errorText(err).includes(NO_SSL_SUPPORT)) {
        (pool as unknown as { options: pg.PoolConfig }).options.ssl = false;
      }
      const code = (err as { code?: string } | null)?.code;
      if (!code || CONNECTION_CODES.test(code)) return connectError(err, target, CONNECT_TIMEOUT_MS).message;
      return `query failed (${code}): ${err instanceof Error ? err.message : String(err)}`;
    },
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, (err?: Error) => (err ? reject(err) : resolve(s)));
    s.once('error', reject);
  }).catch(async (err: NodeJS.ErrnoException) => {
    await pool.end().catch(() => undefined);
    if (err.code === 'EADDRINUSE') {
      throw new ConfigError(
        `cannot listen on ${opts.host}:${opts.port}: the port is in use; set PORT to a free port`,
      );
    }
    throw new FailedError(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`, [], { cause: err });
  });
  // Slow clients must not hold sockets forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;

  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  opts.logger.info(`serving /status, /metrics and /healthz on ${url} (database ${target.redacted})`);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        app.locals.draining = true;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // In-flight requests get a moment; then keep-alive sockets are cut.
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        });
        await pool.end().catch(() => undefined);
      })();
      return closing;
    },
  };
}
