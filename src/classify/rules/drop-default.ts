import { alterCmds, isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, column: string | undefined): RuleHit => ({
  table,
  message: `drop the server default of ${tableLabel(table)}.${column ?? '?'}: inserts that omit the column now store NULL, or fail if it is NOT NULL`,
  hint: 'Make sure every code path that inserts rows sets the column explicitly (deployed first), then drop the default.',
});

/** Review, not breaking: usually the last step of "add with default, backfill, drop default". */
export const dropDefault: Rule = {
  id: 'drop-default',
  category: 'review',
  severity: 'warning',
  summary: 'Removes a column server default (alter_column server_default=None, DROP DEFAULT).',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.server_default?.kind === 'none') {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, str(op.params.column_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_ColumnDefault' && !c.def)
        .map((c) => hit(table, c.name));
    }
    return [];
  },
};
export default dropDefault;
