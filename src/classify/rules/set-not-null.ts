import { alterCmds, isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';
import { provedNotNull } from './set-not-null-checked.js';

/** Nothing to flag: a new table, a validated CHECK (col IS NOT NULL) proves it, or it already is NOT NULL. */
function nothingNew(ctx: RuleContext, table: string | undefined, column: string | undefined): boolean {
  return (
    isNewTable(ctx, table) ||
    provedNotNull(ctx, table, column) !== undefined ||
    ctx.model.column(table, column)?.nullable === false
  );
}

const hit = (table: string | undefined, column: string | undefined): RuleHit => ({
  table,
  message: `set ${tableLabel(table)}.${column ?? '?'} NOT NULL: fails if any row holds NULL, scans the whole table under an ACCESS EXCLUSIVE lock, and code that inserts without the column starts failing`,
  hint: `Backfill the NULLs and deploy code that always writes the column first; then ADD CONSTRAINT ... CHECK (${column ?? 'col'} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, and SET NOT NULL (PostgreSQL 12+ skips the scan when a validated check exists).`,
});

export const setNotNull: Rule = {
  id: 'set-not-null',
  category: 'breaking',
  severity: 'error',
  summary: 'Makes an existing column NOT NULL (alter_column nullable=False, SET NOT NULL).',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.nullable?.kind === 'bool' && !op.params.nullable.value) {
      // existing_nullable=False says it already was NOT NULL: nothing changes.
      const was = op.params.existing_nullable;
      const column = str(op.params.column_name);
      if (nothingNew(ctx, op.table, column) || (was?.kind === 'bool' && !was.value)) return [];
      return [hit(op.table, column)];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_SetNotNull' && !nothingNew(ctx, table, c.name))
        .map((c) => hit(table, c.name));
    }
    return [];
  },
};
export default setNotNull;
