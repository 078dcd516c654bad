import { isNewTable, relName, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, what: string): RuleHit => ({
  table,
  message: `update rows of ${tableLabel(table)} (${what}): the old values are overwritten, and a large UPDATE locks every row it touches`,
  hint: 'Keep the old values (copy them to a backup column or table first) so the change can be undone; on large tables update in batches outside the schema migration.',
});

export const updateRows: Rule = {
  id: 'update-rows',
  category: 'data-loss',
  severity: 'error',
  summary:
    'UPDATE (raw SQL, sa.update(), table.update(), query.update(), INSERT ... ON CONFLICT DO UPDATE) rewrites data.',
  check(op, ctx) {
    if (op.kind === 'sql' && op.stmt.type === 'UpdateStmt') {
      const table = relName(op.stmt.node.relation);
      return isNewTable(ctx, table)
        ? []
        : [hit(table, op.stmt.node.whereClause ? 'with a WHERE clause' : 'every row')];
    }
    if (op.kind === 'sql' && op.stmt.type === 'InsertStmt') {
      const conflict = (op.stmt.node.onConflictClause as Record<string, unknown> | undefined)?.action;
      const table = relName(op.stmt.node.relation);
      if (conflict === 'ONCONFLICT_UPDATE' && !isNewTable(ctx, table)) {
        return [hit(table, 'INSERT ... ON CONFLICT DO UPDATE')];
      }
      return [];
    }
    if (op.kind === 'data' && op.action === 'update') {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, op.text)];
    }
    return [];
  },
};
export default updateRows;
