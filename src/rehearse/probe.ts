/**
 * What a migration did to the scratch database, seen from a second connection: the relation locks
 * Alembic's session held (pg_locks sampled every ~50 ms) and the tables it touched (rows, bytes).
 */
import type pg from 'pg';

export interface LockHeld {
  /** `table` (public schema) or `schema.table`; `oid N` when the relation is gone by the end. */
  relation: string;
  /** pg_locks.mode, e.g. ShareLock, AccessExclusiveLock. */
  mode: string;
  /** Approximate time held: first to last sample plus one interval. */
  heldMs: number;
  /** Seen waiting (not granted) at least once. */
  waited: boolean;
}

export interface TableStat {
  oid: number;
  name: string;
  rows: number | null;
  /** True when `rows` is count(*); false when it is pg_class.reltuples (large table). */
  exact: boolean;
  bytes: number;
  /** Columns (name, type, NOT NULL, default), indexes and constraints: a schema change shows here. */
  shape: string;
}

export interface TableChange {
  table: string;
  rowsBefore: number | null;
  rowsAfter: number | null;
  exact: boolean;
  bytesBefore: number | null;
  bytesAfter: number | null;
}

/** Tables whose heap is under this are counted exactly; bigger ones use the planner's estimate. */
export const EXACT_COUNT_MAX_BYTES = 16 * 1024 * 1024;

const MODE_STRENGTH = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
];

function displayName(schema: string, rel: string): string {
  return schema === 'public' ? rel : `${schema}.${rel}`;
}

interface Seen {
  oid: number;
  mode: string;
  name?: string;
  kind?: string;
  first: number;
  last: number;
  waited: boolean;
}

export interface LockSampler {
  stop(): Promise<LockHeld[]>;
}

/**
 * Samples the relation locks of every session whose application_name is `appName` (the migration's,
 * through PGAPPNAME), skipping system catalogs, indexes and sequences and the `exclude` tables.
 */
