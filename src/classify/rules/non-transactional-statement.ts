import { noTransactionBlock, targetOf } from '../statements.js';
import type { Rule } from '../rule.js';

export const nonTransactionalStatement: Rule = {
  id: 'non-transactional-statement',
  category: 'breaking',
  severity: 'error',
  summary:
    "VACUUM, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY (and the like) inside Alembic's transaction: fails at deploy.",
  check(op) {
    // CREATE/DROP INDEX CONCURRENTLY have their own rule; several statements in one string too.
    if (op.kind !== 'sql' || op.autocommit || (op.statements ?? 1) > 1) return [];
    if (op.stmt.type === 'IndexStmt' || op.stmt.type === 'DropStmt') return [];
    const what = noTransactionBlock(op.stmt);
    if (!what) return [];
    return [
      {
        table: targetOf(op.stmt),
        message: `fails at deploy: ${what} cannot run inside a transaction block, and Alembic runs the migration in one`,
        hint: `Run it inside \`with op.get_context().autocommit_block():\` as its own op.execute(...) call (it commits what ran before it in the migration).`,
      },
    ];
  },
};
export default nonTransactionalStatement;
