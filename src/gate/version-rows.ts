/**
 * The version table's rows, checked without a query (pure): on every deploy, including the no-op path,
 * so a broken table is reported before anything is dumped or run.
 */
import type { RevisionGraph } from '../alembic/graph.js';
import { qualifiedName } from '../db/version.js';

export interface PreflightProblem {
  /** config: a setting to fix (exit 3); failed: something to repair or install (exit 4). */
  kind: 'config' | 'failed';
  text: string;
}

/**
 * The version table's rows must name distinct revisions of this code, none an ancestor of another:
 * alembic refuses repeated or overlapping rows (or, worse, runs DDL before noticing). Pure.
 * Rows this code does not know are left to the decision (a code rollback or an unknown revision).
 */
export function versionRowProblems(
  rows: string[],
  graph: Pick<RevisionGraph, 'has' | 'isAncestor'>,
  table: { table: string; schema?: string },
): PreflightProblem[] {
  const inspect = `inspect it with SELECT * FROM ${qualifiedName(table.table, table.schema)}, then keep one row per branch head with \`alembic stamp --purge <revision>\` (take a backup first)`;
  const out: PreflightProblem[] = [];
  const repeated = [...new Set(rows.filter((r, i) => rows.indexOf(r) !== i))];
  if (repeated.length > 0) {
    out.push({
      kind: 'failed',
      text: `the version table lists ${repeated.join(', ')} more than once, so alembic cannot tell where the database is; ${inspect}`,
    });
  }
  const known = [...new Set(rows)].filter((r) => graph.has(r));
  for (const a of known) {
    for (const b of known) {
      if (a !== b && graph.isAncestor(a, b)) {
        out.push({
          kind: 'failed',
          text: `the version table lists both ${a} and its descendant ${b}: a row was left behind (a manual edit or an interrupted stamp), and alembic would fail or re-run migrations; ${inspect}`,
        });
      }
    }
  }
  return out;
}
