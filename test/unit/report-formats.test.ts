import { formatGithub } from '../../src/report/github.js';
import { formatHuman } from '../../src/report/human.js';
import { formatMarkdown, GITHUB_COMMENT_LIMIT } from '../../src/report/markdown.js';
import type { CheckReport, PendingReport } from '../../src/report/model.js';

function pending(i: number): PendingReport {
  return {
    revision: `rev${String(i).padStart(4, '0')}`,
    file: `migrations/versions/rev${i}.py`,
    message: `migration ${i}`,
    verdict: 'destructive',
    findings: [
      {
        rule: 'drop-column',
        category: 'data-loss',
        severity: 'error',
        line: 12,
        message: `drop column users.c${i}: the column's data is deleted, 100% gone, a,b:c`,
        hint: 'deploy code that stops reading it first',
      },
    ],
    downgradeFindings: [],
    blockers: ['drop-column'],
    overridden: false,
  };
}

const BASELINE = 'each migration against its parent, with data in every table it does not create itself';

function report(n: number): CheckReport {
  return {
    baseline: { mode: 'parent', text: BASELINE },
    from: ['base0'],
    to: [`rev${n - 1}`],
    pending: Array.from({ length: n }, (_, i) => pending(i)),
    decision: 'block',
    summary: `Blocked: ${n} migrations need an override. Nothing was run.`,
    nextSteps: ['deploy again with MIGRATION_GATE_ALLOW=...'],
    warnings: [],
    problems: [],
  };
}

test('markdown stays under GitHub’s comment limit and says what it left out', () => {
  const text = formatMarkdown(report(3000));
  expect(text.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
  expect(text).toMatch(/…\d+ more migration sections omitted to fit GitHub's comment limit/);
  const small = formatMarkdown(report(2));
  expect(small).not.toContain('omitted');
  expect(small).toContain('[docs](docs/rules/drop-column.md)');
});

test('github annotations escape the workflow-command characters', () => {
  const line = formatGithub(report(1)).split('\n')[0]!;
  expect(line).toBe(
    "::error file=migrations/versions/rev0.py,line=12,title=migration-gate drop-column (destructive)::drop column users.c0: the column's data is deleted, 100%25 gone, a,b:c%0AInstead: deploy code that stops reading it first",
  );
});

test('the human report names file:line, what, instead, the rule page and the decision', () => {
  const text = formatHuman(report(1));
  expect(text).toContain('DESTRUCTIVE rev0000 "migration 0"  migrations/versions/rev0.py');
  expect(text).toContain('✗ migrations/versions/rev0.py:12 drop-column (data-loss)');
  expect(text).toContain('instead: deploy code that stops reading it first');
  expect(text).toContain('rule: docs/rules/drop-column.md');
  expect(text).toContain('Decision: BLOCK. Blocked: 1 migrations need an override.');
});

test('every format says in one line which baseline the migrations were judged against', () => {
  const r = report(1);
  expect(formatHuman(r).split('\n')).toContain(`Baseline: ${BASELINE}`);
  expect(formatMarkdown(r).split('\n')).toContain(`_Baseline:_ ${BASELINE}`);
  expect(formatGithub(r).split('\n')).toContain(`::notice title=migration-gate baseline::${BASELINE}`);
});
