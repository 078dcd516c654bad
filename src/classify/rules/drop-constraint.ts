import { alterCmds, isNewTable, isOp, relName, tableLabel, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, name: string | undefined): RuleHit => ({
  table,
  message: `drop constraint ${name ?? '?'} on ${tableLabel(table)}: the database stops enforcing it, so bad rows (duplicates, orphans, invalid values) can get in, and code relying on it (ON CONFLICT, upserts) breaks`,
  hint: 'Drop it only after the code no longer relies on it; if you are replacing it, create the new constraint first (NOT VALID + VALIDATE) and drop the old one afterwards.',
});

export const dropConstraint: Rule = {
  id: 'drop-constraint',
  category: 'breaking',
  severity: 'error',
  summary: 'Drops a constraint (unique, foreign key, check, primary key) of an existing table.',
  check(op, ctx) {
    if (isOp(op, 'drop_constraint')) {
      return isNewTable(ctx, op.table) ? [] : [hit(op.table, nameOf(op.params.constraint_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_DropConstraint')
        .map((c) => hit(table, c.name));
    }
    return [];
  },
};
export default dropConstraint;
