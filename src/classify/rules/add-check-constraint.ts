import { addedConstraints, isNewTable, isOp, isTrue, relName, tableLabel, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (table: string | undefined, name: string | undefined): RuleHit => ({
  table,
  message: `add check constraint ${name ?? '(name chosen by PostgreSQL)'} on ${tableLabel(table)} without NOT VALID: PostgreSQL scans every row under an ACCESS EXCLUSIVE lock, blocking reads and writes`,
  hint: 'Add it NOT VALID first (postgresql_not_valid=True, or ADD CONSTRAINT ... CHECK (...) NOT VALID), then VALIDATE CONSTRAINT in a later migration; validation does not block writes.',
});

export const addCheckConstraint: Rule = {
  id: 'add-check-constraint',
  category: 'locking',
  severity: 'warning',
  summary: 'Adds a validated CHECK constraint to an existing table: full scan under an exclusive lock.',
  check(op, ctx) {
    if (isOp(op, 'create_check_constraint')) {
      if (isNewTable(ctx, op.table) || isTrue(op.params.postgresql_not_valid)) return [];
      return [hit(op.table, nameOf(op.params.constraint_name))];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return addedConstraints(op.stmt.node)
        .filter((k) => k?.contype === 'CONSTR_CHECK' && !k.skip_validation)
        .map((k) => hit(table, k.conname as string | undefined));
    }
    return [];
  },
};
export default addCheckConstraint;
