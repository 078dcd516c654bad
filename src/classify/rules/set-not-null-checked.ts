import { alterCmds, isNewTable, isOp, relName, str, tableLabel } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

/** PostgreSQL 12+ skips the SET NOT NULL scan when a validated CHECK (col IS NOT NULL) proves it. */
export function provedNotNull(ctx: RuleContext, table: string | undefined, column: string | undefined) {
  if (ctx.serverVersionNum !== undefined && ctx.serverVersionNum < 120000) return undefined;
  return ctx.model.notNullCheck(table, column);
}

function note(ctx: RuleContext, table: string | undefined, column: string | undefined): RuleHit[] {
  if (isNewTable(ctx, table)) return [];
  const k = provedNotNull(ctx, table, column);
  if (!k) return [];
  return [
    {
      table,
      message: `set ${tableLabel(table)}.${column ?? '?'} NOT NULL: the validated CHECK ${k.name ?? `(${column} IS NOT NULL)`} already forbids NULLs, so PostgreSQL skips the scan and the lock is brief; this forbids nothing the check did not`,
      hint: `The check is now redundant: drop it (ALTER TABLE ${table ?? '<table>'} DROP CONSTRAINT ${k.name ?? '<name>'}) in a later release.`,
    },
  ];
}

export const setNotNullChecked: Rule = {
  id: 'set-not-null-checked',
  category: 'review',
  severity: 'info',
  summary:
    'SET NOT NULL proved by a validated CHECK (col IS NOT NULL): no scan, nothing new forbidden (the check can be dropped later).',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.nullable?.kind === 'bool' && !op.params.nullable.value) {
      return note(ctx, op.table, str(op.params.column_name));
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_SetNotNull')
        .flatMap((c) => note(ctx, table, c.name));
    }
    return [];
  },
};
export default setNotNullChecked;
