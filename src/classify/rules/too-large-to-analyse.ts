import type { Rule } from '../rule.js';

/** A migration file the gate did not analyse: above the size cap, or too costly to parse. */
export const tooLargeToAnalyse: Rule = {
  id: 'too-large-to-analyse',
  category: 'opaque',
  severity: 'error',
  summary: 'The migration file is too large (or too costly to parse) to analyse, so what it does is unknown.',
  check(op) {
    if (op.kind !== 'opaque' || op.reason !== 'too-large') return [];
    return [
      {
        message: `unknown: too large to analyse: ${op.detail}, so migration-gate cannot tell what this migration does`,
        hint: 'Split the migration into smaller files (move bulk data into a file loaded at run time, or into several migrations); if it is reviewed and safe, deploy it with the override (MIGRATION_GATE_ALLOW with a reason).',
      },
    ];
  },
};
export default tooLargeToAnalyse;
