/**
 * Typed errors and the one table that maps them to process exit codes.
 * Only src/cli.ts turns these into an exit; everything else throws or returns them.
 */
export const ExitCode = {
  /** Nothing pending, or the pending migrations were allowed (and, for `run`, applied). */
  OK: 0,
  /** The gate refused: a destructive/unknown migration without an override, or a graph problem. */
  BLOCKED: 2,
  /** Bad usage or configuration: fix the settings and re-run. */
  CONFIG: 3,
  /** Something failed while acting: database unreachable, dump failed, upgrade failed, interrupted. */
  FAILED: 4,
  /** A bug in migration-gate itself. */
  INTERNAL: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = 'config' | 'blocked' | 'failed' | 'internal';

/** Base class: `message` is one line a person can act on (what, why, what next). Never a secret. */
export class GateError extends Error {
  readonly kind: ErrorKind;
  /** Optional extra lines (a list of problems, a report) printed after the message. */
  readonly details: string[];
  constructor(kind: ErrorKind, message: string, details: string[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.details = details;
    this.name = new.target.name;
  }
}

/** Settings, flags or input files are wrong. */
export class ConfigError extends GateError {
  constructor(message: string, details: string[] = [], options?: { cause?: unknown }) {
    super('config', message, details, options);
  }
}

/** The gate decided not to proceed. */
export class BlockedError extends GateError {
  constructor(message: string, details: string[] = [], options?: { cause?: unknown }) {
    super('blocked', message, details, options);
  }
}

/** An action failed (database, dump, upgrade, signal). */
export class FailedError extends GateError {
  constructor(message: string, details: string[] = [], options?: { cause?: unknown }) {
    super('failed', message, details, options);
  }
}

export function exitCodeFor(kind: ErrorKind): ExitCode {
  switch (kind) {
    case 'config':
      return ExitCode.CONFIG;
    case 'blocked':
      return ExitCode.BLOCKED;
    case 'failed':
      return ExitCode.FAILED;
    default:
      return ExitCode.INTERNAL;
  }
}

/** Text for --help and the README. */
export const EXIT_CODE_HELP = [
  `  ${ExitCode.OK}   allowed or nothing pending (run: migrations applied, or none to apply)`,
  `  ${ExitCode.BLOCKED}   blocked: a destructive or unknown migration without a matching override, or a graph problem`,
  `  ${ExitCode.CONFIG}   usage or configuration error (bad flag, bad setting, unreadable alembic.ini, broken migration file)`,
  `  ${ExitCode.FAILED}   failure while acting (database unreachable, dump or upgrade failed, interrupted)`,
  `  ${ExitCode.INTERNAL}  internal error in migration-gate (please report it)`,
].join('\n');
