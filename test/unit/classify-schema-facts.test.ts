/** Facts that need the schema model or the live catalog: what earlier migrations left decides the finding. */
import { classifyMigrations, initClassifier, type CatalogTable } from '../../src/classify/index.js';
import type { ClassifiedMigration } from '../../src/types.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const rules = (m: ClassifiedMigration | undefined) => m!.findings.map((f) => f.rule);

let base: ReturnType<typeof scriptFromUpgrade>;
beforeAll(() => {
  base = scriptFromUpgrade(
    `op.create_table("orders", sa.Column("id", sa.Integer()), sa.Column("code", sa.Integer(), nullable=False), sa.Column("status", sa.Text()))`,
    { rev: 'a1' },
  );
});

test('SET NOT NULL after an earlier migration validated CHECK (col IS NOT NULL) is a note, not a stop', () => {
  const check = scriptFromUpgrade(
    `op.create_check_constraint("orders_status_nn", "orders", "status IS NOT NULL", postgresql_not_valid=True)`,
    { rev: 'a2', down: 'a1' },
  );
  const validate = scriptFromUpgrade(
    `op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_status_nn")`,
    {
      rev: 'a3',
      down: 'a2',
    },
  );
  const setNotNull = scriptFromUpgrade(`op.alter_column("orders", "status", nullable=False)`, {
    rev: 'a4',
    down: 'a3',
  });
  const [m] = classifyMigrations([setNotNull], { applied: [base, check, validate] });
  expect(m!.verdict).toBe('additive');
  expect(m!.findings).toEqual([
    expect.objectContaining({
      rule: 'set-not-null-checked',
      severity: 'info',
      message: expect.stringContaining('the validated CHECK orders_status_nn already forbids NULLs'),
      hint: expect.stringContaining('ALTER TABLE orders DROP CONSTRAINT orders_status_nn'),
    }),
  ]);
  // NOT VALID proves nothing: still a stop.
  const [notValidated] = classifyMigrations([setNotNull], { applied: [base, check] });
  expect(rules(notValidated)).toEqual(['set-not-null']);
  // PostgreSQL 11 scans anyway.
  const [old] = classifyMigrations([setNotNull], {
    applied: [base, check, validate],
    serverVersionNum: 110005,
  });
  expect(rules(old)).toEqual(['set-not-null']);
});

test('ADD PRIMARY KEY: nullable column (model) is a finding, NOT NULL column is not, unknown warns', () => {
  const pk = (col: string) =>
    scriptFromUpgrade(`op.create_primary_key("orders_pkey", "orders", ["${col}"])`, {
      rev: 'b1',
      down: 'a1',
    });
  const [nullable] = classifyMigrations([pk('id')], { applied: [base] });
  expect(nullable!.findings.find((f) => f.rule === 'primary-key-nullable')!.message).toContain(
    'id is nullable, so PostgreSQL first runs an implicit SET NOT NULL',
  );
  const [notNull] = classifyMigrations([pk('code')], { applied: [base] });
  expect(rules(notNull)).not.toContain('primary-key-nullable');
  const [unknown] = classifyMigrations([pk('id')]);
  expect(unknown!.findings.find((f) => f.rule === 'primary-key-nullable')!.message).toContain(
    'id may be nullable',
  );
});

test('VALIDATE in a later migration than the NOT VALID ADD holds no extra lock', () => {
  const add = scriptFromUpgrade(
    `op.execute("ALTER TABLE orders ADD CONSTRAINT ck CHECK (code > 0) NOT VALID")`,
    { rev: 'c1', down: 'a1' },
  );
  const validate = scriptFromUpgrade(`op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck")`, {
    rev: 'c2',
    down: 'c1',
  });
  const [m1, m2] = classifyMigrations([add, validate], { applied: [base] });
  expect(rules(m1)).toEqual([]);
  expect(rules(m2)).toEqual([]);
});

test('the live catalog is the truth for a table: its validated check makes SET NOT NULL a note', () => {
  const catalog = new Map<string, CatalogTable>([
    [
      'public.orders',
      {
        columns: [{ name: 'status', type: 'text', nullable: true }],
        constraints: [{ name: 'st_nn', kind: 'check', validated: true, columns: [], notNullOf: 'status' }],
        partitioned: false,
      },
    ],
  ]);
  const set = scriptFromUpgrade(`op.execute("ALTER TABLE orders ALTER COLUMN status SET NOT NULL")`);
  expect(rules(classifyMigrations([set])[0])).toEqual(['set-not-null']);
  expect(rules(classifyMigrations([set], { catalog })[0])).toEqual(['set-not-null-checked']);
});

