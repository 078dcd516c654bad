import type { Rule } from '../rule.js';

/** Raised by the allow-annotation reader (src/classify/allow.ts), not by an operation. */
export const unknownAllowRule: Rule = {
  id: 'unknown-allow-rule',
  category: 'review',
  severity: 'warning',
  summary: '`# migration-gate: allow <rule>` names a rule that does not exist.',
  check: () => [],
};
export default unknownAllowRule;
