import { isNewTable, relName, tableLabel, writesOf } from '../facts.js';
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
    if (op.kind === 'sql') {
      // Data-modifying CTEs write as much as the bare statements.
      const hits: RuleHit[] = [];
      for (const w of writesOf(op.stmt.type, op.stmt.node)) {
        const table = relName(w.node.relation);
        if (isNewTable(ctx, table)) continue;
        const inCte = w.node !== op.stmt.node ? ', in a WITH clause' : '';
        if (w.type === 'UpdateStmt') {
          hits.push(hit(table, `${w.node.whereClause ? 'with a WHERE clause' : 'every row'}${inCte}`));
        } else if (
          w.type === 'InsertStmt' &&
          (w.node.onConflictClause as Record<string, unknown> | undefined)?.action === 'ONCONFLICT_UPDATE'
        ) {
          hits.push(hit(table, `INSERT ... ON CONFLICT DO UPDATE${inCte}`));
        }
      }
      return hits;
    }
    if (op.kind === 'data' && op.action === 'update') {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, op.text)];
    }
    return [];
  },
};
export default updateRows;
