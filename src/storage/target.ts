/** Where safety dumps go. One small port; `file://` and `s3://` implement it. */
import type { Readable } from 'node:stream';

/** The command that took a dump: `run` (before a deploy's upgrade), `rollback` or `restore`. */
export type DumpMaker = 'run' | 'rollback' | 'restore';

export const DUMP_MAKERS: readonly DumpMaker[] = ['run', 'rollback', 'restore'];

export interface DumpMeta {
  service?: string;
  commit?: string;
  /** The database's revisions when the dump was taken (what restoring it brings back). */
  fromRevisions: string[];
  /** Where the command that took the dump was about to go. */
  toRevisions: string[];
  pgDumpVersion?: string;
  serverVersion?: string;
  createdAt: Date;
  /** Provenance (absent on dumps made before it was recorded). */
  madeBy?: DumpMaker;
  /** The history run id of the command that took the dump. */
  runId?: number;
  /** In words, e.g. "before deploy #12: c71d4e9a -> 1a0599fa". */
  purpose?: string;
}

/** What a target found of an earlier, killed command (see DumpTarget.sweep). */
export interface SweepResult {
  /** What was removed: partial files, aborted multipart uploads (keys). */
  removed: string[];
  /** What could not be removed, each with a full sentence for the log. */
  failed: { item: string; message: string }[];
}

export interface StoredDump {
  /** Stable id (the object/file name), usable with `dumps get <id>`. */
  id: string;
  /** Human/redacted location, e.g. file:///var/dumps/x.dump or s3://bucket/prefix/x.dump. */
  location: string;
  bytes: number;
  sha256?: string;
  createdAt: Date;
  meta?: Partial<Record<string, string>>;
}

/** What `run`'s preflight asks of a target beyond the cheap default check. */
export interface PreflightOptions {
  /** The dump's expected size: a `file://` target checks its free space against it. */
  estimatedBytes?: number;
  /** Prove write and delete permission with a small probe object (S3; a file target always probes). */
  writeProbe?: boolean;
}

export interface DumpTarget {
  /** Redacted description for logs and errors (never a secret). */
  readonly description: string;
  /** Cheap check before dumping (directory writable, bucket reachable); throws FailedError/ConfigError. */
  preflight(options?: PreflightOptions): Promise<void>;
  /**
   * Store `body` under `name`. Resolves after the data is durably stored, with the byte count and
   * sha256 as seen by the store (the caller compares them with what it streamed).
   */
  put(name: string, body: Readable, meta: DumpMeta, signal?: AbortSignal): Promise<StoredDump>;
  /** Newest first. */
  list(): Promise<StoredDump[]>;
  get(id: string): Promise<Readable>;
  remove(id: string): Promise<void>;
  /**
   * Remove what a killed dump left behind before `olderThan` (the start of the caller's lock, so
   * nothing of a live command is touched): partial files, incomplete multipart uploads. Never throws
   * for a single leftover; those go to `failed`.
   */
  sweep(olderThan: Date): Promise<SweepResult>;
}
