/**
 * Table-driven: every test/fixtures/classify/*.py states its expected verdict and rule ids in a header
 * comment `# expect: <verdict> [rule-id ...]` (the distinct rules of all upgrade() findings, allowed or not).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { classifyMigrations, initClassifier, ruleById } from '../../src/classify/index.js';
import { CLASSIFY_FIXTURES, fixtureNames, fixtureScript } from '../helpers/migration.js';

beforeAll(initClassifier);

function expectation(name: string): { verdict: string; rules: string[] } {
  const source = readFileSync(path.join(CLASSIFY_FIXTURES, name), 'utf8');
  const header = source.split('\n').find((l) => l.startsWith('# expect:'));
  if (!header) throw new Error(`${name} has no "# expect:" header`);
  const [verdict, ...rules] = header.slice('# expect:'.length).trim().split(/\s+/);
  return { verdict: verdict!, rules: rules.sort() };
}

const names = fixtureNames();

test('there are at least 45 fixtures and together they cover every operation rule', () => {
  expect(names.length).toBeGreaterThanOrEqual(45);
  const covered = new Set(names.flatMap((n) => expectation(n).rules));
  const missing = [
    'drop-table',
    'drop-column',
    'truncate',
    'delete-rows',
    'update-rows',
    'alter-column-type',
    'drop-object',
    'rename-table',
    'rename-column',
    'rename-object',
    'set-not-null',
    'add-column-not-null-no-default',
    'drop-constraint',
    'drop-index',
    'alter-enum-rename-value',
    'create-index-concurrently-in-transaction',
    'create-index-non-concurrent',
    'add-foreign-key',
    'add-check-constraint',
    'add-unique-constraint',
    'volatile-default',
    'dynamic-sql',
    'external-call',
    'unparsable-sql',
    'unknown-operation',
    'drop-default',
    'unknown-allow-rule',
    'unused-allow',
    'invalid-allow',
    'validate-in-same-transaction',
    'primary-key-nullable',
    'set-not-null-checked',
    'multi-statement-execute',
    'non-transactional-statement',
    'locking-maintenance',
    'transaction-control',
    'rejected-statement',
    'side-effects',
    'sync-enum-values',
    'sync-enum-values-remove-value',
  ].filter((id) => !covered.has(id));
  expect(missing).toEqual([]);
});

test.each(names)('%s', (name) => {
  const { verdict, rules } = expectation(name);
  for (const id of rules) expect(ruleById(id)).toBeDefined();
  const [c] = classifyMigrations([fixtureScript(name)]);
  const got = [...new Set(c!.findings.map((f) => f.rule))].sort();
  expect({ verdict: c!.verdict, rules: got }).toEqual({ verdict, rules });
  for (const f of c!.findings) {
    expect(f.line).toBeGreaterThan(0);
    expect(f.message.length).toBeGreaterThan(20);
    expect(f.hint.length).toBeGreaterThan(20);
  }
});
