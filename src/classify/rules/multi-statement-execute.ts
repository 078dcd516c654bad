import { noTransactionBlock } from '../statements.js';
import type { Rule } from '../rule.js';

export const multiStatementExecute: Rule = {
  id: 'multi-statement-execute',
  category: 'breaking',
  severity: 'error',
  summary:
    'A statement that refuses a transaction block (CONCURRENTLY, VACUUM, ...) in an op.execute string with other statements: fails at deploy.',
  check(op) {
    if (op.kind !== 'sql' || (op.statements ?? 1) < 2) return [];
    const what = noTransactionBlock(op.stmt);
    if (!what) return [];
    return [
      {
        message: `fails at deploy: ${what} is one of ${op.statements} statements in one op.execute string, and PostgreSQL runs a multi-statement string as one implicit transaction, where ${what} is refused (even inside autocommit_block())`,
        hint: `Give ${what} its own op.execute(...) call, inside \`with op.get_context().autocommit_block():\`.`,
      },
    ];
  },
};
export default multiStatementExecute;