test('a column added when the model already has it fails at deploy', () => {
  const again = scriptFromUpgrade(`op.add_column("orders", sa.Column("status", sa.Text()))`, {
    rev: 'd1',
    down: 'a1',
  });
  const [m] = classifyMigrations([again], { applied: [base] });
  expect(m!.findings[0]!.message).toBe(
    'fails at deploy: PostgreSQL rejects this statement on orders (column "status" already exists)',
  );
});

test('scope each: a table created by an earlier migration has data in later ones; scope set: it is new', () => {
  const create = scriptFromUpgrade(`op.create_table("w", sa.Column("id", sa.Integer()))`, { rev: 'e1' });
  const drop = scriptFromUpgrade(`op.drop_column("w", "id")`, { rev: 'e2', down: 'e1' });
  expect(classifyMigrations([create, drop], { scope: 'each' }).map((m) => m.verdict)).toEqual([
    'additive',
    'destructive',
  ]);
  expect(classifyMigrations([create, drop]).map((m) => m.verdict)).toEqual(['additive', 'additive']);
});

test('op.f() and explicit names are shown by name', () => {
  const m = classifyMigrations([
    scriptFromUpgrade(`op.drop_index(op.f("ix_users_email"), table_name="users")
op.create_index(op.f("ix_users_handle"), "users", ["handle"])`),
  ])[0]!;
  expect(m.findings.map((f) => f.message).join('\n')).toMatch(/ix_users_email[\s\S]*ix_users_handle/);
  expect(m.findings.map((f) => f.message).join('\n')).not.toContain('unnamed');
});

test('TRUNCATE ... CASCADE says that it empties the referencing tables too', () => {
  const [m] = classifyMigrations([scriptFromUpgrade(`op.execute("TRUNCATE customers CASCADE")`)]);
  expect(m!.findings[0]!.message).toContain('CASCADE empties every table that references it');
});

test('a name over 63 bytes is advice naming what PostgreSQL keeps', () => {
  const long = 'ix_' + 'x'.repeat(70);
  const [m] = classifyMigrations([scriptFromUpgrade(`op.create_check_constraint("${long}", "t", "a > 0")`)]);
  const f = m!.findings.find((x) => x.rule === 'identifier-too-long')!;
  expect(f.severity).toBe('warning');
  expect(f.message).toContain(`PostgreSQL keeps only the first 63 (${long.slice(0, 63)})`);
  expect(m!.findings.map((x) => x.rule)).toEqual(['add-check-constraint', 'identifier-too-long']);
});

test('the squawk comparison in docs/rules/README.md holds for the rules it says the gate handles differently', () => {
  const one = (body: string) => classifyMigrations([scriptFromUpgrade(body)])[0]!;
  const rulesOf = (body: string) => [...new Set(one(body).findings.map((f) => f.rule))].sort();
  expect(rulesOf(`op.execute("ALTER DOMAIN positive ADD CONSTRAINT pos CHECK (VALUE > 0)")`)).toEqual([
    'unknown-operation',
  ]);
  expect(one(`op.execute("CREATE DOMAIN positive AS int CHECK (VALUE > 0)")`).verdict).toBe('additive');
  expect(rulesOf(`op.execute("DROP DATABASE legacy")`)).toEqual([
    'non-transactional-statement',
    'unknown-operation',
  ]);
  expect(one(`op.execute("ALTER TABLE users ALTER COLUMN fax DROP NOT NULL")`).verdict).toBe('additive');
  expect(rulesOf(`op.execute("DROP INDEX ix_users_email")`)).toEqual(['drop-index']);
  expect(rulesOf(`op.execute("ALTER TABLE t ADD COLUMN id serial PRIMARY KEY")`)).toEqual([
    'add-unique-constraint',
    'volatile-default',
  ]);
});

test('ALTER SEQUENCE is additive unless it RESTARTs; RLS, extension updates stop with the reason', () => {
  const rulesOf = (body: string) =>
    classifyMigrations([scriptFromUpgrade(body)])[0]!.findings.map((f) => f.rule);
  expect(rulesOf(`op.execute("ALTER SEQUENCE s OWNED BY t.id")`)).toEqual([]);
  const [m] = classifyMigrations([
    scriptFromUpgrade(`op.execute("ALTER SEQUENCE s RESTART WITH 1")
op.execute("ALTER TABLE orders ENABLE ROW LEVEL SECURITY")`),
  ]);
  expect(m!.findings.map((f) => f.message)).toEqual([
    expect.stringContaining('duplicate key errors'),
    expect.stringContaining('none when no policy matches'),
  ]);
});
