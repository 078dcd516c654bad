import type { Rule } from '../rule.js';

export const unparsableSql: Rule = {
  id: 'unparsable-sql',
  category: 'opaque',
  severity: 'error',
  summary: "Raw SQL that PostgreSQL's parser rejects.",
  check(op) {
    if (op.kind !== 'opaque' || op.reason !== 'unparsable-sql') return [];
    return [
      {
        message: `SQL that PostgreSQL's parser rejects (${op.detail}) in ${op.text}: it would fail on the server too, or it is not SQL migration-gate can read`,
        hint: "Fix the SQL (try it with psql against a copy of the database); if it is valid for your server but not for migration-gate's parser, allow it with `# migration-gate: allow unparsable-sql -- <reason>`.",
      },
    ];
  },
};
export default unparsableSql;
