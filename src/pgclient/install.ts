/**
 * `migration-gate pg-client install`: put the PostgreSQL client of major N (pg_dump, pg_restore,
 * psql and the libpq they link) into `.migration-gate/pg/N/`, from the PGDG apt repository, with no
 * root and no apt. Render keeps the build's files for the pre-deploy command (platform fact), so a
 * buildCommand that runs this gives the pre-deploy gate a client matching the server.
 *
 * A pipeline of named steps: read the index (signature, then hashes), download into a stage
 * directory (hashes again), unpack, write wrappers that put the bundled libpq on LD_LIBRARY_PATH,
 * smoke-test them, then swap the stage in with one rename. A failure removes the stage: nothing
 * half-installed is ever left where discovery looks.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { ConfigError, FailedError } from '../errors.js';
import { extractDeb } from './deb.js';
import { clientRoot, MANIFEST, TOOLS, type ClientManifest } from './discover.js';
import {
  parseControl,
  pickPackage,
  releaseHashes,
  safePoolPath,
  sha256Hex,
  verifyInRelease,
  type PackageRef,
} from './repo.js';
import { createHash } from 'node:crypto';

export interface InstallOptions {
  major: number;
  /** The project directory; the client goes into <cwd>/.migration-gate/pg/<major>/. */
  cwd: string;
  baseUrl: string;
  /** Armored public key(s) trusted to sign the repository's InRelease. */
  trustedKeys: string;
  /** Debian codename (bookworm) and dpkg architecture (amd64). */
  codename: string;
  arch: string;
  say: (line: string) => void;
  signal?: AbortSignal;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface InstallResult {
  dir: string;
  manifest: ClientManifest;
  /** True when the same package versions were already installed and nothing was downloaded. */
  unchanged: boolean;
}

/** x64 -> amd64: dpkg's architecture names for Node's. */
export function debianArch(nodeArch: string): string | undefined {
  return ({ x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64el', s390x: 's390x' } as Record<string, string>)[
    nodeArch
  ];
}

/** The build's Debian release from /etc/os-release (VERSION_CODENAME). */
export function codenameFrom(osRelease: string): string | undefined {
  const fields = Object.fromEntries(
    osRelease
      .split('\n')
      .map((l) => l.split('='))
      .filter((p) => p.length >= 2)
      .map(([k, ...v]) => [k!.trim(), v.join('=').trim().replace(/^"|"$/g, '')]),
  );
  return fields.VERSION_CODENAME || undefined;
}

function join(base: string, rel: string): string {
  return base.replace(/\/+$/, '') + '/' + rel;
}

async function get(url: string, opts: InstallOptions): Promise<Response> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 120_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = opts.signal?.aborted
      ? 'interrupted'
      : timeout.aborted
        ? `no answer within ${Math.round((opts.timeoutMs ?? 120_000) / 1000)}s`
        : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
    throw new FailedError(
      `could not download ${url} (${why}): check the network and MIGRATION_GATE_PGDG_URL; nothing was installed`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new FailedError(
      `${url} answered HTTP ${res.status}: ${res.status === 404 ? 'the repository has no such file (is the Debian release or architecture published there?)' : 'the repository is not serving it'}; nothing was installed`,
    );
  }
  return res;
}

async function getBuffer(url: string, opts: InstallOptions): Promise<Buffer> {
  return Buffer.from(await (await get(url, opts)).arrayBuffer());
}

interface Index {
  suite: string;
  client: PackageRef;
  libpq: PackageRef;
}

