/**
 * `file:///dir` dump target. Each dump is written to `<name>.partial`, fsynced, then renamed (so a
 * crash never leaves a file that looks complete), with a `<name>.json` sidecar holding its metadata.
 * Names may contain one or more folders (`<service>/<stamp>...dump`, see naming.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ConfigError, FailedError } from '../errors.js';
import { parseDumpObjectName } from './naming.js';
import { provenanceStrings } from './provenance.js';
import {
  checkNoteName,
  NOTES_DIR,
  type DumpMeta,
  type DumpTarget,
  type PreflightOptions,
  type StoredDump,
  type StoredNote,
  type SweepResult,
} from './target.js';

const PARTIAL = '.partial';

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
const SIDECAR = '.json';
/** preflight()'s write probe; one left behind by a killed process is swept like a partial dump. */
const PROBE_PREFIX = '.migration-gate-probe-';

interface Sidecar {
  id: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  meta: Record<string, string>;
}

/** `file:///abs/dir`, `file://localhost/abs/dir`, or `file:relative/dir` (resolved against the cwd). */
export function fileUrlToDir(url: string): string {
  if (url.startsWith('file://')) {
    try {
      return fileURLToPath(url);
    } catch {
      throw new ConfigError(
        `dump target ${url} is not a usable file URL: write an absolute path as file:///var/backups/db`,
      );
    }
  }
  const rest = url.slice('file:'.length);
  if (!rest)
    throw new ConfigError('dump target "file:" has no directory: write it as file:///var/backups/db');
  return resolve(decodeURIComponent(rest));
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a path component is not a directory',
  EEXIST: 'a file is in the way',
  EIO: 'I/O error',
};

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && ERRNO_TEXT[code]) return `${ERRNO_TEXT[code]} (${code})`;
  return code ?? (err instanceof Error ? err.message : String(err));
}

function metaToStrings(meta: DumpMeta): Record<string, string> {
  const out: Record<string, string> = {
    fromRevisions: meta.fromRevisions.join(','),
    toRevisions: meta.toRevisions.join(','),
    createdAt: meta.createdAt.toISOString(),
  };
  if (meta.service) out.service = meta.service;
  if (meta.commit) out.commit = meta.commit;
  if (meta.pgDumpVersion) out.pgDumpVersion = meta.pgDumpVersion;
  if (meta.serverVersion) out.serverVersion = meta.serverVersion;
  return { ...out, ...provenanceStrings(meta) };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems do not support fsync on directories; the rename is still atomic.
  } finally {
    await fh.close();
  }
}

export class FileDumpTarget implements DumpTarget {
  readonly dir: string;
  readonly description: string;

  constructor(dir: string) {
    if (!isAbsolute(dir)) dir = resolve(dir);
    this.dir = dir;
    this.description = `file://${dir}`;
  }

  static fromUrl(url: string): FileDumpTarget {
    return new FileDumpTarget(fileUrlToDir(url));
  }

  /** Absolute path for a dump id; ids are relative paths without `..`, hidden parts or backslashes. */
  private pathOf(id: string): string {
    const parts = id.split('/');
    const ok =
      id.length > 0 &&
      !id.includes('\\') &&
      !id.includes('\0') &&
      parts.every((p) => p.length > 0 && !p.startsWith('.')) &&
      !id.endsWith(PARTIAL) &&
      !id.endsWith(SIDECAR);
    if (!ok)
      throw new ConfigError(
        `"${id}" is not a valid dump name: use a relative name like service/20260101T000000Z_a_to_b.dump`,
      );
    return join(this.dir, ...parts);
  }

