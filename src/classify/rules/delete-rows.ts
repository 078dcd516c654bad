import { isNewTable, relName, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, what: string): RuleHit => ({
  table,
  message: `delete rows from ${tableLabel(table)} (${what}): the deleted rows are gone once the migration commits`,
  hint: 'Copy the rows you delete to an archive table in the same migration (INSERT INTO ..._archive SELECT ... WHERE <same condition>), or keep a dump; delete in batches on large tables.',
});

export const deleteRows: Rule = {
  id: 'delete-rows',
  category: 'data-loss',
  severity: 'error',
  summary: 'DELETE (raw SQL, sa.delete(), table.delete(), query.delete()) removes rows.',
  check(op, ctx) {
    if (op.kind === 'sql' && op.stmt.type === 'DeleteStmt') {
      const table = relName(op.stmt.node.relation);
      return isNewTable(ctx, table)
        ? []
        : [hit(table, op.stmt.node.whereClause ? 'with a WHERE clause' : 'every row')];
    }
    if (op.kind === 'data' && op.action === 'delete') {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, op.text)];
    }
    return [];
  },
};
export default deleteRows;
