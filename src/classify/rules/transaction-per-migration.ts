import type { Rule } from '../rule.js';

/** Raised by envPyAdvice() from env.py, not by an operation. */
export const transactionPerMigration: Rule = {
  id: 'transaction-per-migration',
  category: 'review',
  severity: 'warning',
  summary: 'env.py runs every pending migration in one transaction while some of them take heavy locks.',
  check: () => [],
};
export default transactionPerMigration;
