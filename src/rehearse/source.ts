/**
 * Where a rehearsal or a restore gets its archive: a stored safety dump (`<id>` or `latest`), a local
 * file, or a fresh `pg_dump -Fc` of DATABASE_URL. Always ends as a local file (pg_restore -j needs one).
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { redact, type DbTarget } from '../db/connect.js';
import { ConfigError, FailedError } from '../errors.js';
import { openDumpTarget } from '../storage/index.js';
import { selectDump } from '../storage/select.js';
import type { StoredDump } from '../storage/target.js';

export interface DumpSource {
  kind: 'stored' | 'file' | 'fresh';
  /** For reports: the stored id and location, the file path, or `pg_dump of host:port/db`. */
  description: string;
  file: string;
  bytes: number;
  stored?: StoredDump;
  /** Milliseconds spent producing the local file (download or pg_dump). */
  durationMs: number;
  /** Removes the temporary file (not a file the operator named). */
  cleanup(): Promise<void>;
}

/**
 * A stored dump by id, `latest` (the dump taken before the last deploy that migrated) or `newest`
 * (of any kind), without downloading it. See storage/select.ts.
 */
export async function findStoredDump(
  dumpTargetUrl: string | undefined,
  which: string,
  lastMigratedDumpId?: string | null,
): Promise<StoredDump> {
  if (!dumpTargetUrl) {
    throw new ConfigError(
      `--dump ${which} names a stored dump but MIGRATION_GATE_DUMP_TARGET is not set: set it to where the safety dumps are, or pass a local dump file`,
    );
  }
  const target = await openDumpTarget(dumpTargetUrl);
  const choice = selectDump(await target.list(), which, { where: target.description, lastMigratedDumpId });
  if (!choice.dump) throw new ConfigError(choice.problem!);
  return choice.dump;
}

/** True when `--dump` names an existing local file (it wins over a stored id of the same name). */
export function isLocalDumpFile(spec: string): boolean {
  return existsSync(spec) && statSync(spec).isFile();
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mg-dump-'));
}

export interface ResolveSourceOptions {
  dump?: string;
  dumpTargetUrl?: string;
  /** Production, for a fresh dump when no --dump is given. */
  database?: DbTarget;
  pgDump?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** For `latest`: the dump id recorded by the last run that migrated (history), when known. */
  lastMigratedDumpId?: string | null;
}

export async function resolveDumpSource(opts: ResolveSourceOptions): Promise<DumpSource> {
  const started = Date.now();
  if (opts.dump && isLocalDumpFile(opts.dump)) {
    const file = resolve(opts.dump);
    return {
      kind: 'file',
      description: file,
      file,
      bytes: (await stat(file)).size,
      durationMs: 0,
      cleanup: async () => undefined,
    };
  }
  const dir = await tempDir();
  const cleanup = () =>
    rm(dir, { recursive: true, force: true }).then(
      () => undefined,
      () => undefined,
    );
  try {
    if (opts.dump) {
      const stored = await findStoredDump(opts.dumpTargetUrl, opts.dump, opts.lastMigratedDumpId);
      const target = await openDumpTarget(opts.dumpTargetUrl!);
      const file = join(dir, 'source.dump');
      opts.log?.(`Downloading safety dump ${stored.id} (${stored.bytes} bytes) from ${target.description}.`);
      await pipeline(await target.get(stored.id), createWriteStream(file), { signal: opts.signal });
      return {
        kind: 'stored',
        description: `${stored.id} (${stored.location})`,
        file,
        bytes: (await stat(file)).size,
        stored,
        durationMs: Date.now() - started,
        cleanup,
      };
    }
    if (!opts.database) {
      throw new ConfigError(
        'nothing to rehearse on: pass --dump <id|latest|FILE>, or set DATABASE_URL so the gate can take a fresh dump',
      );
    }
    const db = opts.database;
    const file = join(dir, 'fresh.dump');
    const where = `${db.host}:${db.port}/${db.database}`;
    opts.log?.(`Taking a fresh dump of ${where} (pg_dump -Fc, uncompressed).`);
    // A temporary file read once, right here: compressing it costs more than twice the dump's time.
    const args = ['--format=custom', '--compress=0', '--no-password', `--file=${file}`];
    const r = await execa(opts.pgDump ?? 'pg_dump', args, {
      env: { LC_ALL: 'C', ...db.libpqEnv(), PGAPPNAME: 'migration-gate rehearse pg_dump' },
      reject: false,
      stdin: 'ignore',
      cancelSignal: opts.signal,
    });
    if (opts.signal?.aborted)
      throw new FailedError('interrupted while taking the fresh dump; nothing was changed');
    if (r.exitCode !== 0) {
      const scrub = (t: string) => redact(t, db.password ? [db.password] : []);
      throw new FailedError(freshDumpFailure(opts.pgDump ?? 'pg_dump', where, r, String(r.stderr), scrub));
    }
    return {
      kind: 'fresh',
      description: `pg_dump of ${where}`,
      file,
      bytes: (await stat(file)).size,
      durationMs: Date.now() - started,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The one line for a fresh pg_dump of `where` that failed: why (its last words), and what to do. */
export function freshDumpFailure(
  pgDump: string,
  where: string,
  r: { cause?: unknown; shortMessage?: string },
  stderr: string,
  scrub: (text: string) => string,
): string {
  const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ENOENT'
      ? `${pgDump} was not found (apt-get install postgresql-client)`
      : stderr.trim().split('\n').pop() || (r.shortMessage ?? 'no output');
  return `pg_dump of ${where} failed: ${scrub(why)}; check DATABASE_URL, or rehearse on a stored dump with --dump latest`;
}
