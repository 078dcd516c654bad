import type { Rule } from '../rule.js';

export const externalCall: Rule = {
  id: 'external-call',
  category: 'opaque',
  severity: 'error',
  summary: 'Calls code defined outside the migration file, which migration-gate cannot read.',
  check(op) {
    if (op.kind !== 'opaque' || op.reason !== 'external-call') return [];
    return [
      {
        message: `calls ${op.detail} (${op.text}), defined outside this migration: migration-gate cannot see what it does to the database`,
        hint: 'Write the schema and data changes in the migration itself (op.* calls or literal SQL) so they are frozen with it; if the call is reviewed and safe, add `# migration-gate: allow external-call -- <reason>`.',
      },
    ];
  },
};
export default externalCall;
