/**
 * The gate's advisory lock: one deploy migrates a database at a time. Session-level, so it is released
 * when the gate's connection ends, even if the gate is killed. (It does not work through a pooler in
 * transaction mode; see looksLikePooler in catalog.ts.)
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { FailedError } from '../errors.js';

/** A fixed signed 64-bit key: the first 8 bytes of sha256('migration-gate'). */
export const GATE_LOCK_KEY: bigint = createHash('sha256').update('migration-gate').digest().readBigInt64BE(0);

// pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
const unsignedKey = BigInt.asUintN(64, GATE_LOCK_KEY);
const CLASSID = Number(unsignedKey >> 32n);
const OBJID = Number(unsignedKey & 0xffffffffn);

export interface LockHolder {
  pid: number;
  /** When the holding session connected (a close upper bound for when it took the lock); null when not visible to us. */
  since: Date | null;
  application: string;
}

export interface GateLock {
  release(): Promise<void>;
}

export async function lockHolder(client: pg.Client): Promise<LockHolder | null> {
  const { rows } = await client.query<{
    pid: number;
    backend_start: Date | null;
    application_name: string | null;
  }>(
    `SELECT l.pid, a.backend_start, a.application_name
       FROM pg_locks l
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
      LIMIT 1`,
    [CLASSID, OBJID],
  );
  const row = rows[0];
  if (!row) return null;
  return { pid: row.pid, since: row.backend_start ?? null, application: row.application_name ?? '' };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function describeHolder(holder: LockHolder): string {
  const since = holder.since ? holder.since.toISOString() : 'an unknown time';
  return `since ${since} (pid ${holder.pid}, application '${holder.application}')`;
}

/**
 * Takes the gate lock, polling every `pollMs` for up to `waitMs`; then fails naming the holder and how
 * to stop it if it is stuck.
 */
export interface AcquireOptions {
  waitMs: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called every `reportEveryMs` (default 10 s) while waiting, with who holds the lock now. */
  onWait?: (holder: LockHolder | null, waitedMs: number) => void;
  reportEveryMs?: number;
}

export async function acquireGateLock(client: pg.Client, options: AcquireOptions): Promise<GateLock> {
  const pollMs = Math.max(10, options.pollMs ?? 1000);
  const started = Date.now();
  const deadline = started + Math.max(0, options.waitMs);
  const reportEveryMs = Math.max(10, options.reportEveryMs ?? 10_000);
  let nextReport = started + reportEveryMs;
  for (;;) {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
      GATE_LOCK_KEY.toString(),
    ]);
    if (rows[0]?.ok) {
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          try {
            await client.query('SELECT pg_advisory_unlock($1::bigint)', [GATE_LOCK_KEY.toString()]);
          } catch {
            // The connection is gone, and with it the session-level lock: nothing left to release.
          }
        },
      };
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const holder = await lockHolder(client);
      if (!holder) continue; // released between the two queries: try once more
      const waited = Math.round(options.waitMs / 1000);
      throw new FailedError(
        `another deploy is migrating this database ${describeHolder(holder)}; waited ${waited}s for the gate lock. Wait for it to finish, or if it is stuck, stop it with SELECT pg_terminate_backend(${holder.pid})`,
      );
    }
    if (options.onWait && Date.now() >= nextReport) {
      nextReport += reportEveryMs;
      options.onWait(await lockHolder(client).catch(() => null), Date.now() - started);
    }
    await sleep(Math.min(pollMs, remaining), options.signal);
  }
}
