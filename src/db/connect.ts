/**
 * DATABASE_URL parsing and connecting, with one clear line per failure. Passwords never reach a message,
 * a log line or a child process's command line (child processes get them through libpq's environment).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError, FailedError } from '../errors.js';
import { redact } from '../redact.js';
import { PERCENT_ENCODE_HINT, passwordLooksUnencoded } from './url-hint.js';

export { PERCENT_ENCODE_HINT, passwordLooksUnencoded };

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Schemes we accept; SQLAlchemy's `+driver` suffix is dropped for our own connections. */
const SCHEMES = new Set([
  'postgres',
  'postgresql',
  'postgresql+psycopg2',
  'postgresql+psycopg',
  'postgresql+asyncpg',
  'postgresql+pg8000',
]);

export interface DbTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** TLS options for the first connection attempt (false: plain). */
  ssl: false | ConnectionOptions;
  /** sslmode as written in the URL (absent: libpq's default, `prefer`). */
  sslmode?: SslMode;
  /** Other query parameters (e.g. `pgbouncer=true`), minus the password. */
  params: Record<string, string>;
  pgConfig: pg.ClientConfig;
  /** The URL with the password replaced by `***`. */
  redacted: string;
  /** PGHOST, PGPORT, ... for child processes (pg_dump, pg_restore, psql), so no password is on a command line. */
  libpqEnv(): Record<string, string>;
  /** The URL for Alembic's env.py: the original form (driver kept), `postgres://` spelled `postgresql://`. */
  sqlalchemyUrl: string;
  /** The host, port or database may be pieces of an unencoded password (see passwordLooksUnencoded). */
  passwordLooksUnencoded?: boolean;
}

/** `host:port/db` for messages. */
export function describeTarget(t: Pick<DbTarget, 'host' | 'port' | 'database'>): string {
  return `${t.host}:${t.port}/${t.database}`;
}

function effectiveMode(t: Pick<DbTarget, 'sslmode'>): SslMode {
  return t.sslmode ?? 'prefer';
}

/** The scheme checked and the rest split off: `rest` is everything after `scheme://`. */
function splitScheme(input: string): { scheme: string; rest: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input);
  if (!m) {
    throw new ConfigError('DATABASE_URL is not a URL: expected postgresql://user:password@host:5432/dbname');
  }
  const scheme = m[1]!.toLowerCase();
  if (!SCHEMES.has(scheme)) {
    throw new ConfigError(
      `DATABASE_URL has scheme "${scheme}://", which is not PostgreSQL: expected postgresql:// (or postgresql+psycopg2:// as SQLAlchemy writes it)`,
    );
  }
  return { scheme, rest: input.slice(m[0].length) };
}

/**
 * pg-connection-string's view of the URL, without the TLS parameters: those are handled here (libpq
 * semantics), since the parser would read certificate files and warn about sslmode on its own.
 */
function parseAuthority(
  input: string,
  rest: string,
  unencoded: boolean,
): ReturnType<typeof parseConnectionString> {
  const qAt = rest.indexOf('?');
  const kept = new URLSearchParams(qAt >= 0 ? rest.slice(qAt + 1) : '');
  for (const k of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl', 'uselibpqcompat']) kept.delete(k);
  const query = kept.toString();
  const normalized = `postgresql://${qAt >= 0 ? rest.slice(0, qAt) : rest}${query ? `?${query}` : ''}`;
  try {
    return parseConnectionString(normalized);
  } catch {
    // The parser's message may quote the input; ours must not (nor the input, when it splits a password).
    if (unencoded || /%(?![0-9A-Fa-f]{2})/.test(rest.slice(0, rest.lastIndexOf('@') + 1)))
      throw new ConfigError(`DATABASE_URL could not be parsed: ${PERCENT_ENCODE_HINT}`);
    throw new ConfigError(
      `DATABASE_URL could not be parsed (${redact(input, [])}): check it has the form postgresql://user:password@host:5432/dbname and that special characters in the password are percent-encoded`,
    );
  }
}

function sslModeOf(params: Record<string, string>): SslMode | undefined {
  const rawMode = params.sslmode;
  if (rawMode === undefined) return undefined;
  if (!SSL_MODES.includes(rawMode as SslMode)) {
    throw new ConfigError(
      `DATABASE_URL has sslmode=${rawMode}, which is not one of ${SSL_MODES.join(', ')}: fix the sslmode parameter`,
    );
  }
  return rawMode as SslMode;
}

function portOf(portText: string, unencoded: boolean): number {
  const port = Number(portText);
  if (Number.isInteger(port) && port > 0 && port <= 65535) return port;
  if (unencoded) throw new ConfigError(PERCENT_ENCODE_HINT); // the "port" is a piece of the password: never print it
  throw new ConfigError(
    `DATABASE_URL has port "${portText}", which is not a TCP port: fix the port (usually 5432)`,
  );
}

/** PGHOST, PGPORT, ... for child processes, so no password is on a command line. */
function libpqEnvOf(
  t: Pick<DbTarget, 'host' | 'port' | 'user' | 'database' | 'password' | 'sslmode' | 'params'>,
): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: t.host,
    PGPORT: String(t.port),
    PGUSER: t.user,
    PGDATABASE: t.database,
  };
  if (t.password !== undefined) env.PGPASSWORD = t.password;
  if (t.sslmode) env.PGSSLMODE = t.sslmode;
  if (t.params.sslrootcert) env.PGSSLROOTCERT = t.params.sslrootcert;
  if (t.params.sslcert) env.PGSSLCERT = t.params.sslcert;
  if (t.params.sslkey) env.PGSSLKEY = t.params.sslkey;
  return env;
}