export function startLockSampler(
  client: pg.Client,
  appName: string,
  exclude: string[] = [],
  intervalMs = 50,
): LockSampler {
  const seen = new Map<string, Seen>();
  let running = true;
  let failures = 0;
  const sampleOnce = async () => {
    const now = Date.now();
    const { rows } = await client.query<{
      oid: string;
      mode: string;
      granted: boolean;
      nspname: string | null;
      relname: string | null;
      relkind: string | null;
    }>(
      `SELECT l.relation::int8 AS oid, l.mode, l.granted, n.nspname, c.relname, c.relkind::text AS relkind
         FROM pg_locks l
         JOIN pg_stat_activity a ON a.pid = l.pid
         LEFT JOIN pg_class c ON c.oid = l.relation
         LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE l.locktype = 'relation' AND a.application_name = $1 AND l.relation >= 16384
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [appName],
    );
    for (const r of rows) {
      const key = `${r.oid}/${r.mode}`;
      const s = seen.get(key);
      const name = r.nspname && r.relname ? displayName(r.nspname, r.relname) : undefined;
      if (s) {
        s.last = now;
        s.waited ||= !r.granted;
        s.name ??= name;
        s.kind ??= r.relkind ?? undefined;
      } else {
        seen.set(key, {
          oid: Number(r.oid),
          mode: r.mode,
          name,
          kind: r.relkind ?? undefined,
          first: now,
          last: now,
          waited: !r.granted,
        });
      }
    }
  };
  const loop = (async () => {
    while (running) {
      const t0 = Date.now();
      try {
        await sampleOnce();
      } catch {
        // A sample lost to a busy server only blurs the timing; give up after repeated failures.
        if (++failures > 20) return;
      }
      await new Promise((r) => setTimeout(r, Math.max(5, intervalMs - (Date.now() - t0))));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      // Relations created inside the migration's transaction were invisible to us while it ran.
      const unnamed = [...seen.values()].filter((s) => !s.name).map((s) => s.oid);
      if (unnamed.length > 0) {
        const { rows } = await client
          .query<{ oid: string; nspname: string; relname: string; relkind: string }>(
            `SELECT c.oid::int8 AS oid, n.nspname, c.relname, c.relkind::text AS relkind
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1::oid[])`,
            [unnamed],
          )
          .catch(() => ({
            rows: [] as Array<{ oid: string; nspname: string; relname: string; relkind: string }>,
          }));
        const byOid = new Map(rows.map((r) => [Number(r.oid), r]));
        for (const s of seen.values()) {
          const r = byOid.get(s.oid);
          if (!s.name && r) {
            s.name = displayName(r.nspname, r.relname);
            s.kind = r.relkind;
          }
        }
      }
      const skip = new Set(exclude.map((e) => e.toLowerCase()));
      return [...seen.values()]
        .filter((s) => s.kind === undefined || ['r', 'p', 'm', 'v'].includes(s.kind))
        .filter((s) => !s.name || !skip.has(s.name.toLowerCase()))
        .map((s) => ({
          relation: s.name ?? `oid ${s.oid}`,
          mode: s.mode,
          heldMs: s.last - s.first + intervalMs,
          waited: s.waited,
        }))
        .sort(
          (a, b) =>
            MODE_STRENGTH.indexOf(b.mode) - MODE_STRENGTH.indexOf(a.mode) ||
            a.relation.localeCompare(b.relation),
        );
    },
  };
}

/** Every user table (not `excludeSchemas`), with exact counts for small tables and estimates for big ones. */
export async function snapshotTables(
  client: pg.Client,
  excludeSchemas: string[],
): Promise<Map<number, TableStat>> {
  const { rows } = await client.query<{
    oid: string;
    nspname: string;
    relname: string;
    reltuples: number;
    heap: string;
    bytes: string;
    shape: string;
  }>(
    `SELECT c.oid::int8 AS oid, n.nspname, c.relname, c.reltuples::float8 AS reltuples,
            pg_relation_size(c.oid)::int8 AS heap, pg_total_relation_size(c.oid)::int8 AS bytes,
            concat_ws('|',
              (SELECT string_agg(a.attname || ':' || a.atttypid || ':' || a.atttypmod || ':' || a.attnotnull || ':' || a.atthasdef, ',' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
              (SELECT string_agg(i.indexrelid::text || ':' || i.indisvalid, ',' ORDER BY i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid),
              (SELECT string_agg(k.oid::text || ':' || k.convalidated, ',' ORDER BY k.oid) FROM pg_constraint k WHERE k.conrelid = c.oid)
            ) AS shape
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname <> ALL($1::text[])
      ORDER BY 1`,
    [excludeSchemas],
  );
  const out = new Map<number, TableStat>();
  for (const r of rows) {
    const name = displayName(r.nspname, r.relname);
    let count: number | null = r.reltuples >= 0 ? Math.round(r.reltuples) : null;
    let exact = false;
    if (Number(r.heap) < EXACT_COUNT_MAX_BYTES) {
      const q = `SELECT count(*)::int8 AS n FROM ${client.escapeIdentifier(r.nspname)}.${client.escapeIdentifier(r.relname)}`;
      const res = await client.query<{ n: string }>(q).catch(() => null);
      if (res) {
        count = Number(res.rows[0]!.n);
        exact = true;
      }
    }
    out.set(Number(r.oid), {
      oid: Number(r.oid),
      name,
      rows: count,
      exact,
      bytes: Number(r.bytes),
      shape: r.shape,
    });
  }
  return out;
}

/** Tables the migration touched: locked by it, created, dropped, changed in shape or in size. */
export function tableChanges(
  before: Map<number, TableStat>,
  after: Map<number, TableStat>,
  locked: string[],
  exclude: string[] = [],
): TableChange[] {
  const lockedSet = new Set(locked);
  const skip = new Set(exclude.map((e) => e.toLowerCase()));
  const oids = new Set([...before.keys(), ...after.keys()]);
  const out: TableChange[] = [];
  for (const oid of oids) {
    const b = before.get(oid);
    const a = after.get(oid);
    const name = (a ?? b)!.name;
    if (skip.has(name.toLowerCase())) continue;
    const touched =
      !a || !b || lockedSet.has(name) || a.shape !== b.shape || a.bytes !== b.bytes || a.rows !== b.rows;
    if (!touched) continue;
    out.push({
      table: name,
      rowsBefore: b?.rows ?? null,
      rowsAfter: a?.rows ?? null,
      exact: (b?.exact ?? true) && (a?.exact ?? true),
      bytesBefore: b?.bytes ?? null,
      bytesAfter: a?.bytes ?? null,
    });
  }
  return out.sort((x, y) => x.table.localeCompare(y.table));
}
