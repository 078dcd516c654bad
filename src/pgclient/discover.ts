/**
 * Finding the client `pg-client install` put into the project, so `run`, `restore`, `rehearse` and
 * `dumps get` use it without configuration. The newest installed major wins: pg_dump reads servers
 * of its own major and older, and pg_restore reads archives of its own major and older. An explicit
 * MIGRATION_GATE_PG_DUMP / MIGRATION_GATE_PG_RESTORE always wins over what is found.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config/settings.js';

export const MANIFEST = 'manifest.json';
export const TOOLS = ['pg_dump', 'pg_restore', 'psql'] as const;

export interface ClientManifest {
  major: number;
  /** What pg_dump --version reported, e.g. 18.1. */
  version: string;
  source: string;
  suite: string;
  arch: string;
  installedAt: string;
  packages: Array<{ name: string; version: string; sha256: string }>;
}

export interface InstalledClient {
  major: number;
  dir: string;
  manifest: ClientManifest;
}

export function clientRoot(cwd: string): string {
  return path.join(cwd, '.migration-gate', 'pg');
}

/** Complete installs only (a manifest and the wrappers): a stage directory never counts. */
export function listInstalled(cwd: string): InstalledClient[] {
  const root = clientRoot(cwd);
  if (!existsSync(root)) return [];
  const out: InstalledClient[] = [];
  for (const name of readdirSync(root)) {
    if (!/^\d+$/.test(name)) continue;
    const dir = path.join(root, name);
    if (!TOOLS.every((t) => existsSync(path.join(dir, 'bin', t)))) continue;
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as ClientManifest;
      out.push({ major: Number(name), dir, manifest });
    } catch {
      // An unreadable manifest is not a finished install.
    }
  }
  return out.sort((a, b) => b.major - a.major);
}

export type ClientOrigin = 'setting' | 'bundled' | 'path';

export interface ChosenClient {
  pgDump: string;
  pgRestore: string;
  origin: ClientOrigin;
  /** For logs: which client and where it came from. */
  description: string;
  bundled?: InstalledClient;
}

/** Pure: which pg_dump/pg_restore to use, given the settings, the raw environment and what is installed. */
export function chooseClient(
  settings: Pick<Settings, 'pgDump' | 'pgRestore'>,
  env: NodeJS.ProcessEnv,
  installed: InstalledClient[],
  cwd: string,
): ChosenClient {
  const explicit = Boolean(env.MIGRATION_GATE_PG_DUMP?.trim() || env.MIGRATION_GATE_PG_RESTORE?.trim());
  const best = installed[0];
  if (explicit || !best) {
    return {
      pgDump: settings.pgDump,
      pgRestore: settings.pgRestore,
      origin: explicit ? 'setting' : 'path',
      description: explicit
        ? `${settings.pgDump} (from MIGRATION_GATE_PG_DUMP / MIGRATION_GATE_PG_RESTORE)`
        : `${settings.pgDump} from PATH (no client in ${path.relative(cwd, clientRoot(cwd)) || '.'}; \`migration-gate pg-client install\` adds one)`,
    };
  }
  const m = best.manifest;
  return {
    pgDump: path.join(best.dir, 'bin', 'pg_dump'),
    pgRestore: path.join(best.dir, 'bin', 'pg_restore'),
    origin: 'bundled',
    bundled: best,
    description: `PostgreSQL ${m.version} client in ${path.relative(cwd, best.dir)} (${m.packages.map((p) => `${p.name} ${p.version}`).join(', ')} from ${m.source} ${m.suite}, installed ${m.installedAt})`,
  };
}

/** Settings with pg_dump / pg_restore pointed at the installed client, when there is one and none is set. */
export function withInstalledClient(settings: Settings, env: NodeJS.ProcessEnv, cwd: string): Settings {
  const chosen = chooseClient(settings, env, listInstalled(cwd), cwd);
  return { ...settings, pgDump: chosen.pgDump, pgRestore: chosen.pgRestore };
}

/** For log lines: where the pg_dump in use came from (the bundled client's manifest, a setting, PATH). */
export function describeClient(pgDump: string, env: NodeJS.ProcessEnv, cwd: string): string {
  const installed = listInstalled(cwd).find((c) => path.join(c.dir, 'bin', 'pg_dump') === pgDump);
  if (installed) return chooseClient({ pgDump, pgRestore: '' }, {}, [installed], cwd).description;
  return chooseClient({ pgDump, pgRestore: '' }, env, [], cwd).description;
}
