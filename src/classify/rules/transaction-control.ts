import type { Rule } from '../rule.js';

const WHAT: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

export const transactionControl: Rule = {
  id: 'transaction-control',
  category: 'breaking',
  severity: 'error',
  summary:
    "BEGIN / COMMIT / ROLLBACK / SAVEPOINT / SET TRANSACTION in op.execute fight Alembic's transaction.",
  check(op) {
    if (op.kind !== 'sql') return [];
    const n = op.stmt.node;
    let what: string | undefined;
    if (op.stmt.type === 'TransactionStmt') what = WHAT[String(n.kind)] ?? 'a transaction command';
    else if (
      op.stmt.type === 'VariableSetStmt' &&
      (n.name === 'TRANSACTION' || n.name === 'SESSION CHARACTERISTICS')
    )
      what = 'SET TRANSACTION';
    if (!what) return [];
    return [
      {
        message: `${what} inside op.execute fights the transaction Alembic runs the migration in: a COMMIT there makes the first half of the migration permanent even if the rest fails (and alembic_version is not updated), a ROLLBACK undoes it silently, SET TRANSACTION fails once a statement ran`,
        hint: 'Remove it: Alembic begins and commits the transaction. For a statement that must run outside one, use `with op.get_context().autocommit_block():`; for isolation settings, configure them in env.py.',
      },
    ];
  },
};
export default transactionControl;