export function parseDatabaseUrl(url: string): DbTarget {
  const input = url.trim();
  const { scheme, rest } = splitScheme(input);
  const qAt = rest.indexOf('?');
  const unencoded = passwordLooksUnencoded(qAt >= 0 ? rest.slice(0, qAt) : rest);
  const parsed = parseAuthority(input, rest, unencoded);

  const params: Record<string, string> = {};
  if (qAt >= 0)
    for (const [k, v] of new URLSearchParams(rest.slice(qAt + 1))) if (k !== 'password') params[k] = v;
  const sslmode = sslModeOf(params);
  const host = parsed.host || 'localhost';
  const port = portOf(parsed.port || '5432', unencoded);
  const user = parsed.user || safeOsUser();
  const password = parsed.password || undefined;
  const database = parsed.database || user;
  const ssl = sslOptions(sslmode, readTlsFiles(params));

  const pgConfig: pg.ClientConfig = {
    host,
    port,
    user,
    database,
    ...(password !== undefined ? { password } : {}),
    ssl,
    ...(params.options ? { options: params.options } : {}),
  };
  // SQLAlchemy 1.4+ rejects postgres://
  const sqlalchemyUrl = scheme === 'postgres' ? `postgresql://${rest}` : input;
  const parts = { host, port, database, user, ...(password !== undefined ? { password } : {}), params };
  return {
    ...parts,
    ssl,
    ...(sslmode ? { sslmode } : {}),
    pgConfig,
    // Pattern-based only: substituting a short password everywhere would mangle the URL.
    redacted: redact(input, []),
    sqlalchemyUrl,
    ...(unencoded ? { passwordLooksUnencoded: true } : {}),
    libpqEnv: () => libpqEnvOf({ ...parts, ...(sslmode ? { sslmode } : {}) }),
  };
}

function safeOsUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

function readTlsFiles(params: Record<string, string>): { ca?: string; cert?: string; key?: string } {
  const out: { ca?: string; cert?: string; key?: string } = {};
  const files: Array<[keyof typeof out, string]> = [
    ['ca', 'sslrootcert'],
    ['cert', 'sslcert'],
    ['key', 'sslkey'],
  ];
  for (const [field, param] of files) {
    const path = params[param];
    if (!path || path === 'system') continue;
    try {
      out[field] = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(
        `DATABASE_URL names ${param}=${path}, which cannot be read (${code}): fix the path`,
      );
    }
  }
  return out;
}

function sslOptions(
  mode: SslMode | undefined,
  files: { ca?: string; cert?: string; key?: string },
): false | ConnectionOptions {
  switch (mode ?? 'prefer') {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
      // libpq: encrypt, but only verify the certificate when a root certificate is given.
      return files.ca
        ? { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined }
        : { ...files, rejectUnauthorized: false };
    case 'verify-ca':
      return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...files, rejectUnauthorized: true };
  }
}

export { redact };

export interface ConnectOptions {
  connectTimeoutMs?: number;
  applicationName?: string;
}

const NO_SSL_SUPPORT = 'The server does not support SSL connections';

