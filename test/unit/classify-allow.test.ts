import { classifyMigrations, envPyAdvice, initClassifier } from '../../src/classify/index.js';
import type { ClassifiedMigration } from '../../src/types.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const classify = (body: string): ClassifiedMigration => classifyMigrations([scriptFromUpgrade(body)])[0]!;

describe('allow annotations', () => {
  test('an allow with a reason marks the findings of that rule and lifts the verdict', () => {
    const c = classify(`
# migration-gate: allow drop-column -- legacy_email unused since v42
op.drop_column("users", "legacy_email")
op.drop_column("users", "legacy_phone")
`);
    expect(c.verdict).toBe('additive');
    expect(c.findings.map((f) => f.allowed)).toEqual([
      { reason: 'legacy_email unused since v42' },
      { reason: 'legacy_email unused since v42' },
    ]);
  });

  test('an allow covers only its rule', () => {
    const c = classify(`
op.drop_table("a")  # migration-gate: allow drop-column -- wrong rule
`);
    expect(c.verdict).toBe('destructive');
    expect(c.findings.map((f) => [f.rule, Boolean(f.allowed)])).toEqual([
      ['drop-table', false],
      ['unused-allow', false],
    ]);
  });

  test('several rule ids in one annotation', () => {
    const c = classify(`
# migration-gate: allow drop-table,truncate -- scratch tables of the import job
op.execute("TRUNCATE import_rows")
op.drop_table("import_batches")
`);
    expect(c.verdict).toBe('additive');
  });

  test('an unknown rule id is reported and allows nothing', () => {
    const c = classify('# migration-gate: allow drop-colum -- typo\nop.drop_column("u", "x")');
    expect(c.verdict).toBe('destructive');
    const f = c.findings.find((x) => x.rule === 'unknown-allow-rule')!;
    expect(f).toMatchObject({ category: 'review', severity: 'warning', line: 9 });
    expect(f.message).toContain('"drop-colum"');
  });

  test('a reason is required', () => {
    const c = classify('# migration-gate: allow drop-column\nop.drop_column("u", "x")');
    expect(c.verdict).toBe('destructive');
    const f = c.findings.find((x) => x.rule === 'invalid-allow')!;
    expect(f.message).toContain('a reason is required');
  });

  test('an allow that matches nothing is reported but does not change the verdict', () => {
    const c = classify(
      '# migration-gate: allow drop-table -- nothing\nop.add_column("u", sa.Column("x", sa.Integer))',
    );
    expect(c.verdict).toBe('additive');
    expect(c.findings.map((f) => f.rule)).toEqual(['unused-allow']);
  });

  test('opaque findings can be allowed too', () => {
    const c = classify('# migration-gate: allow external-call -- reviewed in PR 12\nbackfill()');
    expect(c.verdict).toBe('additive');
  });

  test('ordinary comments and strings that look like annotations are ignored', () => {
    const c = classify(`
# this mentions migration-gate: allow drop-column -- but is not an annotation
x = "# migration-gate: allow drop-column -- inside a string"
op.drop_column("u", "x")
`);
    expect(c.verdict).toBe('destructive');
    expect(c.findings.map((f) => f.rule)).toEqual(['drop-column']);
  });
});

describe('env.py advice', () => {
  const envPy = (configure: string): string => `
from alembic import context

def run_migrations_offline():
    context.configure(url="x", literal_binds=True)

def run_migrations_online():
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,${configure}
        )
        with context.begin_transaction():
            context.run_migrations()
`;
  const locking = (): ClassifiedMigration[] =>
    classifyMigrations([
      scriptFromUpgrade('op.create_index("ix", "users", ["a"])', { rev: 'r1' }),
      scriptFromUpgrade('op.add_column("users", sa.Column("b", sa.Integer))', { rev: 'r2', down: 'r1' }),
      scriptFromUpgrade('op.create_index("ix2", "projects", ["b"])', { rev: 'r3', down: 'r2' }),
    ]);

  test('recommends transaction_per_migration=True when locking findings are pending', () => {
    const [f, ...rest] = envPyAdvice(envPy(''), 'migrations/env.py', locking());
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      rule: 'transaction-per-migration',
      category: 'review',
      severity: 'warning',
      line: 9,
    });
    expect(f!.message).toContain('migrations/env.py runs all 3 pending migration(s) in one transaction');
    expect(f!.message).toContain('2 locking finding(s) in r1, r3');
    expect(f!.hint).toContain('transaction_per_migration=True');
  });

  test('quiet when env.py already commits per migration', () => {
    expect(envPyAdvice(envPy('\n            transaction_per_migration=True,'), 'env.py', locking())).toEqual(
      [],
    );
  });

  test('quiet when nothing pending takes heavy locks', () => {
    const additive = classifyMigrations([
      scriptFromUpgrade('op.add_column("u", sa.Column("b", sa.Integer))'),
    ]);
    expect(envPyAdvice(envPy(''), 'env.py', additive)).toEqual([]);
  });

  test('quiet with one locking migration pending, alone (a stock env.py) or with additive ones', () => {
    const alone = classifyMigrations([scriptFromUpgrade('op.create_index("ix", "users", ["a"])')]);
    expect(alone[0]!.findings.some((f) => f.category === 'locking')).toBe(true);
    expect(envPyAdvice(envPy(''), 'env.py', alone)).toEqual([]);
    const withAdditive = classifyMigrations([
      scriptFromUpgrade('op.create_index("ix", "users", ["a"])', { rev: 'r1' }),
      scriptFromUpgrade('op.add_column("users", sa.Column("b", sa.Integer))', { rev: 'r2', down: 'r1' }),
    ]);
    expect(envPyAdvice(envPy(''), 'env.py', withAdditive)).toEqual([]);
  });

  test('transaction_per_migration=False still gets the advice', () => {
    expect(
      envPyAdvice(envPy('\n            transaction_per_migration=False,'), 'env.py', locking()),
    ).toHaveLength(1);
  });
});
