/**
 * Runs the real `alembic` with execa: argument arrays, never a shell string. Output is streamed
 * line by line (redacted) to the caller. lock_timeout and statement_timeout reach the migration's
 * session through PGOPTIONS, which libpq (psycopg2) reads at connect time.
 */
import { execa, type ResultPromise } from 'execa';
import { FailedError, ConfigError } from '../errors.js';
import { clientCheckOption, guardedCommand, guardNotFound } from './supervise.js';

export interface AlembicRunOptions {
  /** The Alembic command, e.g. `alembic`, `.venv/bin/alembic`, `python -m alembic` (split on spaces). */
  command: string;
  iniPath: string;
  cwd: string;
  /** Extra environment (DATABASE_URL etc.). */
  env: Record<string, string | undefined>;
  lockTimeout?: string;
  statementTimeout?: string;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
  /** server_version_num of the database: from 14 on, the server is told to watch for a vanished client. */
  serverVersionNum?: number;
}

export interface AlembicResult {
  exitCode: number;
  /** Last lines of output (already passed to onLine), for the error message. */
  tail: string[];
  /** True when the failure came from lock_timeout (SQLSTATE 55P03 "canceling statement due to lock timeout"). */
  lockTimeout: boolean;
  signal?: string;
}

export function splitCommand(command: string): string[] {
  const parts = command.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0)
    throw new ConfigError(
      'MIGRATION_GATE_ALEMBIC is empty: set it to the command that runs Alembic, e.g. .venv/bin/alembic',
    );
  return parts;
}

/** PGOPTIONS with the gate's timeouts appended to whatever the environment already had. */
export function pgOptions(
  existing: string | undefined,
  lockTimeout?: string,
  statementTimeout?: string,
  extra?: string,
): string {
  const parts = existing ? [existing] : [];
  if (lockTimeout) parts.push(`-c lock_timeout=${lockTimeout}`);
  if (statementTimeout) parts.push(`-c statement_timeout=${statementTimeout}`);
  if (extra) parts.push(extra);
  return parts.join(' ');
}

function notFound(file: string): FailedError {
  return new FailedError(
    `cannot start Alembic: '${file}' was not found; install it (pip install alembic) or set MIGRATION_GATE_ALEMBIC to its path, e.g. .venv/bin/alembic`,
  );
}

export interface RunningAlembic {
  child: ResultPromise;
  done: Promise<AlembicResult>;
}

export function runAlembic(args: string[], opts: AlembicRunOptions): RunningAlembic {
  const [file, ...pre] = splitCommand(opts.command);
  const env = {
    ...opts.env,
    PGOPTIONS: pgOptions(
      opts.env.PGOPTIONS ?? process.env.PGOPTIONS,
      opts.lockTimeout,
      opts.statementTimeout,
      clientCheckOption(opts.serverVersionNum),
    ),
    PYTHONUNBUFFERED: '1',
  };
  // Under the guard (supervise.ts): Alembic is killed by the kernel if the gate dies first.
  const guarded = guardedCommand(file!, [...pre, '-c', opts.iniPath, ...args], {
    parentPid: process.pid,
    cwd: opts.cwd,
  });
  const child = execa(guarded.file, guarded.args, {
    cwd: opts.cwd,
    env,
    extendEnv: true,
    reject: false,
    stdin: 'ignore',
    buffer: false,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 10_000,
  });
  const tail: string[] = [];
  let lockTimeout = false;
  const onData = (stream: 'stdout' | 'stderr') => {
    let pending = '';
    return (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) emit(line, stream);
    };
  };
  const emit = (line: string, stream: 'stdout' | 'stderr') => {
    if (!line.trim()) return;
    if (/lock timeout|LockNotAvailable|55P03/.test(line)) lockTimeout = true;
    tail.push(line);
    if (tail.length > 40) tail.shift();
    opts.onLine?.(line, stream);
  };
  child.stdout?.on('data', onData('stdout'));
  child.stderr?.on('data', onData('stderr'));
  const done = child.then(
    (r) => {
      const missing = r.exitCode === 127 ? guardNotFound(tail) : undefined;
      if (missing !== undefined) throw notFound(missing);
      return {
        exitCode: r.exitCode ?? (r.signal ? 128 : 1),
        tail,
        lockTimeout,
        signal: r.signal ?? undefined,
      };
    },
    (err: unknown) => {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT') {
        throw new FailedError(
          `cannot start Alembic: the gate starts it through '${guarded.file}' (so that it stops if the gate is killed) and that was not found; set MIGRATION_GATE_ALEMBIC to the alembic of a virtualenv (e.g. .venv/bin/alembic, which has its Python next to it) or install python3`,
        );
      }
      throw err;
    },
  );
  return { child, done };
}

/** The most telling line of a failed Alembic run: the exception line, else the last line. */
export function failureLine(tail: string[]): string {
  const exc = [...tail]
    .reverse()
    .find((l) => /^[A-Za-z_.]+(Error|Exception|Violation|Timeout)\b|^ERROR|^FAILED/.test(l.trim()));
  return (exc ?? tail[tail.length - 1] ?? 'no output').trim().slice(0, 400);
}