export async function connect(target: DbTarget, options: ConnectOptions = {}): Promise<pg.Client> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const mode = effectiveMode(target);
  const attempt = async (ssl: false | ConnectionOptions): Promise<pg.Client> => {
    const client = new pg.Client({
      ...target.pgConfig,
      ssl,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: options.applicationName ?? 'migration-gate',
    });
    // An idle connection that dies emits 'error'; without a listener that would crash the process.
    // The next query on the client then rejects, which is where callers handle it.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  try {
    try {
      return await attempt(target.ssl);
    } catch (err) {
      // libpq's prefer: try TLS first, then plain when the server has no TLS.
      if (mode === 'prefer' && target.ssl !== false && errorMessage(err).includes(NO_SSL_SUPPORT)) {
        return await attempt(false);
      }
      // allow: plain first, TLS when pg_hba insists on it.
      if (mode === 'allow' && isHbaNoEncryption(err)) {
        return await attempt({ rejectUnauthorized: false });
      }
      throw err;
    }
  } catch (err) {
    throw connectError(err, target, connectTimeoutMs);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isHbaNoEncryption(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '28000' && /no encryption/i.test(e.message ?? '');
}

const TLS_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** One line per failure: what, where (host:port/db and user), what to do. */
export function connectError(err: unknown, target: DbTarget, timeoutMs: number): FailedError {
  const e = err as { code?: string; message?: string };
  if (target.passwordLooksUnencoded) {
    // Whatever failed, the "host" it tried may be part of the password: name neither, say how to fix.
    return new FailedError(`cannot connect with DATABASE_URL: ${PERCENT_ENCODE_HINT}`, [], { cause: err });
  }
  const where = `${describeTarget(target)} as user "${target.user}"`;
  const hostPort = `${target.host}:${target.port}`;
  const secrets = target.password ? [target.password] : [];
  const raw = redact(e?.message ?? String(err), secrets);
  const mode = effectiveMode(target);
  const fail = (msg: string) => new FailedError(msg, [], { cause: err });

  switch (e?.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(
        `cannot connect to ${where}: the host name "${target.host}" does not resolve (DNS); check the host in DATABASE_URL (internal hostnames only resolve from inside the same network/region)`,
      );
    case 'ECONNREFUSED':
      return fail(
        `cannot connect to ${where}: connection refused by ${hostPort}; is the server running, and is the port right?`,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return fail(
        `cannot connect to ${where}: ${hostPort} is unreachable (${e.code}); check the host and port, and that this machine may reach the database (firewall, IP allow-list)`,
      );
    case 'ECONNRESET':
      return fail(
        `cannot connect to ${where}: the server closed the connection during the handshake; if it requires TLS add sslmode=require to DATABASE_URL, otherwise retry`,
      );
    case '28P01':
      return fail(
        `cannot connect to ${where}: password authentication failed (wrong password, or no such role); check the user and password in DATABASE_URL (percent-encode special characters)`,
      );
    case '3D000':
      return fail(
        `cannot connect to ${where}: database "${target.database}" does not exist on ${hostPort}; check the database name in DATABASE_URL`,
      );
    case '28000':
      if (/no encryption/i.test(raw)) {
        return fail(
          `cannot connect to ${where}: the server requires TLS for this connection (pg_hba.conf rejects unencrypted ones); add sslmode=require to DATABASE_URL`,
        );
      }
      if (/role .* does not exist/i.test(raw)) {
        return fail(
          `cannot connect to ${where}: role "${target.user}" does not exist on ${hostPort}; check the user name in DATABASE_URL`,
        );
      }
      return fail(
        `cannot connect to ${where}: the server refused the connection (${raw}); check pg_hba.conf / the user`,
      );
    case '53300':
      return fail(
        `cannot connect to ${where}: too many connections (${raw}); close idle connections or lower pool sizes, then retry`,
      );
    case '57P03':
      return fail(
        `cannot connect to ${where}: the server is starting up or shutting down; retry in a moment`,
      );
  }
  if (e?.code && TLS_CERT_CODES.has(e.code)) {
    return fail(
      `cannot connect to ${where}: the server's TLS certificate was rejected (${e.code}) under sslmode=${mode}; give the CA with sslrootcert=/path/ca.pem, or use sslmode=require to encrypt without verifying`,
    );
  }
  if (raw.includes(NO_SSL_SUPPORT)) {
    return fail(
      `cannot connect to ${where}: sslmode=${mode} requires TLS but the server does not support it; use sslmode=prefer or disable, or enable ssl on the server`,
    );
  }
  if (/timeout/i.test(raw)) {
    return fail(
      `cannot connect to ${where}: no answer within ${Math.round(timeoutMs / 100) / 10}s; the host is unreachable or a firewall drops the traffic, check the host and port`,
    );
  }
  return fail(`cannot connect to ${where}: ${raw}`);
}
