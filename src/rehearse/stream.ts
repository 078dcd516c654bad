/**
 * The fresh-dump path without a file in between: pg_dump -Fc (uncompressed) streams straight into
 * pg_restore on the scratch database, so the dump and the restore overlap instead of adding up, and
 * the scratch server is created while pg_dump reads the catalog. On 2 cores this beats
 * dump-to-file + pg_restore -j 2 by about a third: one big table keeps -j from helping much, and
 * compressing a file read once is pure cost. `--jobs N` still takes the file path (many cores,
 * many big tables).
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa, type Result } from 'execa';
import { FailedError } from '../errors.js';
import { startProgress } from '../progress.js';
import { checkAborted, step, type RehearsalContext } from './context.js';
import { scratchStep } from './prepare.js';
import { freshDumpFailure } from './source.js';

/** Streaming needs a fresh dump of DATABASE_URL and no explicit --jobs. */
export function streamable(ctx: RehearsalContext): boolean {
  return !ctx.opts.dump && ctx.opts.jobs === undefined && ctx.production !== undefined;
}

/** pg_dump failed because pg_restore stopped reading: the restore's error is the cause. */
class BrokenPipe extends FailedError {}

/** dump, scratch and restore as three overlapping steps; resolves with pg_restore's skipped errors. */
export async function streamSteps(ctx: RehearsalContext): Promise<string[]> {
  const db = ctx.production!;
  ctx.jobs = 1; // pg_restore reading a pipe restores one item at a time
  const where = `${db.host}:${db.port}/${db.database}`;
  const sibling = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, sibling.signal]) : sibling.signal;
  ctx.log(`Streaming a fresh dump of ${where} into the scratch database (pg_dump -Fc | pg_restore).`);
  const started = Date.now();
  const dump = execa(ctx.settings.pgDump, ['--format=custom', '--compress=0', '--no-password'], {
    env: { LC_ALL: 'C', ...db.libpqEnv(), PGAPPNAME: 'migration-gate rehearse pg_dump' },
    reject: false,
    stdin: 'ignore',
    buffer: { stdout: false },
    // Binary: the archive goes to pg_restore byte for byte (stderr is only read on failure).
    encoding: 'buffer',
    cancelSignal: signal,
  });
  // Read from the first byte on: execa lets a stream nobody reads flow, and what flows is lost.
  // The PassThrough holds what pg_dump writes before pg_restore starts; then backpressure pauses it.
  const archive = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  let bytes = 0;
  const progress = startProgress({ step: 'dump', say: ctx.log });
  const feed = pipeline(
    dump.stdout!,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        progress.update(bytes);
        yield chunk;
      }
    },
    archive,
  ).catch(() => undefined); // A broken feed shows as pg_dump's or pg_restore's own failure.
  const dumped = step(ctx, 'dump', () => waitDump(ctx, dump, where)).finally(() => progress.stop());
  const restored = step(ctx, 'scratch', () => scratchStep(ctx, signal)).then((sc) => {
    ctx.scratch = sc;
    return step(ctx, 'restore', () => restoreStream(ctx, archive, signal));
  });
  const stopOnFailure = (p: Promise<unknown>) => p.catch(() => sibling.abort());
  void stopOnFailure(dumped);
  void stopOnFailure(restored);
  const [d, r] = await Promise.allSettled([dumped, restored]);
  archive.destroy();
  await feed;
  ctx.source = {
    kind: 'fresh',
    description: `pg_dump of ${where} (streamed)`,
    file: '',
    bytes,
    durationMs: Date.now() - started,
    cleanup: async () => undefined,
  };
  checkAborted(ctx);
  // The cause, not its echo: a dump cut short fails the restore; a restore that stops reading
  // breaks the dump's pipe.
  if (r.status === 'rejected' && ctx.failedStep === 'scratch') throw r.reason;
  if (d.status === 'rejected' && !(d.reason instanceof BrokenPipe && r.status === 'rejected')) {
    ctx.failedStep = 'dump';
    throw d.reason;
  }
  if (r.status === 'rejected') {
    ctx.failedStep = 'restore';
    throw r.reason;
  }
  return r.value;
}

async function waitDump(ctx: RehearsalContext, dump: Promise<Result>, where: string): Promise<void> {
  const r = await dump;
  checkAborted(ctx);
  if (r.exitCode === 0) return;
  const stderr = Buffer.from(r.stderr as Uint8Array).toString('utf8');
  const Err = /Broken pipe|could not write/i.test(stderr) || r.isCanceled ? BrokenPipe : FailedError;
  throw new Err(freshDumpFailure(ctx.settings.pgDump, where, r, stderr, ctx.scrub));
}

/** pg_restore reading the archive from its stdin. */
async function restoreStream(
  ctx: RehearsalContext,
  archive: Readable,
  signal: AbortSignal,
): Promise<string[]> {
  const sc = ctx.scratch!;
  const restore = execa(
    ctx.settings.pgRestore,
    ['--no-owner', '--no-acl', '--no-password', `--dbname=${sc.name}`],
    {
      env: { LC_ALL: 'C', ...sc.target.libpqEnv() },
      reject: false,
      stdin: 'pipe',
      stdout: 'ignore',
      cancelSignal: signal,
    },
  );
  const feed = pipeline(archive, restore.stdin!).catch(() => undefined);
  const r = await restore;
  // pg_restore stopped reading (it failed): pg_dump must not wait on a full pipe for ever.
  archive.destroy();
  await feed;
  checkAborted(ctx);
  return restoreWarnings(ctx, r);
}

/**
 * pg_restore goes on after an error (a missing extension or role): those lines come back as
 * warnings, the copy is usable but not exact. No error line at all means it could not restore.
 */
export function restoreWarnings(ctx: RehearsalContext, r: Result): string[] {
  if (r.exitCode === 0) return [];
  const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT')
    throw new FailedError(
      `${ctx.settings.pgRestore} was not found: apt-get install postgresql-client, or set MIGRATION_GATE_PG_RESTORE`,
    );
  const stderr = String(r.stderr ?? '');
  const lines = stderr.split('\n').filter((l) => /error/i.test(l) && !/errors ignored on restore/.test(l));
  // pg_restore ends a restore it went on with by counting what it ignored; without that line it stopped.
  if (lines.length === 0 || !/errors ignored on restore/.test(stderr))
    throw new FailedError(
      `pg_restore into the scratch database failed (exit ${r.exitCode}): ${ctx.scrub((lines.at(-1) ?? stderr.trim().split('\n').pop() ?? r.shortMessage ?? 'no output').trim())}; check the dump with pg_restore --list`,
    );
  return lines.slice(0, 20).map((l) => ctx.scrub(l.trim()));
}
