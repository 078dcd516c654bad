/**
 * Render's own export as the safety dump, for a server no local pg_dump can read. Render documents
 * (API reference and the Postgres backups page): POST /postgres/{id}/export answers 202 with no body,
 * only one export runs at a time, the export appears in GET /postgres/{id}/export and gets its
 * `url` when ready; the file is a pg_dump directory-format archive packed as `.dir.tar.gz`, kept 7 days.
 *
 * Steps: note the exports that exist, create one, poll for the new one's url (backing off, within the
 * deadline), then stream the download once through sha256 + byte count, a gunzip + tar reader (which
 * must find the archive's toc.dat: a real dump, not an error page) and, when a dump target is set,
 * into the target, whose stored size and sha256 must match what was read.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable, type Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { t as tarList } from 'tar';
import { FailedError } from '../errors.js';
import type { DumpMeta, DumpTarget } from '../storage/target.js';
import { defaultSleep, type RenderApi, type RenderExport } from './api.js';

export interface RenderExportOptions {
  api: RenderApi;
  postgresId: string;
  timeoutMs: number;
  /** First poll interval; doubles up to 30 s (reads are limited to 400 a minute, we use a handful). */
  pollMs?: number;
  sink?: DumpTarget;
  name: string;
  meta: DumpMeta;
  info: (line: string) => void;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface RenderExportResult {
  exportId: string;
  /** The copy's id in the dump target (for `dumps get`), else the export id. */
  id: string;
  createdAt: string;
  location: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  /** Entries in the archive (files of the directory-format dump). */
  entries: number;
  copied: boolean;
}

function newest(exports: RenderExport[], known: Set<string>): RenderExport | undefined {
  return exports
    .filter((e) => !known.has(e.id))
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
}

/** Create an export and wait for its download URL. */
export async function createAndAwaitExport(
  opts: RenderExportOptions,
  started: number,
): Promise<RenderExport> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const deadline = started + opts.timeoutMs;
  const api = opts.api.withDeadline(deadline);
  const known = new Set((await api.listExports(opts.postgresId)).map((e) => e.id));
  await api.createExport(opts.postgresId);
  opts.info(`Render is exporting ${opts.postgresId} (Render's own pg_dump); waiting for the download URL…`);
  let wait = opts.pollMs ?? 5000;
  let seen: RenderExport | undefined;
  for (;;) {
    if (opts.signal?.aborted)
      throw new FailedError("interrupted while waiting for Render's export; nothing was migrated");
    seen = newest(await api.listExports(opts.postgresId), known) ?? seen;
    if (seen?.url) return seen;
    const left = deadline - now();
    if (left <= 0) break;
    await sleep(Math.min(wait, left), opts.signal);
    wait = Math.min(30_000, wait * 2);
  }
  const secs = Math.round(opts.timeoutMs / 1000);
  throw new FailedError(
    seen
      ? `Render's export ${seen.id} of ${opts.postgresId} was not ready after ${secs}s (it may still finish; it is kept 7 days); the migration did not run. Raise MIGRATION_GATE_RENDER_EXPORT_TIMEOUT (the pre-deploy limit is 30 min) or take the dump with a matching client: \`migration-gate pg-client install\` in the build command`
      : `Render accepted the export of ${opts.postgresId} but it never appeared in the export list within ${secs}s; the migration did not run. Check the database's Recovery page in the dashboard, then retry the deploy`,
  );
}

async function write(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      stream.off('error', fail);
      resolve();
    };
    const fail = (err: Error) => {
      stream.off('drain', done);
      reject(err);
    };
    stream.once('drain', done);
    stream.once('error', fail);
  });
}

/** A tar.gz reader that counts entries and notes a toc.dat: is this a pg_dump directory archive? */
function archiveLister(): {
  input: Writable;
  parsed: Promise<void>;
  result: () => { entries: number; toc: boolean };
} {
  let entries = 0;
  let toc = false;
  const gunzip = zlib.createGunzip();
  const lister = tarList({
    onReadEntry: (e) => {
      entries++;
      if (e.path.endsWith('toc.dat')) toc = true;
      e.resume();
    },
  });
  gunzip.pipe(lister as unknown as Writable);
  const parsed = new Promise<void>((resolve, reject) => {
    gunzip.once('error', reject);
    (lister as unknown as Writable).once('error', reject);
    (lister as unknown as Writable).once('finish', () => resolve());
    lister.once('end', () => resolve());
  });
  return { input: gunzip, parsed, result: () => ({ entries, toc }) };
}

