import type { Rule } from '../rule.js';

export const dynamicSql: Rule = {
  id: 'dynamic-sql',
  category: 'opaque',
  severity: 'error',
  summary: 'SQL built at run time (f-string, concatenation, % or .format(), a non-literal variable).',
  check(op) {
    if (op.kind !== 'opaque' || op.reason !== 'dynamic-sql') return [];
    return [
      {
        message: `SQL built at run time in ${op.text}: ${op.detail}, so migration-gate cannot see which statements run`,
        hint: 'Use a literal SQL string and pass values as bind parameters (sa.text("... :value").bindparams(value=...)); if it is reviewed and safe, add `# migration-gate: allow dynamic-sql -- <reason>`.',
      },
    ];
  },
};
export default dynamicSql;
