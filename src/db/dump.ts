/**
 * The safety dump: pg_dump -Fc streamed once through a byte counter and sha256, teed into the dump
 * target and into pg_restore (which reads the archive as it streams, so a dump that cannot be read
 * back is caught before any migration runs). Nothing is buffered in memory; the slowest consumer
 * sets the pace. The password reaches pg_dump through PGPASSWORD, never the command line.
 */
import { createHash } from 'node:crypto';
import { getPriority, setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { execa } from 'execa';
import { FailedError, GateError } from '../errors.js';
import type { DumpMeta, DumpTarget } from '../storage/target.js';
import { redact, type DbTarget } from './connect.js';

export interface PgToolVersion {
  major: number;
  text: string;
}

function installHint(serverMajor?: number): string {
  const v = serverMajor && serverMajor >= 10 ? Math.floor(serverMajor) : 15;
  return `install the PostgreSQL client tools matching the server (e.g. apt-get install postgresql-client-${v}), or set MIGRATION_GATE_PG_DUMP / MIGRATION_GATE_PG_RESTORE to their path`;
}

/** `pg_dump --version` -> { major: 15, text: '15.18' }. */
export async function pgToolVersion(bin: string, serverMajor?: number): Promise<PgToolVersion> {
  const r = await execa(bin, ['--version'], { reject: false, env: { LC_ALL: 'C' }, timeout: 30_000 });
  const code = (r.cause as NodeJS.ErrnoException | undefined)?.code ?? (r as { code?: string }).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    throw new FailedError(
      `${bin} ${code === 'ENOENT' ? 'was not found' : 'is not executable'}: ${installHint(serverMajor)}`,
    );
  }
  const out = typeof r.stdout === 'string' ? r.stdout : '';
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(out);
  if (r.failed || !m) {
    throw new FailedError(
      `${bin} --version did not report a PostgreSQL version (${out.trim() || r.shortMessage}): ${installHint(serverMajor)}`,
    );
  }
  const first = Number(m[1]);
  // Before 10, the major version had two parts (9.6).
  const major = first >= 10 ? first : first + Number(m[2] ?? 0) / 10;
  return { major, text: [m[1], m[2], m[3]].filter((x) => x !== undefined).join('.') };
}

/** pg_dump refuses servers newer than itself; say so before starting. `serverNum` is server_version_num. */
export function checkDumpCompatible(pgDumpMajor: number, serverNum: number, pgDumpText?: string): void {
  const serverMajor = serverNum >= 100000 ? Math.floor(serverNum / 10000) : Math.floor(serverNum / 100) / 100;
  if (pgDumpMajor < serverMajor) {
    const label = pgDumpText ?? `${pgDumpMajor}.x`;
    throw new FailedError(
      `pg_dump ${label} cannot dump a PostgreSQL ${serverMajor} server: install postgresql-client-${Math.floor(serverMajor)} (pg_dump must be at least the server's major version). On a Render native runtime add \`migration-gate pg-client install --major ${Math.floor(serverMajor)}\` to the build command (it fetches the client into the project, no root needed); elsewhere install the package and point MIGRATION_GATE_PG_DUMP at it`,
    );
  }
}

export interface DumpProgress {
  bytes: number;
  /** The table pg_dump is copying, e.g. `public.users`. */
  table?: string;
}

export interface SafetyDumpOptions {
  target: DbTarget;
  sink: DumpTarget;
  /** Name in the sink (see storage/naming.ts). */
  name: string;
  meta: DumpMeta;
  pgDump?: string;
  pgRestore?: string;
  progressEveryMs?: number;
  onProgress?: (p: DumpProgress) => void;
  /** Called once pg_dump is running (its pid), for logs. */
  onStart?: (info: { pid: number }) => void;
  signal?: AbortSignal;
  /** pg_dump --lock-wait-timeout: fail instead of waiting forever behind an exclusive lock. */
  lockWaitTimeoutMs?: number;
}

export interface SafetyDumpResult {
  location: string;
  id: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  tocEntries: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

interface Consumer {
  label: string;
  stream: Writable;
  /** Settles when the consumer can take no more input (its process exited / the sink settled). */
  gone: Promise<unknown>;
  closed: boolean;
}

function waitWritable(c: Consumer): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      c.stream.off('drain', done);
      c.stream.off('close', done);
      c.stream.off('error', done);
      resolve();
    };
    c.stream.once('drain', done);
    c.stream.once('close', done);
    c.stream.once('error', done);
    c.gone.then(done, done);
  });
}

/** Last meaningful stderr line of a pg tool: its error if any, else the last line. */
function lastErrorLine(lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--)
    if (/\berror:|FATAL|ERROR/.test(lines[i]!)) return lines[i]!.trim();
  return lines.at(-1)?.trim();
}

/**
 * The verifying pg_restore readers run at a lower CPU priority (10 nice levels below the gate): pg_dump, its backend and the
 * upload are the dump's critical path, and on a small instance (Render's are 0.5-2 CPUs) a reader
 * preempting pg_dump makes the whole deploy wait. A reader that falls behind still gets the CPU as soon
 * as pg_dump waits on the network or the disk, and it reads a pipe: it can only lag, never miss data.
 */
