import {
  alterCmds,
  columnInfo,
  constraintsOf,
  fastDefaults,
  isNewTable,
  isOp,
  relName,
  show,
  tableLabel,
  volatileInServerDefault,
  volatileInSqlExpr,
} from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

const HINT =
  'Add the column without a default (or with a constant one), then set the default for new rows with ALTER COLUMN ... SET DEFAULT, and backfill existing rows in batches.';

function hit(table: string | undefined, column: string | undefined, why: string): RuleHit {
  return {
    table,
    message: `add column ${tableLabel(table)}.${column ?? '?'} with ${why}: PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock, blocking reads and writes until it finishes`,
    hint: HINT,
  };
}

/** Why this default rewrites the table, or undefined when PostgreSQL stores it in the catalog. */
function rewriteReason(ctx: RuleContext, volatile: string | undefined, shown: string): string | undefined {
  if (volatile) return `the volatile default ${volatile}() (evaluated for every existing row)`;
  if (!fastDefaults(ctx))
    return `a default (${shown}) on PostgreSQL ${Math.floor(ctx.serverVersionNum! / 10000)}, before 11 every ADD COLUMN ... DEFAULT rewrites`;
  return undefined;
}

export const volatileDefault: Rule = {
  id: 'volatile-default',
  category: 'locking',
  severity: 'warning',
  summary:
    'ADD COLUMN with a default that forces a table rewrite (volatile default, or any default before PostgreSQL 11).',
  check(op, ctx) {
    if (isOp(op, 'add_column')) {
      const col = columnInfo(op.params.column);
      if (!col || isNewTable(ctx, op.table)) return [];
      if (col.generated) {
        const why =
          col.generated === 'identity'
            ? 'sa.Identity() (GENERATED ... AS IDENTITY)'
            : 'sa.Computed() (a stored generated expression)';
        return [hit(op.table, col.name, why)];
      }
      if (!col.serverDefault) return [];
      const why = rewriteReason(ctx, volatileInServerDefault(col.serverDefault), show(col.serverDefault));
      return why ? [hit(op.table, col.name, why)] : [];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      const hits: RuleHit[] = [];
      for (const c of alterCmds(op.stmt.node)) {
        if (c.subtype !== 'AT_AddColumn') continue;
        const def = c.def?.ColumnDef as Record<string, unknown> | undefined;
        const column = def?.colname as string | undefined;
        const typeNames = (
          (def?.typeName as { names?: Array<{ String?: { sval?: string } }> })?.names ?? []
        ).map((n) => n.String?.sval ?? '');
        const serial = typeNames.find((n) => n.includes('serial'));
        if (serial) {
          hits.push(
            hit(table, column, `type ${serial} (a nextval() default filled in for every existing row)`),
          );
          continue;
        }
        for (const k of constraintsOf(def)) {
          if (k.contype === 'CONSTR_IDENTITY' || k.contype === 'CONSTR_GENERATED') {
            hits.push(
              hit(
                table,
                column,
                k.contype === 'CONSTR_IDENTITY'
                  ? 'GENERATED ... AS IDENTITY'
                  : 'a stored generated expression',
              ),
            );
          } else if (k.contype === 'CONSTR_DEFAULT') {
            const why = rewriteReason(ctx, volatileInSqlExpr(k.raw_expr), 'DEFAULT');
            if (why) hits.push(hit(table, column, why));
          }
        }
      }
      return hits;
    }
    return [];
  },
};
export default volatileDefault;