  async preflight(options: PreflightOptions = {}): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const msg = `dump directory ${this.dir} cannot be created: ${errnoText(err)}; create it or point MIGRATION_GATE_DUMP_TARGET at a writable directory`;
      throw code === 'ENOTDIR' || code === 'EEXIST'
        ? new ConfigError(msg)
        : new FailedError(msg, [], { cause: err });
    }
    const st = await stat(this.dir);
    if (!st.isDirectory()) {
      throw new ConfigError(
        `dump target ${this.dir} is not a directory: point MIGRATION_GATE_DUMP_TARGET at a directory`,
      );
    }
    // Probe by writing: access() is not reliable (root, ACLs, read-only mounts).
    const probe = join(this.dir, `${PROBE_PREFIX}${process.pid}-${Date.now()}`);
    try {
      await writeFile(probe, 'ok');
    } catch (err) {
      throw new FailedError(
        `dump directory ${this.dir} is not writable: ${errnoText(err)}; fix its permissions or choose another directory`,
        [],
        { cause: err },
      );
    } finally {
      await rm(probe, { force: true }).catch(() => undefined);
    }
    if (options.estimatedBytes !== undefined) await this.checkFreeSpace(options.estimatedBytes);
  }

  /** A dump that fills the disk fails half-way (and may hurt whatever else lives there): refuse it up front. */
  private async checkFreeSpace(needed: number): Promise<void> {
    let free: number;
    try {
      const fs = await statfs(this.dir);
      free = fs.bavail * fs.bsize;
    } catch {
      return; // No statfs on this platform/filesystem: the streamed write still fails cleanly on ENOSPC.
    }
    if (free < needed) {
      throw new FailedError(
        `dump directory ${this.dir} has ${mib(free)} free, but the safety dump needs about ${mib(needed)} (estimated from the database size, with a margin); free space there or point MIGRATION_GATE_DUMP_TARGET at a larger disk or a bucket`,
      );
    }
  }

  async put(name: string, body: Readable, meta: DumpMeta, signal?: AbortSignal): Promise<StoredDump> {
    const finalPath = this.pathOf(name);
    const partialPath = finalPath + PARTIAL;
    const hash = createHash('sha256');
    let bytes = 0;
    let step = 'create';
    try {
      await mkdir(dirname(finalPath), { recursive: true });
      // 0600: a dump holds every row of the database.
      const fh = await open(partialPath, 'w', 0o600);
      try {
        step = 'write';
        // One chunk at a time: the next is read only after the previous is written (back-pressure).
        for await (const chunk of body) {
          if (signal?.aborted) throw signal.reason ?? new Error('aborted');
          const buf = chunk as Buffer;
          hash.update(buf);
          let off = 0;
          while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
          bytes += buf.length;
        }
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        step = 'fsync';
        await fh.sync();
      } finally {
        await fh.close();
      }
      step = 'rename';
      await rename(partialPath, finalPath);
      await fsyncDir(dirname(finalPath));
      const sha256 = hash.digest('hex');
      const stored: StoredDump = {
        id: name,
        location: `file://${finalPath}`,
        bytes,
        sha256,
        createdAt: meta.createdAt,
        meta: metaToStrings(meta),
      };
      step = 'sidecar';
      const sidecar: Sidecar = {
        id: name,
        bytes,
        sha256,
        createdAt: meta.createdAt.toISOString(),
        meta: metaToStrings(meta),
      };
      await writeFile(finalPath + SIDECAR + PARTIAL, JSON.stringify(sidecar, null, 2) + '\n', {
        mode: 0o600,
      });
      await rename(finalPath + SIDECAR + PARTIAL, finalPath + SIDECAR);
      return stored;
    } catch (err) {
      await Promise.all(
        [partialPath, finalPath, finalPath + SIDECAR, finalPath + SIDECAR + PARTIAL].map((p) =>
          rm(p, { force: true }).catch(() => undefined),
        ),
      );
      if (signal?.aborted) throw err;
      if (err instanceof ConfigError || err instanceof FailedError) throw err;
      throw new FailedError(
        `cannot write ${step === 'write' || step === 'fsync' ? partialPath : finalPath} (${step}): ${errnoText(err)}`,
        [],
        { cause: err },
      );
    }
  }

  async list(): Promise<StoredDump[]> {
    let entries: string[];
    try {
      entries = (await readdir(this.dir, { recursive: true })).map(String);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new FailedError(`cannot list dumps in ${this.dir}: ${errnoText(err)}`, [], { cause: err });
    }
    const dumps: StoredDump[] = [];
    for (const rel of entries) {
      const id = rel.split(sep).join('/');
      if (id.endsWith(PARTIAL) || id.endsWith(SIDECAR) || id.split('/').some((p) => p.startsWith('.')))
        continue;
      const path = join(this.dir, rel);
      let st;
      try {
        st = await stat(path);
      } catch {
        continue; // removed while listing
      }
      if (!st.isFile()) continue;
      const side = await this.readSidecar(path);
      const createdAt = side ? new Date(side.createdAt) : (parseDumpObjectName(id)?.createdAt ?? st.mtime);
      dumps.push({
        id,
        location: `file://${path}`,
        bytes: st.size,
        ...(side?.sha256 ? { sha256: side.sha256 } : {}),
        createdAt,
        ...(side?.meta ? { meta: side.meta } : {}),
      });
    }
    return dumps.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
  }

  private async readSidecar(path: string): Promise<Sidecar | undefined> {
    try {
      return JSON.parse(await readFile(path + SIDECAR, 'utf8')) as Sidecar;
    } catch {
      return undefined;
    }
  }

  async get(id: string): Promise<Readable> {
    const path = this.pathOf(id);
    try {
      if (!(await stat(path)).isFile()) throw new Error('not a file');
    } catch {
      throw new FailedError(`no dump "${id}" in ${this.dir}: list them with \`migration-gate dumps list\``);
    }
    return createReadStream(path);
  }

  async sweep(olderThan: Date): Promise<SweepResult> {
    const result: SweepResult = { removed: [], failed: [] };
    let entries: string[];
    try {
      entries = (await readdir(this.dir, { recursive: true })).map(String);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
      result.failed.push({
        item: this.dir,
        message: `could not look for partial dumps in ${this.dir}: ${errnoText(err)}`,
      });
      return result;
    }
    for (const rel of entries) {
      const base = rel.split(sep).pop() ?? rel;
      if (!rel.endsWith(PARTIAL) && !base.startsWith(PROBE_PREFIX)) continue;
      const path = join(this.dir, rel);
      try {
        const st = await stat(path);
        // Younger than the lock: not left by a dead process (never touch a live command's file).
        if (!st.isFile() || st.mtime.getTime() >= olderThan.getTime()) continue;
        await unlink(path);
        result.removed.push(`file://${path}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        result.failed.push({
          item: `file://${path}`,
          message: `could not remove the partial dump ${path} left by an earlier run: ${errnoText(err)}; delete it by hand`,
        });
      }
    }
    return result;
  }

  async remove(id: string): Promise<void> {
    const path = this.pathOf(id);
    for (const p of [path, path + SIDECAR, path + PARTIAL]) {
      try {
        await unlink(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new FailedError(`cannot remove ${p}: ${errnoText(err)}`, [], { cause: err });
        }
      }
    }
  }

  /** Written whole to `<name>.partial` and renamed, like a dump: a reader never sees half a note. */
  async writeNote(name: string, text: string): Promise<string> {
    checkNoteName(name);
    const dir = join(this.dir, NOTES_DIR);
    const path = join(dir, name);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(path + PARTIAL, text, { mode: 0o600 });
      await rename(path + PARTIAL, path);
    } catch (err) {
      await rm(path + PARTIAL, { force: true }).catch(() => undefined);
      throw new FailedError(`cannot write ${path}: ${errnoText(err)}`, [], { cause: err });
    }
    return `file://${path}`;
  }

  async readNotes(limit: number): Promise<StoredNote[]> {
    const dir = join(this.dir, NOTES_DIR);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith(SIDECAR)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new FailedError(`cannot list notes in ${dir}: ${errnoText(err)}`, [], { cause: err });
    }
    const notes: StoredNote[] = [];
    for (const name of names.slice(0, limit)) {
      const path = join(dir, name);
      try {
        notes.push({ name, location: `file://${path}`, text: await readFile(path, 'utf8') });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return notes;
  }

  async removeNote(name: string): Promise<void> {
    checkNoteName(name);
    await rm(join(this.dir, NOTES_DIR, name), { force: true });
  }
}
