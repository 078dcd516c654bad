import { alterCmds, isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, column: string | undefined): RuleHit => ({
  table,
  message: `drop column ${tableLabel(table)}.${column ?? '?'}: the column's data is deleted and code still reading it fails`,
  hint: 'Deploy code that stops reading and writing the column first, then drop it in a later release; keep the data in a backup table if you may need it.',
});

export const dropColumn: Rule = {
  id: 'drop-column',
  category: 'data-loss',
  severity: 'error',
  summary: 'Drops a column of an existing table: its data is gone and old code breaks.',
  check(op, ctx) {
    if (isOp(op, 'drop_column')) {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, str(op.params.column_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_DropColumn')
        .map((c) => hit(table, c.name));
    }
    return [];
  },
};
export default dropColumn;
