/** Where safety dumps go. One small port; `file://` and `s3://` implement it. */
import type { Readable } from 'node:stream';

export interface DumpMeta {
  service?: string;
  commit?: string;
  fromRevisions: string[];
  toRevisions: string[];
  pgDumpVersion?: string;
  serverVersion?: string;
  createdAt: Date;
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

export interface DumpTarget {
  /** Redacted description for logs and errors (never a secret). */
  readonly description: string;
  /** Cheap check before dumping (directory writable, bucket reachable); throws FailedError/ConfigError. */
  preflight(): Promise<void>;
  /**
   * Store `body` under `name`. Resolves after the data is durably stored, with the byte count and
   * sha256 as seen by the store (the caller compares them with what it streamed).
   */
  put(name: string, body: Readable, meta: DumpMeta, signal?: AbortSignal): Promise<StoredDump>;
  /** Newest first. */
  list(): Promise<StoredDump[]>;
  get(id: string): Promise<Readable>;
  remove(id: string): Promise<void>;
}
