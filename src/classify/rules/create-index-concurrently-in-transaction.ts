import { isOp, isTrue, nameList, nameOf } from '../facts.js';
import type { Rule, RuleHit } from '../rule.js';

const hit = (what: string, table?: string): RuleHit => ({
  table,
  message: `${what} outside op.get_context().autocommit_block(): PostgreSQL refuses CONCURRENTLY inside a transaction block, and Alembic runs the migration in one, so the upgrade fails`,
  hint: 'Wrap it in `with op.get_context().autocommit_block():` (and keep that migration to the concurrent step only, since it commits what ran before).',
});

export const createIndexConcurrentlyInTransaction: Rule = {
  id: 'create-index-concurrently-in-transaction',
  category: 'breaking',
  severity: 'error',
  summary: "CREATE/DROP INDEX CONCURRENTLY inside Alembic's transaction: fails at run time.",
  check(op) {
    if (op.autocommit) return [];
    if (isOp(op, 'create_index', 'drop_index') && isTrue(op.params.postgresql_concurrently)) {
      const verb = op.name === 'create_index' ? 'create' : 'drop';
      return [hit(`${verb} index ${nameOf(op.params.index_name) ?? '?'} concurrently`, op.table)];
    }
    if (op.kind === 'sql' && op.stmt.type === 'IndexStmt' && op.stmt.node.concurrent) {
      return [hit(`CREATE INDEX CONCURRENTLY ${String(op.stmt.node.idxname ?? '')}`.trim())];
    }
    if (op.kind === 'sql' && op.stmt.type === 'DropStmt' && op.stmt.node.concurrent) {
      return [hit(`DROP INDEX CONCURRENTLY ${nameList(op.stmt.node.objects)}`)];
    }
    return [];
  },
};
export default createIndexConcurrentlyInTransaction;
