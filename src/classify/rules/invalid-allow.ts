import type { Rule } from '../rule.js';

/** Raised by the allow-annotation reader (src/classify/allow.ts), not by an operation. */
export const invalidAllow: Rule = {
  id: 'invalid-allow',
  category: 'review',
  severity: 'warning',
  summary: 'A `# migration-gate:` comment that is not `allow <rule-id> -- <reason>` (e.g. no reason).',
  check: () => [],
};
export default invalidAllow;
