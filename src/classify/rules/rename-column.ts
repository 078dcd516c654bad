import { isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, from: string | undefined, to: string | undefined): RuleHit => ({
  table,
  message: `rename column ${tableLabel(table)}.${from ?? '?'} to ${to ?? '?'}: code still reading or writing ${from ?? 'the old name'} fails as soon as this commits`,
  hint: 'Rename in steps: add the new column, write to both and backfill, deploy code that reads the new column, then drop the old one in a later release.',
});

export const renameColumn: Rule = {
  id: 'rename-column',
  category: 'breaking',
  severity: 'error',
  summary: 'Renames a column that running code still uses.',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.new_column_name && op.params.new_column_name.kind !== 'none') {
      if (isNewTable(ctx, op.table)) return [];
      return [hit(op.table, str(op.params.column_name), str(op.params.new_column_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'RenameStmt' && op.stmt.node.renameType === 'OBJECT_COLUMN') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return [hit(table, op.stmt.node.subname as string, op.stmt.node.newname as string)];
    }
    return [];
  },
};
export default renameColumn;
