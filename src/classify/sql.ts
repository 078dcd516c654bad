/** Raw SQL goes through libpg-query (the real PostgreSQL parser, WASM). */
import { loadModule, parseSync } from 'libpg-query';

let loaded: Promise<void> | undefined;
export async function initSqlParser(): Promise<void> {
  loaded ??= loadModule();
  await loaded;
}

export interface SqlStatement {
  /** Node type, e.g. `DropStmt`, `AlterTableStmt`. */
  type: string;
  /** The node itself (libpg-query JSON AST). */
  node: Record<string, unknown>;
  /** Source text of this one statement. */
  text: string;
}

export type SqlParseResult = { ok: true; statements: SqlStatement[] } | { ok: false; error: string };

export function parseSql(sql: string): SqlParseResult {
  let tree: { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(sql);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  // stmt_location/stmt_len count UTF-8 bytes, not JavaScript (UTF-16) units: slice the bytes
  // when the text is not pure ASCII, or an 'é' before a statement shifts every later one.
  const bytes = Buffer.byteLength(sql, 'utf8') === sql.length ? undefined : Buffer.from(sql, 'utf8');
  const slice = (start: number, len: number | undefined): string => {
    if (!bytes) return len ? sql.slice(start, start + len) : sql.slice(start);
    return bytes.toString('utf8', start, len ? start + len : bytes.length);
  };
  const statements = (tree.stmts ?? []).map((s) => {
    const type = Object.keys(s.stmt)[0] ?? 'Unknown';
    const text = slice(s.stmt_location ?? 0, s.stmt_len).trim();
    return { type, node: s.stmt[type] as Record<string, unknown>, text };
  });
  return { ok: true, statements };
}