/** Step 1: InRelease (signature) -> Packages (sha256 from InRelease) -> the two packages. */
export async function readIndex(opts: InstallOptions): Promise<Index> {
  const suite = `${opts.codename}-pgdg`;
  const inReleaseUrl = join(opts.baseUrl, `dists/${suite}/InRelease`);
  const signed = await verifyInRelease(
    (await getBuffer(inReleaseUrl, opts)).toString('utf8'),
    opts.trustedKeys,
    inReleaseUrl,
  );
  const release = parseControl(signed)[0] ?? {};
  const validUntil = release['Valid-Until'] ? Date.parse(release['Valid-Until']) : NaN;
  if (Number.isFinite(validUntil) && validUntil < Date.now()) {
    throw new FailedError(
      `${inReleaseUrl} expired on ${release['Valid-Until']}: the mirror is stale (a replayed old index could hide security fixes); use a current mirror; nothing was installed`,
    );
  }
  const hashes = releaseHashes(release);
  const base = `main/binary-${opts.arch}/Packages`;
  const entry = hashes.get(`${base}.gz`) ? `${base}.gz` : hashes.get(base) ? base : undefined;
  if (!entry) {
    throw new FailedError(
      `${inReleaseUrl} lists no ${base} index: PGDG does not publish ${opts.arch} packages for ${opts.codename}; nothing was installed`,
    );
  }
  const packagesUrl = join(opts.baseUrl, `dists/${suite}/${entry}`);
  const raw = await getBuffer(packagesUrl, opts);
  const want = hashes.get(entry)!;
  const got = sha256Hex(raw);
  if (got !== want.sha256 || raw.length !== want.size) {
    throw new FailedError(
      `${packagesUrl} does not match the signed InRelease (sha256 ${got}, ${raw.length} bytes; expected ${want.sha256}, ${want.size} bytes): the index was altered or the mirror is mid-update; retry later; nothing was installed`,
    );
  }
  const text = entry.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const stanzas = parseControl(text);
  const clientName = `postgresql-client-${opts.major}`;
  const client = pickPackage(stanzas, clientName, opts.arch);
  const libpq = pickPackage(stanzas, 'libpq5', opts.arch);
  for (const [ref, name] of [
    [client, clientName],
    [libpq, 'libpq5'],
  ] as const) {
    if (!ref) {
      throw new FailedError(
        `${packagesUrl} has no ${name} for ${opts.arch}: PostgreSQL ${opts.major} may not be published for ${opts.codename}; pick another --major; nothing was installed`,
      );
    }
    if (!safePoolPath(ref.filename)) {
      throw new FailedError(
        `${packagesUrl} gives ${name} an unsafe file name (${ref.filename}); nothing was installed`,
      );
    }
  }
  return { suite, client: client!, libpq: libpq! };
}

/** Step 2: stream one package into the stage directory, checking its sha256 and size from Packages. */
async function download(ref: PackageRef, dir: string, opts: InstallOptions): Promise<string> {
  const url = join(opts.baseUrl, ref.filename);
  const res = await get(url, opts);
  const file = path.join(dir, path.basename(ref.filename));
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), meter, createWriteStream(file));
  const got = hash.digest('hex');
  if (got !== ref.sha256 || (Number.isFinite(ref.size) && bytes !== ref.size)) {
    throw new FailedError(
      `${url} does not match the signed index (sha256 ${got}, ${bytes} bytes; expected ${ref.sha256}, ${ref.size} bytes): the package was altered or corrupted in transit; nothing was installed`,
    );
  }
  return file;
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.name === name) return path.join(entry.parentPath, entry.name);
  }
  return undefined;
}

function wrapper(relBin: string, relLib: string): string {
  // Absolute paths would break when the stage directory is renamed into place (or the project moves).
  return `#!/bin/sh
# Written by \`migration-gate pg-client install\`: runs the bundled PostgreSQL client with its own libpq.
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/${relLib}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/${relBin}" "$@"
`;
}

