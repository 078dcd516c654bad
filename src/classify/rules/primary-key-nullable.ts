import { alterCmds, isNewTable, isOp, nameOf, relName, tableLabel, type Json } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

const names = (list: unknown): string[] =>
  ((list as Json[] | undefined) ?? []).map((n) => String((n.String as Json)?.sval).toLowerCase());

function hits(ctx: RuleContext, table: string | undefined, what: string, columns: string[]): RuleHit[] {
  if (isNewTable(ctx, table)) return [];
  const nullable = columns.filter((c) => ctx.model.column(table, c)?.nullable === true);
  const unknown = columns.filter((c) => ctx.model.column(table, c)?.nullable === undefined);
  if (nullable.length === 0 && unknown.length === 0 && columns.length > 0) return [];
  const cols = nullable.length > 0 ? nullable : unknown.length > 0 ? unknown : ['(the index columns)'];
  const state =
    nullable.length > 0 ? 'is nullable' : 'may be nullable (the gate cannot see whether it is NOT NULL)';
  return [
    {
      table,
      message: `${what} on ${tableLabel(table)}: ${cols.join(', ')} ${state}, so PostgreSQL first runs an implicit SET NOT NULL, a scan of every row under an ACCESS EXCLUSIVE lock (no reads, no writes), and fails if a row holds NULL`,
      hint: `First add CHECK (${cols[0]} IS NOT NULL) NOT VALID, VALIDATE it in a later migration, and SET NOT NULL (instant with the validated check on PostgreSQL 12+); then add the primary key USING INDEX of a unique index built CONCURRENTLY.`,
    },
  ];
}

export const primaryKeyNullable: Rule = {
  id: 'primary-key-nullable',
  category: 'locking',
  severity: 'warning',
  summary:
    'ADD PRIMARY KEY (cols or USING INDEX) on a column that is (or may be) nullable: an implicit SET NOT NULL scans the table under ACCESS EXCLUSIVE.',
  check(op, ctx) {
    if (isOp(op, 'create_primary_key')) {
      const cols = op.params.columns;
      const columns =
        cols?.kind === 'list'
          ? cols.items.flatMap((i) => (i.kind === 'str' ? [i.value.toLowerCase()] : []))
          : [];
      return hits(
        ctx,
        op.table,
        `add primary key ${nameOf(op.params.constraint_name) ?? ''}`.trim(),
        columns,
      );
    }
    if (op.kind !== 'sql' || op.stmt.type !== 'AlterTableStmt') return [];
    const table = relName(op.stmt.node.relation);
    // Only ADD CONSTRAINT: a PRIMARY KEY declared on ADD COLUMN makes a new column, NOT NULL from the start.
    return alterCmds(op.stmt.node)
      .flatMap((c) => (c.subtype === 'AT_AddConstraint' ? [c.def?.Constraint as Json] : []))
      .filter((k) => k?.contype === 'CONSTR_PRIMARY')
      .flatMap((k) => {
        const ix = typeof k.indexname === 'string' ? k.indexname : undefined;
        const columns = ix ? (ctx.model.indexes.get(ix.toLowerCase())?.columns ?? []) : names(k.keys);
        const what = `add primary key ${typeof k.conname === 'string' ? k.conname : ''}${ix ? ` using index ${ix}` : ''}`;
        return hits(ctx, table, what.replace('  ', ' '), columns);
      });
  },
};
export default primaryKeyNullable;
