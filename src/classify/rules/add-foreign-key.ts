import {
  addedConstraints,
  columnInfo,
  isNewTable,
  isOp,
  isTrue,
  relName,
  str,
  tableLabel,
  nameOf,
} from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, what: string): RuleHit => ({
  table,
  message: `add foreign key ${what} on ${tableLabel(table)} without NOT VALID: PostgreSQL checks every existing row while holding a lock that blocks writes to ${tableLabel(table)} and the referenced table`,
  hint: 'Add it NOT VALID first (postgresql_not_valid=True, or ADD CONSTRAINT ... NOT VALID), then run ALTER TABLE ... VALIDATE CONSTRAINT in a later migration; validation does not block writes.',
});

export const addForeignKey: Rule = {
  id: 'add-foreign-key',
  category: 'locking',
  severity: 'warning',
  summary: 'Adds a validated foreign key to an existing table: full scan under a write-blocking lock.',
  check(op, ctx) {
    if (op.kind === 'op' && op.name === 'create_foreign_key') {
      if (isNewTable(ctx, op.table) || isTrue(op.params.postgresql_not_valid)) return [];
      return [
        hit(
          op.table,
          `${nameOf(op.params.constraint_name) ?? ''} -> ${str(op.params.referent_table) ?? '?'}`.trim(),
        ),
      ];
    }
    if (isOp(op, 'add_column')) {
      const col = columnInfo(op.params.column);
      if (!col || isNewTable(ctx, op.table)) return [];
      // A new column is all NULL, so the check is quick, but the lock on both tables is still taken.
      return col.foreignKeys.map((fk) => ({
        ...hit(op.table, `${col.name ?? '?'} -> ${fk}`),
        severity: 'info' as const,
      }));
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      const hits: RuleHit[] = [];
      for (const k of addedConstraints(op.stmt.node)) {
        if (k?.contype === 'CONSTR_FOREIGN' && !k.skip_validation) {
          hits.push(hit(table, `${(k.conname as string) ?? ''} -> ${relName(k.pktable) ?? '?'}`.trim()));
        }
      }
      return hits;
    }
    return [];
  },
};
export default addForeignKey;
