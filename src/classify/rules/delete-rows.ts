import { isNewTable, relName, tableLabel, writesOf } from '../facts.js';
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
    if (op.kind === 'sql') {
      // A DELETE in a CTE (`WITH d AS (DELETE ... RETURNING id) SELECT ...`) deletes as much as a bare one.
      return writesOf(op.stmt.type, op.stmt.node)
        .filter((w) => w.type === 'DeleteStmt')
        .map((w) => ({
          table: relName(w.node.relation),
          where: !!w.node.whereClause,
          inCte: w.node !== op.stmt.node,
        }))
        .filter((w) => !isNewTable(ctx, w.table))
        .map((w) =>
          hit(
            w.table,
            `${w.where ? 'with a WHERE clause' : 'every row'}${w.inCte ? ', in a WITH clause' : ''}`,
          ),
        );
    }
    if (op.kind === 'data' && op.action === 'delete') {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, op.text)];
    }
    return [];
  },
};
export default deleteRows;
