/** Alembic's version table: which revisions the database is at. */
import pg from 'pg';

export function qualifiedName(table: string, schema?: string): string {
  return schema ? `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}` : pg.escapeIdentifier(table);
}

/** The revisions in the version table, sorted; [] when the table does not exist (an empty database). */
export async function readCurrentRevisions(
  client: pg.Client,
  options: { table?: string; schema?: string } = {},
): Promise<string[]> {
  const name = qualifiedName(options.table ?? 'alembic_version', options.schema);
  const { rows } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [name]);
  if (!rows[0]?.oid) return [];
  const result = await client.query<{ version_num: string }>(`SELECT version_num FROM ${name}`);
  return result.rows.map((r) => r.version_num).sort();
}
