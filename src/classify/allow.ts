/**
 * Allow annotations: `# migration-gate: allow <rule-id>[,<rule-id>...] -- <reason>` anywhere in a migration
 * file marks that file's findings of those rules as allowed. Comments come from tree-sitter `comment` nodes;
 * only our own tiny syntax inside them is split here.
 */
import type { Node } from 'web-tree-sitter';
import type { Finding } from '../types.js';
import { ruleById } from './registry.js';

const PREFIX = 'migration-gate:';

export interface Allow {
  rule: string;
  reason: string;
  line: number;
  used: boolean;
}

function reviewFinding(rule: string, line: number, message: string, hint: string): Finding {
  return { rule, category: 'review', severity: 'warning', line, message, hint };
}

/** Allow annotations of a module, plus findings for malformed ones. */
export function readAllows(root: Node): { allows: Allow[]; problems: Finding[] } {
  const allows: Allow[] = [];
  const problems: Finding[] = [];
  for (const comment of root.descendantsOfType('comment')) {
    const text = comment.text.slice(1).trim();
    if (!text.toLowerCase().startsWith(PREFIX)) continue;
    const line = comment.startPosition.row + 1;
    const body = text.slice(PREFIX.length).trim();
    const sep = body.indexOf(' -- ');
    const head = (sep < 0 ? body : body.slice(0, sep)).trim();
    const reason = sep < 0 ? '' : body.slice(sep + 4).trim();
    const [verb, ...rest] = head.split(/\s+/);
    const ids = rest.flatMap((r) => r.split(',')).filter(Boolean);
    if (verb !== 'allow' || ids.length === 0 || reason === '') {
      problems.push(
        reviewFinding(
          'invalid-allow',
          line,
          `annotation "${text}" is not "migration-gate: allow <rule-id> -- <reason>"${reason === '' && verb === 'allow' && ids.length ? ': a reason is required' : ''}, so it allows nothing`,
          'Write it as `# migration-gate: allow drop-column -- users.legacy_email has been unused since v42` (rule id, space, two dashes, the reason).',
        ),
      );
      continue;
    }
    for (const rule of ids) {
      if (!ruleById(rule) || ruleById(rule)!.category === 'review') {
        problems.push(
          reviewFinding(
            'unknown-allow-rule',
            line,
            `allow annotation names "${rule}", which is not a migration-gate rule, so it allows nothing`,
            'Use a rule id from a finding (shown in the report, listed in docs/rules/), e.g. `allow drop-column -- <reason>`.',
          ),
        );
      } else {
        allows.push({ rule, reason, line, used: false });
      }
    }
  }
  return { allows, problems };
}

/** Marks the findings the allows cover (in place); returns `unused-allow` findings for allows that matched nothing. */
export function applyAllows(allows: Allow[], findingSets: Finding[][]): Finding[] {
  for (const findings of findingSets) {
    for (const f of findings) {
      const allow = allows.find((a) => a.rule === f.rule);
      if (allow && f.category !== 'review') {
        f.allowed = { reason: allow.reason };
        allow.used = true;
      }
    }
  }
  return allows
    .filter((a) => !a.used)
    .map((a) =>
      reviewFinding(
        'unused-allow',
        a.line,
        `allow ${a.rule} matches no finding in this migration, so it has no effect (the operation may have changed or moved)`,
        'Remove the annotation, or fix the rule id so it names the finding you meant to allow.',
      ),
    );
}
