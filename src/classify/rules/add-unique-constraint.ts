import { addedConstraints, isNewTable, isOp, relName, tableLabel, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const KINDS: Record<string, string> = {
  CONSTR_UNIQUE: 'unique constraint',
  CONSTR_PRIMARY: 'primary key',
  CONSTR_EXCLUSION: 'exclusion constraint',
};

const hit = (table: string | undefined, what: string): RuleHit => ({
  table,
  message: `add ${what} on ${tableLabel(table)}: PostgreSQL builds its index while blocking writes to the table, and it fails if existing rows violate it`,
  hint: 'Build the index first with CREATE UNIQUE INDEX CONCURRENTLY (in an autocommit_block), then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX), which is instant.',
});

export const addUniqueConstraint: Rule = {
  id: 'add-unique-constraint',
  category: 'locking',
  severity: 'warning',
  summary:
    'Adds a unique / primary key / exclusion constraint to an existing table: index build blocks writes.',
  check(op, ctx) {
    if (isOp(op, 'create_unique_constraint', 'create_primary_key', 'create_exclude_constraint')) {
      if (isNewTable(ctx, op.table)) return [];
      const what =
        { create_unique_constraint: 'unique constraint', create_primary_key: 'primary key' }[
          op.name as string
        ] ?? 'exclusion constraint';
      return [hit(op.table, `${what} ${nameOf(op.params.constraint_name) ?? ''}`.trim())];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      const hits: RuleHit[] = [];
      for (const k of addedConstraints(op.stmt.node)) {
        const kind = KINDS[String(k?.contype)];
        // USING INDEX attaches an index built beforehand (concurrently): no build under lock.
        if (kind && !k!.indexname) hits.push(hit(table, `${kind} ${(k!.conname as string) ?? ''}`.trim()));
      }
      return hits;
    }
    return [];
  },
};
export default addUniqueConstraint;