/** Step 3: unpack, write bin/ wrappers, check that the wrapped pg_dump runs and reports major N. */
async function assemble(stage: string, files: string[], opts: InstallOptions): Promise<string> {
  for (const f of files) await extractDeb(f, stage, path.basename(f));
  const binDir = path.join('usr/lib/postgresql', String(opts.major), 'bin');
  const lib = await findFile(path.join(stage, 'usr/lib'), 'libpq.so.5');
  if (!lib) throw new FailedError('libpq5 did not contain libpq.so.5; nothing was installed');
  const relLib = path.relative(stage, path.dirname(lib));
  await mkdir(path.join(stage, 'bin'));
  for (const tool of TOOLS) {
    const rel = path.join(binDir, tool);
    if (!existsSync(path.join(stage, rel))) {
      throw new FailedError(`postgresql-client-${opts.major} did not contain ${rel}; nothing was installed`);
    }
    await writeFile(path.join(stage, 'bin', tool), wrapper(rel, relLib));
    await chmod(path.join(stage, 'bin', tool), 0o755);
  }
  const r = await execa(path.join(stage, 'bin/pg_dump'), ['--version'], {
    reject: false,
    env: { LC_ALL: 'C' },
  });
  const m = /\(PostgreSQL\)\s+(\d+)\.?(\d+)?/.exec(String(r.stdout));
  if (r.exitCode !== 0 || !m || Number(m[1]) !== opts.major) {
    const why = String(r.stderr || r.stdout || r.shortMessage)
      .trim()
      .split('\n')[0];
    throw new FailedError(
      `the downloaded pg_dump does not run on this machine (${why}): the packages may be for another Debian release or architecture; nothing was installed`,
    );
  }
  return [m[1], m[2]].filter(Boolean).join('.');
}

async function sameAsInstalled(dir: string, index: Index): Promise<ClientManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as ClientManifest;
    const same = m.packages.every((p) =>
      [index.client, index.libpq].some((r) => r.name === p.name && r.sha256 === p.sha256),
    );
    return same && existsSync(path.join(dir, 'bin/pg_dump')) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Step 4: swap the finished stage in. The old client stays usable until the last moment. */
async function commit(stage: string, dir: string): Promise<void> {
  const old = `${dir}.old-${randomBytes(4).toString('hex')}`;
  const hadOld = existsSync(dir);
  if (hadOld) await rename(dir, old);
  try {
    await rename(stage, dir);
  } catch (err) {
    if (hadOld) await rename(old, dir).catch(() => undefined);
    throw err;
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
}

export async function installClient(opts: InstallOptions): Promise<InstallResult> {
  if (!Number.isInteger(opts.major) || opts.major < 10 || opts.major > 99) {
    throw new ConfigError(`--major must be a PostgreSQL major version such as 18, not ${opts.major}`);
  }
  const root = clientRoot(opts.cwd);
  const dir = path.join(root, String(opts.major));
  opts.say(`Reading the PGDG index at ${opts.baseUrl} (${opts.codename}-pgdg, ${opts.arch})…`);
  const index = await readIndex(opts);
  const existing = await sameAsInstalled(dir, index);
  if (existing) return { dir, manifest: existing, unchanged: true };

  await mkdir(root, { recursive: true });
  const stage = path.join(root, `.stage-${opts.major}-${randomBytes(4).toString('hex')}`);
  await mkdir(stage);
  try {
    const debs = path.join(stage, '.debs');
    await mkdir(debs);
    const files: string[] = [];
    for (const ref of [index.libpq, index.client]) {
      opts.say(`Downloading ${ref.name} ${ref.version} (${(ref.size / 1048576).toFixed(1)} MiB)…`);
      files.push(await download(ref, debs, opts));
    }
    const version = await assemble(stage, files, opts);
    await rm(debs, { recursive: true, force: true });
    const manifest: ClientManifest = {
      major: opts.major,
      version,
      source: opts.baseUrl,
      suite: index.suite,
      arch: opts.arch,
      installedAt: new Date().toISOString(),
      packages: [index.client, index.libpq].map((r) => ({
        name: r.name,
        version: r.version,
        sha256: r.sha256,
      })),
    };
    await writeFile(path.join(stage, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    await commit(stage, dir);
    return { dir, manifest, unchanged: false };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Size of a directory tree, for the summary line. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}
