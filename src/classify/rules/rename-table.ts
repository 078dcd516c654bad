import { isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (from: string | undefined, to: string | undefined): RuleHit => ({
  table: from,
  message: `rename table ${tableLabel(from)} to ${to ?? '?'}: code still using the old name fails as soon as this commits`,
  hint: 'Rename in steps: create the new table (or a view named like the old one), deploy code that uses the new name, then drop the old name in a later release.',
});

export const renameTable: Rule = {
  id: 'rename-table',
  category: 'breaking',
  severity: 'error',
  summary: 'Renames a table that running code still uses.',
  check(op, ctx) {
    if (isOp(op, 'rename_table')) {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, str(op.params.new_table_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'RenameStmt' && op.stmt.node.renameType === 'OBJECT_TABLE') {
      const table = relName(op.stmt.node.relation);
      return isNewTable(ctx, table) ? [] : [hit(table, op.stmt.node.newname as string)];
    }
    return [];
  },
};
export default renameTable;
