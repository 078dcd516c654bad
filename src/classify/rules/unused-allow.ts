import type { Rule } from '../rule.js';

/** Raised by the allow-annotation reader (src/classify/allow.ts), not by an operation. */
export const unusedAllow: Rule = {
  id: 'unused-allow',
  category: 'review',
  severity: 'warning',
  summary: 'An allow annotation that matches no finding in its file.',
  check: () => [],
};
export default unusedAllow;
