import { isNewTable, isOp, isTrue, relName, tableLabel, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (index: string | undefined, table: string | undefined): RuleHit => ({
  table,
  message: `create index ${index ?? '(name chosen by PostgreSQL)'} on ${tableLabel(table)} without CONCURRENTLY: blocks every INSERT, UPDATE and DELETE on the table until the index is built`,
  hint: 'Use op.create_index(..., postgresql_concurrently=True) inside `with op.get_context().autocommit_block():` (or CREATE INDEX CONCURRENTLY in raw SQL).',
});

export const createIndexNonConcurrent: Rule = {
  id: 'create-index-non-concurrent',
  category: 'locking',
  severity: 'warning',
  summary: 'Builds an index on an existing table without CONCURRENTLY: writes are blocked meanwhile.',
  check(op, ctx) {
    if (isOp(op, 'create_index')) {
      if (isTrue(op.params.postgresql_concurrently) || isNewTable(ctx, op.table)) return [];
      return [hit(nameOf(op.params.index_name), op.table)];
    }
    if (op.kind === 'sql' && op.stmt.type === 'IndexStmt' && !op.stmt.node.concurrent) {
      const table = relName(op.stmt.node.relation);
      return isNewTable(ctx, table) ? [] : [hit(op.stmt.node.idxname as string | undefined, table)];
    }
    return [];
  },
};
export default createIndexNonConcurrent;
