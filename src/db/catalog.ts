/** Read-only catalog queries the gate uses to weigh findings and to warn before acting. */
import pg from 'pg';
import type { DbTarget } from './connect.js';
import type { CatalogFacts } from '../classify/model.js';

export async function serverVersion(client: pg.Client): Promise<{ num: number; text: string }> {
  const { rows } = await client.query<{ num: string; text: string }>(
    "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text",
  );
  return { num: Number(rows[0]!.num), text: rows[0]!.text };
}

/** Major version from server_version_num: 150018 -> 15, 90624 -> 9.6. */
export function serverMajor(num: number): number {
  return num >= 100000 ? Math.floor(num / 10000) : Math.floor(num / 100) / 100;
}

export interface TableSize {
  /** Estimated rows (pg_class.reltuples); null when never vacuumed/analyzed. */
  rows: number | null;
  /** pg_total_relation_size: heap + indexes + TOAST (partitioned tables: the sum of their leaves). */
  bytes: number;
}

/** `schema.table` or `table` (resolved through search_path) as a safely quoted name. */
function quoteTableName(name: string): string {
  const dot = name.indexOf('.');
  return dot > 0
    ? `${pg.escapeIdentifier(name.slice(0, dot))}.${pg.escapeIdentifier(name.slice(dot + 1))}`
    : pg.escapeIdentifier(name);
}

/** Sizes of the tables that exist, keyed by the name as given; absent tables are left out. */
export async function tableSizes(client: pg.Client, tables: string[]): Promise<Map<string, TableSize>> {
  const names = [...new Set(tables)];
  const out = new Map<string, TableSize>();
  if (names.length === 0) return out;
  const { rows } = await client.query<{ name: string; rows: number | null; bytes: number }>(
    `WITH req AS (
       SELECT r.name, to_regclass(r.qname) AS relid FROM unnest($1::text[], $2::text[]) AS r(name, qname)
     ), parts AS (
       SELECT req.name, coalesce(pt.relid, req.relid) AS relid
         FROM req
         JOIN pg_class c ON c.oid = req.relid
         LEFT JOIN LATERAL pg_partition_tree(req.relid) pt ON c.relkind = 'p' AND pt.isleaf
     )
     SELECT p.name,
            CASE WHEN bool_and(c.reltuples >= 0) THEN sum(c.reltuples)::float8 END AS rows,
            sum(pg_total_relation_size(c.oid))::float8 AS bytes
       FROM parts p JOIN pg_class c ON c.oid = p.relid
      GROUP BY p.name`,
    [names, names.map(quoteTableName)],
  );
  for (const r of rows)
    out.set(r.name, { rows: r.rows === null ? null : Math.round(r.rows), bytes: r.bytes });
  return out;
}

/**
 * Columns, constraints (with their validated state and definition) and partitioning of one table: the
 * shape the classifier's schema model takes from the catalog, defined once there.
 */
export type TableFacts = CatalogFacts;

/**
 * What the catalog says about the tables that exist, keyed by the name as given (absent tables are
 * left out): the classifier judges findings on these tables against it instead of its replayed model.
 */
export async function tableFacts(client: pg.Client, tables: string[]): Promise<Map<string, TableFacts>> {
  const names = [...new Set(tables)];
  const out = new Map<string, TableFacts>();
  if (names.length === 0) return out;
  const { rows } = await client.query<{ name: string } & TableFacts>(
    `WITH req AS (
       SELECT r.name, to_regclass(r.qname) AS relid FROM unnest($1::text[], $2::text[]) AS r(name, qname)
     )
     SELECT req.name,
            c.relkind = 'p' AS partitioned,
            coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                        'nullable', NOT a.attnotnull) ORDER BY a.attnum)
                        FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
            coalesce((SELECT json_agg(json_build_object(
                               'name', k.conname, 'type', k.contype, 'validated', k.convalidated,
                               'columns', (SELECT coalesce(json_agg(a.attname ORDER BY a.attnum), '[]')
                                             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (k.conkey)),
                               'definition', pg_get_constraintdef(k.oid)) ORDER BY k.conname)
                        FROM pg_constraint k WHERE k.conrelid = c.oid), '[]') AS constraints
       FROM req JOIN pg_class c ON c.oid = req.relid`,
    [names, names.map(quoteTableName)],
  );
  for (const r of rows)
    out.set(r.name, { columns: r.columns, constraints: r.constraints, partitioned: r.partitioned });
  return out;
}

export interface InvalidIndex {
  schema: string;
  name: string;
  table: string;
  /** The statement that removes it (then re-run the CREATE INDEX CONCURRENTLY). */
  fix: string;
}

/**
 * Indexes left invalid by a failed CREATE INDEX CONCURRENTLY (they cost writes and are never used).
 * Builds still in progress are not reported.
 */
export async function invalidIndexes(client: pg.Client): Promise<InvalidIndex[]> {
  const { rows } = await client.query<{ schema: string; name: string; table: string }>(
    `SELECT n.nspname AS schema, ci.relname AS name, ct.relname AS table
       FROM pg_index i
       JOIN pg_class ci ON ci.oid = i.indexrelid
       JOIN pg_class ct ON ct.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = ci.relnamespace
      WHERE NOT i.indisvalid
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
        AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
      ORDER BY 1, 2`,
  );
  return rows.map((r) => ({
    ...r,
    fix: `DROP INDEX CONCURRENTLY ${pg.escapeIdentifier(r.schema)}.${pg.escapeIdentifier(r.name)};`,
  }));
}

/** Why the target looks like a connection pooler (PgBouncer), or undefined. */
export function poolerReason(target: Pick<DbTarget, 'host' | 'port' | 'params'>): string | undefined {
  if (target.params.pgbouncer === 'true') return 'the URL has pgbouncer=true';
  if (/pooler|pgbouncer/i.test(target.host)) return `the host "${target.host}" looks like a pooler`;
  if (target.port === 6432) return 'port 6432 is PgBouncer’s default';
  return undefined;
}

/**
 * Heuristic: session advisory locks and SET do not hold across transactions behind a transaction-mode
 * pooler, so the gate warns and asks for a direct connection.
 */
export function looksLikePooler(target: Pick<DbTarget, 'host' | 'port' | 'params'>): boolean {
  return poolerReason(target) !== undefined;
}
