/**
 * Everything /status and /metrics show, read in one query set and cached briefly: a burst of
 * requests (or a scrape plus a browser) costs one set of queries, and requests arriving during a
 * refresh share the same in-flight promise. When the database is down the last good data is kept.
 */
import type pg from 'pg';
import { lockHolder } from '../db/lock.js';
import { qualifiedName } from '../db/version.js';
import {
  historyProblem,
  liveRunKeys,
  markDeadRuns,
  readHistory,
  type HistoryRow,
  type RunCount,
  type ShownRun,
} from './history-read.js';
import type { LockInfo } from './summary.js';

export type { RunCount } from './history-read.js';

type Queryable = Pick<pg.Pool, 'query'>;

export interface VersionTable {
  table: string;
  schema?: string;
}

export interface Snapshot {
  /** When the data was read. */
  readAt: Date;
  /** Revisions in the version table; null when the table does not exist (Alembic never ran). */
  databaseRevisions: string[] | null;
  lock: LockInfo | null;
  /** Newest first; rows the service cannot read are kept in place, as unreadable. */
  rows: HistoryRow[];
  lastMigrated: ShownRun | null;
  counts: RunCount[];
  /** Why the history table cannot be read at all (privileges, wrong shape); null when it can. */
  historyProblem: string | null;
}

export interface SnapshotState {
  /** When the database was last asked (successfully or not). */
  checkedAt: Date;
  up: boolean;
  /** Why the last read failed (redacted by the caller before display). */
  error?: string;
  /** Since when the database has been failing (the first failed read after a good one). */
  downSince?: Date;
  /** The last good data, possibly older than `checkedAt` when the database is down. */
  data?: Snapshot;
}

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';

function isAbsent(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA;
}

/**
 * One query (not to_regclass first): the absent table is the rare case. null when the table does not
 * exist (Alembic never ran here), [] when it is empty (downgraded to base).
 */
export async function readDatabaseRevisions(db: Queryable, table: VersionTable): Promise<string[] | null> {
  try {
    const res = await db.query<{ version_num: string }>(
      `SELECT version_num FROM ${qualifiedName(table.table, table.schema)} ORDER BY version_num`,
    );
    return res.rows.map((r) => r.version_num);
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}

export interface SnapshotSource {
  schema: string;
  versionTable: VersionTable;
  /** The database user, named in a missing-privilege cause. */
  user: string;
  now: () => Date;
}

export async function loadSnapshot(pool: pg.Pool, src: SnapshotSource): Promise<Snapshot> {
  // In parallel: one round trip of latency on a remote database instead of five.
  const [databaseRevisions, lock, history, live] = await Promise.all([
    readDatabaseRevisions(pool, src.versionTable),
    // lockHolder only runs one query, which the pool runs on any free connection.
    lockHolder(pool as unknown as pg.Client),
    readHistory(pool, src.schema, 20).catch((err: unknown) => {
      const problem = historyProblem(err, src.schema, src.user);
      if (!problem) throw err;
      return problem;
    }),
    liveRunKeys(pool),
  ]);
  const readAt = src.now();
  if (history instanceof Error) {
    return {
      readAt,
      databaseRevisions,
      lock,
      rows: [],
      lastMigrated: null,
      counts: [],
      historyProblem: history.message,
    };
  }
  return {
    readAt,
    databaseRevisions,
    lock,
    ...markDeadRuns(history, live, lock !== null),
    historyProblem: null,
  };
}

/** Served-while-refreshing window, in multiples of cacheMs. */
const STALE_FACTOR = 3;

export class SnapshotCache {
  private state?: SnapshotState;
  private inflight?: Promise<SnapshotState>;

  constructor(
    private readonly load: () => Promise<Snapshot>,
    private readonly cacheMs: number,
    private readonly now: () => Date,
    private readonly onError: (err: unknown) => string,
  ) {}

  get(): Promise<SnapshotState> {
    const state = this.state;
    const age = state ? this.now().getTime() - state.checkedAt.getTime() : Infinity;
    if (state && age < this.cacheMs) return Promise.resolve(state);
    const refreshing = (this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    }));
    // Under steady traffic, answer from the slightly stale state while one refresh runs, so no request
    // waits on the database; after a quiet spell (or when stale for long) wait for fresh data.
    if (state && age < this.cacheMs * STALE_FACTOR) return Promise.resolve(state);
    return refreshing;
  }

  /** The last state without touching the database (for the error handler). */
  peek(): SnapshotState | undefined {
    return this.state;
  }

  private async refresh(): Promise<SnapshotState> {
    try {
      const data = await this.load();
      this.state = { checkedAt: this.now(), up: true, data };
    } catch (err) {
      // Failures are cached too, so a down database is not hammered by every request.
      const prev = this.state;
      const at = this.now();
      this.state = {
        checkedAt: at,
        up: false,
        error: this.onError(err),
        downSince: prev && !prev.up ? (prev.downSince ?? at) : at,
        data: prev?.data,
      };
    }
    return this.state;
  }
}
