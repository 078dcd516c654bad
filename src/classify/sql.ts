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
  const statements = (tree.stmts ?? []).map((s) => {
    const type = Object.keys(s.stmt)[0] ?? 'Unknown';
    const start = s.stmt_location ?? 0;
    const text = (s.stmt_len ? sql.slice(start, start + s.stmt_len) : sql.slice(start)).trim();
    return { type, node: s.stmt[type] as Record<string, unknown>, text };
  });
  return { ok: true, statements };
}