/** The export's download link answered: its body, and the size the server announced. */
async function openDownload(
  exp: RenderExport,
  signal?: AbortSignal,
): Promise<{ res: Response; expected: number }> {
  // The URL is a download link, not an API call: the API key must not travel with it.
  const res = await fetch(exp.url!, { signal }).catch((err: unknown) => {
    throw new FailedError(
      `could not download Render's export ${exp.id} (${err instanceof Error ? err.message : String(err)}); the migration did not run`,
    );
  });
  if (!res.ok || !res.body) {
    throw new FailedError(
      `downloading Render's export ${exp.id} answered HTTP ${res.status}; the migration did not run. Retry the deploy (the download link may have expired)`,
    );
  }
  return { res, expected: Number(res.headers.get('content-length') ?? NaN) };
}

/** The copy in the sink, if any: fed chunk by chunk, abandoned (and removed) when the download is bad. */
function sinkCopy(opts: RenderExportOptions) {
  const body = opts.sink ? new PassThrough() : undefined;
  // Destroying it on purpose (a bad download) must not become an unhandled 'error'.
  body?.on('error', () => undefined);
  const stored = body ? opts.sink!.put(opts.name, body, opts.meta, opts.signal) : undefined;
  stored?.catch(() => undefined);
  return {
    body,
    stored,
    async abandon(): Promise<void> {
      body?.destroy(new Error('download abandoned'));
      await stored?.catch(() => undefined);
      if (opts.sink) await opts.sink.remove(opts.name).catch(() => undefined);
    },
  };
}

/** Download once: hash and count, check it is a gzip'd tar with a toc.dat, store it in the sink if any. */
async function downloadExport(
  exp: RenderExport,
  opts: RenderExportOptions,
): Promise<{
  bytes: number;
  sha256: string;
  entries: number;
  stored?: { id: string; location: string; bytes: number; sha256?: string };
}> {
  const { res, expected } = await openDownload(exp, opts.signal);
  const hash = createHash('sha256');
  let bytes = 0;
  const archive = archiveLister();
  const copy = sinkCopy(opts);
  try {
    for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
      const buf = chunk as Buffer;
      hash.update(buf);
      bytes += buf.length;
      await Promise.all([write(archive.input, buf), copy.body ? write(copy.body, buf) : undefined]);
    }
    archive.input.end();
    await archive.parsed;
  } catch (err) {
    await copy.abandon();
    throw new FailedError(
      `Render's export ${exp.id} is not a readable .tar.gz (${err instanceof Error ? err.message : String(err)}) after ${bytes} bytes; the migration did not run`,
    );
  }
  const sha256 = hash.digest('hex');
  const { entries, toc } = archive.result();
  const problem =
    Number.isFinite(expected) && bytes !== expected
      ? `${bytes} bytes arrived but the server announced ${expected}`
      : !toc
        ? `the archive (${entries} entries) has no toc.dat, so it is not a pg_dump directory archive`
        : undefined;
  if (problem) {
    await copy.abandon();
    throw new FailedError(
      `Render's export ${exp.id} failed verification: ${problem}; the migration did not run`,
    );
  }
  copy.body?.end();
  const s = copy.stored ? await copy.stored : undefined;
  if (s && (s.bytes !== bytes || (s.sha256 !== undefined && s.sha256 !== sha256))) {
    await opts.sink!.remove(opts.name).catch(() => undefined);
    throw new FailedError(
      `the copy of Render's export ${exp.id} in ${opts.sink!.description} does not match the download (${s.bytes} bytes, sha256 ${s.sha256 ?? '?'}; downloaded ${bytes} bytes, sha256 ${sha256}); the migration did not run`,
    );
  }
  return { bytes, sha256, entries, ...(s ? { stored: s } : {}) };
}

export async function takeRenderExport(opts: RenderExportOptions): Promise<RenderExportResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  const exp = await createAndAwaitExport(opts, started);
  opts.info(
    `Render's export ${exp.id} is ready; ${opts.sink ? `copying it to ${opts.sink.description}` : 'downloading it once to verify it'}…`,
  );
  const d = await downloadExport(exp, opts);
  return {
    exportId: exp.id,
    id: d.stored?.id ?? exp.id,
    createdAt: exp.createdAt,
    location: d.stored?.location ?? `render-export:${opts.postgresId}/${exp.id}`,
    bytes: d.bytes,
    sha256: d.sha256,
    entries: d.entries,
    durationMs: now() - started,
    copied: Boolean(d.stored),
  };
}
