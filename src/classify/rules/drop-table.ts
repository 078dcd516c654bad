import { baseName, isNewTable, isOp, nameList, tableLabel } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

function hit(table: string | undefined, ctx: RuleContext): RuleHit[] {
  if (isNewTable(ctx, table)) return [];
  return [
    {
      table,
      message: `drop table ${tableLabel(table)}: every row in it is deleted and code still using it fails`,
      hint: 'Deploy code that no longer uses the table first, then drop it in a later release; keep a copy (CREATE TABLE ..._archive AS SELECT ...) or a dump if you may need the data.',
    },
  ];
}

export const dropTable: Rule = {
  id: 'drop-table',
  category: 'data-loss',
  severity: 'error',
  summary: 'Drops a table that existed before this deploy: its data is gone.',
  check(op, ctx) {
    if (isOp(op, 'drop_table')) return hit(op.table, ctx);
    if (op.kind === 'object-drop' && op.object === 'table') return hit(op.name, ctx);
    if (op.kind === 'sql' && op.stmt.type === 'DropStmt' && op.stmt.node.removeType === 'OBJECT_TABLE') {
      return ((op.stmt.node.objects as unknown[]) ?? []).flatMap((o) => hit(baseName(nameList(o)), ctx));
    }
    return [];
  },
};
export default dropTable;
