import { decide, type DecideInput } from '../../src/gate/decide.js';
import type { ClassifiedMigration, Finding } from '../../src/types.js';

function finding(rule: string, category: Finding['category'], table?: string): Finding {
  return {
    rule,
    category,
    line: 10,
    message: `${rule} on ${table ?? '?'}`,
    hint: 'do it safely',
    severity: 'error',
    table,
  };
}
function mig(
  revision: string,
  verdict: ClassifiedMigration['verdict'],
  findings: Finding[] = [],
): ClassifiedMigration {
  return { revision, file: `versions/${revision}.py`, verdict, findings, downgradeFindings: [] };
}
function input(over: Partial<DecideInput> = {}): DecideInput {
  return {
    current: ['a1'],
    heads: ['c3'],
    unknownCurrent: [],
    pending: [],
    graphProblems: [],
    policy: { allow: [], lockingBlockRows: 1000, codeRollback: 'allow' },
    ...over,
  };
}

test('nothing pending is a noop', () => {
  const r = decide(input({ current: ['c3'] }));
  expect(r.decision).toBe('noop');
  expect(r.summary).toContain('Nothing pending');
});

test('additive migrations are allowed', () => {
  const r = decide(input({ pending: [mig('b2', 'additive'), mig('c3', 'additive')] }));
  expect(r.decision).toBe('allow');
  expect(r.summary).toBe('Allowed: 2 pending migrations (b2, c3), all additive.');
});

test('a destructive migration blocks and says exactly how to override', () => {
  const r = decide(
    input({
      pending: [
        mig('b2', 'additive'),
        mig('c3', 'destructive', [finding('drop-column', 'data-loss', 'users')]),
      ],
    }),
  );
  expect(r.decision).toBe('block');
  expect(r.summary).toContain('c3 destructive');
  expect(r.nextSteps.join(' ')).toContain('MIGRATION_GATE_ALLOW=c3 and MIGRATION_GATE_ALLOW_REASON=');
  expect(r.perMigration.find((p) => p.revision === 'c3')!.blockers[0]).toContain(
    'drop-column (versions/c3.py:10)',
  );
});

test('unknown blocks like destructive', () => {
  const r = decide(input({ pending: [mig('c3', 'unknown', [finding('dynamic-sql', 'opaque')])] }));
  expect(r.decision).toBe('block');
});

test('an override must name the blocked revision; a stale flag never allows another migration', () => {
  const pending = [mig('c3', 'destructive', [finding('drop-table', 'data-loss', 'x')])];
  const stale = decide(
    input({
      pending,
      policy: { allow: ['old1'], allowReason: 'r', lockingBlockRows: 1000, codeRollback: 'allow' },
    }),
  );
  expect(stale.decision).toBe('block');
  expect(stale.warnings.join(' ')).toContain('MIGRATION_GATE_ALLOW names old1, which is not pending');
  const ok = decide(
    input({
      pending,
      policy: { allow: ['c3'], allowReason: 'checked', lockingBlockRows: 1000, codeRollback: 'allow' },
    }),
  );
  expect(ok.decision).toBe('allow');
  expect(ok.summary).toContain('c3 by override (reason: checked)');
  expect(ok.override).toEqual({ revisions: ['c3'], reason: 'checked', all: false, unused: [] });
});

test('all allows everything, loudly', () => {
  const pending = [mig('c3', 'destructive', [finding('drop-table', 'data-loss', 'x')])];
  const r = decide(
    input({
      pending,
      policy: { allow: ['all'], allowReason: 'incident 42', lockingBlockRows: 1000, codeRollback: 'allow' },
    }),
  );
  expect(r.decision).toBe('allow');
  expect(r.warnings.join(' ')).toContain('MIGRATION_GATE_ALLOW=all');
  expect(r.override?.all).toBe(true);
});

test('preview policy block ignores the override', () => {
  const pending = [mig('c3', 'destructive', [finding('drop-table', 'data-loss', 'x')])];
  const r = decide(
    input({
      pending,
      policy: {
        allow: ['c3'],
        allowReason: 'x',
        lockingBlockRows: 1000,
        codeRollback: 'allow',
        ignoreOverride: true,
      },
    }),
  );
  expect(r.decision).toBe('block');
});

test('locking findings are weighed by table size', () => {
  const pending = [
    mig('c3', 'additive', [
      { ...finding('create-index-non-concurrent', 'locking', 'events'), severity: 'warning' },
    ]),
  ];
  const small = decide(input({ pending, tableSizes: new Map([['events', { rows: 10, bytes: 8192 }]]) }));
  expect(small.decision).toBe('allow');
  expect(small.warnings.join(' ')).toContain('under the threshold');
  const big = decide(input({ pending, tableSizes: new Map([['events', { rows: 5_000_000, bytes: 1e9 }]]) }));
  expect(big.decision).toBe('block');
  expect(big.perMigration[0]!.blockers[0]).toContain(
    'about 5.0M rows, above MIGRATION_GATE_LOCKING_BLOCK_ROWS=1000',
  );
  const noDb = decide(input({ pending }));
  expect(noDb.decision).toBe('allow');
});

test('graph problems block whatever the override says', () => {
  const r = decide(
    input({
      pending: [mig('c3', 'additive')],
      graphProblems: [finding('multiple-heads', 'graph')],
      policy: { allow: ['all'], allowReason: 'x', lockingBlockRows: 1000, codeRollback: 'allow' },
    }),
  );
  expect(r.decision).toBe('block');
  expect(r.hardBlocks).toEqual(['multiple-heads on ?']);
});

test('an unknown current revision blocks unless the gate applied it (code rollback)', () => {
  const unknown = decide(input({ current: ['zz9'], unknownCurrent: ['zz9'] }));
  expect(unknown.decision).toBe('block');
  expect(unknown.summary).toContain('zz9, which is not in this code');
  const rollback = decide(
    input({
      current: ['zz9'],
      unknownCurrent: ['zz9'],
      appliedByGate: { zz9: { at: '2026-11-24T10:00:00Z', commit: 'abcdef1234567890' } },
    }),
  );
  expect(rollback.outcome).toBe('code-rollback');
  expect(rollback.decision).toBe('noop');
  expect(rollback.summary).toContain('Code rollback');
  const strict = decide(
    input({
      current: ['zz9'],
      unknownCurrent: ['zz9'],
      appliedByGate: { zz9: { at: '2026-11-24T10:00:00Z' } },
      policy: { allow: [], lockingBlockRows: 1000, codeRollback: 'block' },
    }),
  );
  expect(strict.decision).toBe('block');
});
