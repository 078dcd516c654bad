import { alterCmds, columnInfo, constraintsOf, isNewTable, isOp, relName, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, column: string | undefined): RuleHit => ({
  table,
  message: `add NOT NULL column ${tableLabel(table)}.${column ?? '?'} without a default: fails on a table that has rows, and old code that inserts without the column fails`,
  hint: 'Add the column as nullable (or with a constant server_default), deploy code that writes it, backfill, then make it NOT NULL in a later migration.',
});

export const addColumnNotNullNoDefault: Rule = {
  id: 'add-column-not-null-no-default',
  category: 'breaking',
  severity: 'error',
  summary: 'Adds a NOT NULL column without a server default to an existing table.',
  check(op, ctx) {
    if (isOp(op, 'add_column')) {
      const col = columnInfo(op.params.column);
      if (!col || isNewTable(ctx, op.table)) return [];
      const notNull = col.nullable === false || (col.primaryKey && col.nullable !== true);
      // Identity and computed columns are filled in for every existing row.
      return notNull && !col.serverDefault && !col.generated ? [hit(op.table, col.name)] : [];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      const hits: RuleHit[] = [];
      for (const c of alterCmds(op.stmt.node)) {
        if (c.subtype !== 'AT_AddColumn') continue;
        const def = c.def?.ColumnDef as Record<string, unknown> | undefined;
        const types = constraintsOf(def).map((k) => k.contype);
        const notNull = types.includes('CONSTR_NOTNULL') || types.includes('CONSTR_PRIMARY');
        const filled = ['CONSTR_DEFAULT', 'CONSTR_IDENTITY', 'CONSTR_GENERATED'].some((t) =>
          types.includes(t),
        );
        const serial = (
          (def?.typeName as { names?: Array<{ String?: { sval?: string } }> })?.names ?? []
        ).some((n) =>
          ['serial', 'bigserial', 'smallserial', 'serial4', 'serial8', 'serial2'].includes(
            n.String?.sval ?? '',
          ),
        );
        if (notNull && !filled && !serial) hits.push(hit(table, def?.colname as string | undefined));
      }
      return hits;
    }
    return [];
  },
};
export default addColumnNotNullNoDefault;
