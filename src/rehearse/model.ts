/** The shapes `rehearse` reads and returns: its options, the per-revision findings and the report. */
import type { Settings } from '../config/settings.js';
import type { LockHeld, TableChange } from './probe.js';
import type { ScratchDatabase } from './scratch.js';
import type { DumpSource } from './source.js';

/** What rehearse logs through: the CLI's winston logger, or anything with these three methods. */
export interface RehearseLogger {
  info(message: string): unknown;
  warn(message: string): unknown;
  error(message: string): unknown;
}

/**
 * The steps of a rehearsal, in order. The log times each one ("step restore: 12.3s") and a failure
 * names the one it happened in ("rehearsal failed at: restore: ..."). `dump` and `scratch` run at
 * the same time: the scratch server starts while the dump streams.
 */
export type RehearsalStep =
  | 'preflight'
  | 'dump'
  | 'scratch'
  | 'restore'
  | 'analyze'
  | 'plan'
  | 'upgrade'
  | 'smoke'
  | 'roundtrip'
  | 'report'
  | 'cleanup';

export interface MigrationRehearsal {
  revision: string;
  file: string;
  message?: string;
  ok: boolean;
  durationMs: number;
  locks: LockHeld[];
  tables: TableChange[];
  error?: { message: string; statement?: string; output: string[] };
}

export type RehearsalOutcome =
  'passed' | 'nothing-pending' | 'migration-failed' | 'smoke-failed' | 'roundtrip-failed';

export interface SmokeResult {
  command: string;
  exitCode: number;
  passed: boolean;
  durationMs: number;
  output: string[];
}

export interface RoundtripResult {
  passed: boolean;
  downgradeTo: string;
  downgradeMs: number;
  reupgradeMs: number;
  diff: string[];
  error?: string;
}

export interface RehearsalReport {
  passed: boolean;
  outcome: RehearsalOutcome;
  summary: string;
  /** The step a failed rehearsal failed at (upgrade, smoke, roundtrip); absent when it passed. */
  failedStep?: RehearsalStep;
  source: { kind: DumpSource['kind']; description: string; bytes: number; durationMs: number };
  scratch: {
    kind: ScratchDatabase['kind'];
    server: string;
    database: string;
    kept: boolean;
    connect?: string;
  };
  /** streamed: pg_dump piped straight into pg_restore (jobs is then 1); durationMs includes the dump. */
  restore: { durationMs: number; jobs: number; streamed: boolean; warnings: string[] };
  fromRevisions: string[];
  targetRevisions: string[];
  reachedRevisions: string[];
  migrations: MigrationRehearsal[];
  smoke?: SmokeResult;
  roundtrip?: RoundtripResult;
  /** Each step before the report, with its time, in the order they finished. */
  steps: Array<{ step: RehearsalStep; durationMs: number }>;
  totalMs: number;
}

export interface RehearseOptions {
  settings: Settings;
  /** Where ALEMBIC_CONFIG is resolved from and alembic runs. */
  cwd: string;
  /** `--dump`: a stored dump id, `latest`, or a local file; absent: a fresh pg_dump of DATABASE_URL. */
  dump?: string;
  /** Parallel pg_restore jobs (default: the number of CPUs); with a fresh dump, dump to a file first instead of streaming. */
  jobs?: number;
  keep?: boolean;
  smoke?: string;
  roundtrip?: boolean;
  /** Refuse to start a local cluster (run's precondition uses REHEARSAL_DATABASE_URL only). */
  requireServer?: boolean;
  logger?: RehearseLogger;
  signal?: AbortSignal;
  /** Lock sampling interval (ms). */
  sampleMs?: number;
}
