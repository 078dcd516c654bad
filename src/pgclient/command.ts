/**
 * The `pg-client` command: `pg-client install [--major N]`, for Render's buildCommand. N comes from
 * --major, else from the server (DATABASE_URL reachable at build time).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings, type Settings } from '../config/settings.js';
import { ConfigError, ExitCode, FailedError } from '../errors.js';
import { codenameFrom, debianArch, installClient, treeBytes } from './install.js';

export interface PgClientContext {
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
  signal: AbortSignal;
  out: (line: string) => void;
}

/** The PGDG key shipped in the package (assets/, beside dist/). */
export const SHIPPED_KEY = fileURLToPath(
  new URL('../../assets/pgdg/apt.postgresql.org.asc', import.meta.url),
);

async function majorFromServer(settings: Settings): Promise<number> {
  if (!settings.databaseUrl) {
    throw new ConfigError(
      'pg-client install needs --major N (e.g. --major 18) or a reachable DATABASE_URL to read the server version from',
    );
  }
  const { connect, parseDatabaseUrl } = await import('../db/connect.js');
  const { serverVersion, serverMajor } = await import('../db/catalog.js');
  const client = await connect(parseDatabaseUrl(settings.databaseUrl), {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate pg-client',
  }).catch((err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    throw new FailedError(
      `could not read the server version to pick the client (${why}): pass --major N (the server's major version, e.g. 18)`,
    );
  });
  try {
    return Math.floor(serverMajor((await serverVersion(client)).num));
  } finally {
    await client.end().catch(() => undefined);
  }
}

function majorFlag(raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 10 || n > 99) {
    throw new ConfigError(`--major must be a PostgreSQL major version such as 18, not ${String(raw)}`);
  }
  return n;
}

async function buildPlatform(): Promise<{ codename: string; arch: string }> {
  const arch = debianArch(process.arch);
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const codename = codenameFrom(osRelease);
  if (!arch || !codename) {
    throw new ConfigError(
      `pg-client install fetches Debian packages, but this machine is ${codename ? '' : 'not a Debian/Ubuntu release (no VERSION_CODENAME in /etc/os-release)'}${arch ? '' : ` on an unsupported architecture (${process.arch})`}: install the PostgreSQL client another way and set MIGRATION_GATE_PG_DUMP / MIGRATION_GATE_PG_RESTORE`,
    );
  }
  return { codename, arch };
}

export async function pgClientCommand({ positionals, flags, signal, out }: PgClientContext): Promise<number> {
  const [sub] = positionals;
  if (sub !== 'install') {
    throw new ConfigError(
      `unknown pg-client subcommand '${sub ?? ''}': use \`migration-gate pg-client install [--major N]\``,
    );
  }
  const settings = loadSettings(process.env);
  const major = majorFlag(flags.major) ?? (await majorFromServer(settings));
  const keyFile = settings.pgdgKey ?? SHIPPED_KEY;
  const trustedKeys = await readFile(keyFile, 'utf8').catch(() => {
    throw new ConfigError(`cannot read the PGDG signing key ${keyFile}: check MIGRATION_GATE_PGDG_KEY`);
  });
  const { codename, arch } = await buildPlatform();
  const res = await installClient({
    major,
    cwd: process.cwd(),
    baseUrl: settings.pgdgUrl,
    trustedKeys,
    codename,
    arch,
    say: out,
    signal,
  });
  const rel = path.relative(process.cwd(), res.dir);
  const pkgs = res.manifest.packages.map((p) => `${p.name} ${p.version}`).join(', ');
  if (res.unchanged) {
    out(
      `PostgreSQL ${res.manifest.version} client already installed in ${rel} (${pkgs}); nothing downloaded.`,
    );
  } else {
    const mib = ((await treeBytes(res.dir)) / 1048576).toFixed(1);
    out(
      `Installed the PostgreSQL ${res.manifest.version} client (${pkgs}) from ${res.manifest.source} ${res.manifest.suite}/${arch} into ${rel} (${mib} MiB), verified: InRelease signature, Packages sha256, package sha256.`,
    );
  }
  out(
    '`run`, `restore`, `rehearse` and `dumps get` use it from this directory (MIGRATION_GATE_PG_DUMP still wins).',
  );
  return ExitCode.OK;
}
