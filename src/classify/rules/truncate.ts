import { isNewTable, relName, tableLabel } from '../facts.js';
import type { Rule } from '../rule.js';

export const truncate: Rule = {
  id: 'truncate',
  category: 'data-loss',
  severity: 'error',
  summary: 'TRUNCATE empties a table.',
  check(op, ctx) {
    if (op.kind !== 'sql' || op.stmt.type !== 'TruncateStmt') return [];
    const tables = ((op.stmt.node.relations as Array<Record<string, unknown>>) ?? []).map((r) =>
      relName(r.RangeVar),
    );
    // CASCADE also empties every table with a foreign key to these, which the statement does not name.
    const cascade =
      op.stmt.node.behavior === 'DROP_CASCADE'
        ? ', and CASCADE empties every table that references it through a foreign key, named nowhere in the migration'
        : '';
    return tables
      .filter((t) => !isNewTable(ctx, t))
      .map((table) => ({
        table,
        message: `truncate ${tableLabel(table)}: every row is deleted at once (and TRUNCATE takes an ACCESS EXCLUSIVE lock)${cascade}`,
        hint: 'If the rows are really disposable, say so with an allow annotation; otherwise copy them to an archive table first, or delete in batches with a WHERE clause you can review.',
      }));
  },
};
export default truncate;
