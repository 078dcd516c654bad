import { alterCmds, isNewTable, relName, tableLabel } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

export const validateInSameTransaction: Rule = {
  id: 'validate-in-same-transaction',
  category: 'locking',
  severity: 'warning',
  summary:
    'VALIDATE CONSTRAINT in the same migration (one transaction) that added the constraint NOT VALID: the ADD lock is held through the scan.',
  check(op, ctx) {
    if (op.kind !== 'sql' || op.stmt.type !== 'AlterTableStmt' || op.autocommit) return [];
    const table = relName(op.stmt.node.relation);
    if (isNewTable(ctx, table)) return [];
    const hits: RuleHit[] = [];
    for (const c of alterCmds(op.stmt.node)) {
      if (c.subtype !== 'AT_ValidateConstraint') continue;
      const k = ctx.model.constraint(table, c.name);
      // Added NOT VALID earlier in this migration, inside Alembic's transaction (not yet committed).
      if (!k || k.validated || k.addedIn !== ctx.model.migration || k.autocommit) continue;
      const lock =
        k.kind === 'foreign-key'
          ? 'SHARE ROW EXCLUSIVE lock on both tables (no writes)'
          : 'ACCESS EXCLUSIVE lock (no reads, no writes)';
      hits.push({
        table,
        message: `validate constraint ${c.name ?? '?'} on ${tableLabel(table)} in the migration that adds it NOT VALID: both run in one transaction, so the ADD's ${lock} is held until the scan of every row ends and the migration commits`,
        hint: 'Move the VALIDATE CONSTRAINT to a later migration, or run it inside `with op.get_context().autocommit_block():` so the ADD commits first and the scan holds only SHARE UPDATE EXCLUSIVE (reads and writes go on).',
      });
    }
    return hits;
  },
};
export default validateInSameTransaction;