export function yieldToDump(pids: Array<number | undefined>): void {
  const lower = Math.min(19, getPriority() + 10);
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      setPriority(pid, lower);
    } catch {
      // Already exited, or a platform without priorities: the dump is only slower for it.
    }
  }
}

export async function takeSafetyDump(opts: SafetyDumpOptions): Promise<SafetyDumpResult> {
  const started = Date.now();
  const { target, sink, name } = opts;
  const pgDumpBin = opts.pgDump ?? 'pg_dump';
  const pgRestoreBin = opts.pgRestore ?? 'pg_restore';
  const secrets = target.password ? [target.password] : [];
  const clean = (s: string) => redact(s, secrets);

  await sink.preflight();
  if (opts.signal?.aborted)
    throw new FailedError('safety dump interrupted before it started; nothing was written');

  // One controller stops everything: the caller's signal, or the first failure of any part.
  const ac = new AbortController();
  let failure: { step: 'sink' | 'stream'; error: unknown } | undefined;
  const fail = (step: 'sink' | 'stream', error: unknown) => {
    failure ??= { step, error };
    ac.abort(error);
  };
  const onOuterAbort = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const baseEnv = { LC_ALL: 'C', LANG: 'C' };
  const dumpArgs = ['--format=custom', '--verbose', '--no-password'];
  dumpArgs.push(`--lock-wait-timeout=${Math.max(1, Math.round(opts.lockWaitTimeoutMs ?? 60_000))}`);
  const dump = execa(pgDumpBin, dumpArgs, {
    env: { ...baseEnv, ...target.libpqEnv(), PGAPPNAME: 'migration-gate pg_dump' },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cancelSignal: ac.signal,
    forceKillAfterDelay: 2000,
  });
  // --list reads the header and table of contents; a plain restore to /dev/null reads every data block.
  const restoreOpts = {
    env: baseEnv,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    cancelSignal: ac.signal,
    forceKillAfterDelay: 2000,
  } as const;
  const list = execa(pgRestoreBin, ['--list', '--format=custom'], restoreOpts);
  const verify = execa(pgRestoreBin, ['--format=custom', '--file=/dev/null'], {
    ...restoreOpts,
    stdout: 'ignore',
  });

  if (dump.pid !== undefined) opts.onStart?.({ pid: dump.pid });
  yieldToDump([list.pid, verify.pid]);

  // pg_dump --verbose: track the table being copied, keep the tail for error messages.
  let table: string | undefined;
  const stderrTail: string[] = [];
  const stderrDone = new Promise<void>((resolve) => {
    if (!dump.stderr) return resolve();
    const rl = createInterface({ input: dump.stderr, crlfDelay: Infinity });
    rl.on('line', (line) => {
      const m = /dumping contents of table "([^"]+)"/.exec(line);
      if (m) table = m[1];
      stderrTail.push(line);
      if (stderrTail.length > 30) stderrTail.shift();
    });
    rl.on('close', () => resolve());
  });

  const hash = createHash('sha256');
  let bytes = 0;
  const body = new PassThrough();
  // Set when we discard the sink's copy on purpose (pg_dump or verification failed): not a sink failure.
  let abandoned = false;
  const stored = sink.put(name, body, opts.meta, ac.signal);
  // A failed sink stops pg_dump at once rather than after the whole database is read.
  const storedSettled = stored.then(
    (s) => s,
    (err) => {
      if (!abandoned) fail('sink', err);
      body.destroy();
      return undefined;
    },
  );

  const consumers: Consumer[] = [
    { label: 'target', stream: body, gone: storedSettled, closed: false },
    { label: 'pg_restore --list', stream: list.stdin!, gone: list, closed: false },
    { label: 'pg_restore', stream: verify.stdin!, gone: verify, closed: false },
  ];
  // EPIPE when a pg_restore exits early is judged by its exit code, below.
  for (const c of consumers) c.stream.on('error', () => undefined);

  // Settles when writing on is pointless: we aborted, or pg_dump ended badly. A stalled consumer must not
  // keep us waiting for a 'drain' that will never come.
  let stopped = false;
  const stop = new Promise<void>((resolve) => {
    const done = () => {
      stopped = true;
      resolve();
    };
    if (ac.signal.aborted) done();
    ac.signal.addEventListener('abort', done, { once: true });
    // The child's 'exit', not execa's promise: that one also waits for stdout to be read to the end,
    // which cannot happen while we wait for a stalled consumer.
    dump.once('exit', (code, signal) => {
      if (code !== 0 || signal) done();
    });
    dump.once('error', done);
  });

  const timer =
    opts.onProgress &&
    setInterval(
      () => opts.onProgress!({ bytes, ...(table ? { table } : {}) }),
      Math.max(10, opts.progressEveryMs ?? 5000),
    );

  try {
    for await (const chunk of dump.stdout as Readable) {
      const buf = chunk as Buffer;
      hash.update(buf);
      bytes += buf.length;
      const waits: Promise<void>[] = [];
      for (const c of consumers) {
        if (c.closed) continue;
        if (c.stream.destroyed || c.stream.writableEnded) {
          c.closed = true;
          continue;
        }
        if (!c.stream.write(buf)) waits.push(waitWritable(c));
      }
      if (waits.length > 0) await Promise.race([Promise.all(waits), stop]);
      if (stopped) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) fail('stream', err);
  } finally {
    if (timer) clearInterval(timer);
  }
  if (stopped) dump.kill();
  for (const c of consumers.slice(1)) {
    if (stopped) c.stream.destroy();
    else if (!c.stream.destroyed && !c.stream.writableEnded) c.stream.end();
  }

  const [dumpResult, listResult, verifyResult] = await Promise.all([dump, list, verify]);
  await stderrDone;
  opts.signal?.removeEventListener('abort', onOuterAbort);

  const listing = typeof listResult.stdout === 'string' ? listResult.stdout : '';
  const tocEntries = listing.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
  const restoreOk = [listResult, verifyResult].every((r) => !r.failed && r.exitCode === 0) && tocEntries > 0;
  // The sink's copy is completed only when pg_dump succeeded and pg_restore read it back, so a
  // file target never shows a complete-looking dump that is not.
  if (!ac.signal.aborted && dumpResult.exitCode === 0 && !dumpResult.failed && restoreOk) {
    body.end();
  } else {
    abandoned = true;
    body.destroy(new Error('safety dump abandoned'));
  }
  const storedDump = await storedSettled;

  const where = table ? `, while dumping table ${table}` : '';
  const progressText = `after ${formatBytes(bytes)}${where}`;
  const errorOut = async (message: string, cause?: unknown): Promise<never> => {
    await sink.remove(name).catch(() => undefined);
    throw new FailedError(`${message}; the partial dump was removed`, [], cause ? { cause } : undefined);
  };

  if (opts.signal?.aborted) {
    return errorOut(`safety dump interrupted ${progressText}`);
  }
  if (failure?.step === 'sink') {
    const err = failure.error;
    const msg =
      err instanceof GateError ? err.message : clean(err instanceof Error ? err.message : String(err));
    return errorOut(`safety dump failed writing to ${sink.description}: ${msg}`, err);
  }
  if (failure?.step === 'stream') {
    const err = failure.error;
    return errorOut(
      `safety dump failed reading pg_dump's output: ${clean(String((err as Error)?.message ?? err))}`,
      err,
    );
  }

  const spawnCode = (dumpResult.cause as NodeJS.ErrnoException | undefined)?.code;
  if (spawnCode === 'ENOENT' || spawnCode === 'EACCES') {
    return errorOut(
      `safety dump failed: ${pgDumpBin} ${spawnCode === 'ENOENT' ? 'was not found' : 'is not executable'}; ${installHint()}`,
    );
  }
  if (dumpResult.signal) {
    return errorOut(`safety dump failed: pg_dump was killed (${dumpResult.signal}) ${progressText}`);
  }
  if (dumpResult.exitCode !== 0) {
    const line = lastErrorLine(stderrTail);
    return errorOut(
      `safety dump failed: pg_dump exited with code ${dumpResult.exitCode ?? '?'} ${progressText}${line ? `: ${clean(line)}` : ''}`,
    );
  }

  for (const [r, label] of [
    [listResult, 'pg_restore --list'],
    [verifyResult, 'pg_restore'],
  ] as const) {
    const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'EACCES') {
      return errorOut(
        `safety dump cannot be verified: ${pgRestoreBin} ${code === 'ENOENT' ? 'was not found' : 'is not executable'}; ${installHint()}`,
      );
    }
    if (r.signal || r.exitCode !== 0) {
      const lines = typeof r.stderr === 'string' ? r.stderr.split('\n').filter(Boolean) : [];
      const line = lastErrorLine(lines);
      const how = r.signal ? `was killed (${r.signal})` : `exited with code ${r.exitCode}`;
      return errorOut(
        `safety dump failed verification: the archive is unreadable (${label} ${how}${line ? `: ${clean(line)}` : ''})`,
      );
    }
  }
  if (tocEntries === 0) {
    return errorOut(
      'safety dump failed verification: the archive lists no entries (pg_restore --list printed nothing)',
    );
  }

  if (!storedDump) return errorOut(`safety dump failed writing to ${sink.description}`);
  const sha256 = hash.digest('hex');
  if (storedDump.bytes !== bytes || (storedDump.sha256 !== undefined && storedDump.sha256 !== sha256)) {
    return errorOut(
      `safety dump failed verification: ${sink.description} stored ${storedDump.bytes} bytes (sha256 ${storedDump.sha256 ?? '?'}) but pg_dump produced ${bytes} bytes (sha256 ${sha256})`,
    );
  }

  return {
    location: storedDump.location,
    id: storedDump.id,
    bytes,
    sha256,
    durationMs: Date.now() - started,
    tocEntries,
  };
}
