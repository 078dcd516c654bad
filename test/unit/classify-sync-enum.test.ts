/**
 * alembic-postgresql-enum's op.sync_enum_values: always a rewrite of the affected tables (locking),
 * removed or renamed values are breaking, and an old set the gate cannot know is a stop.
 */
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const PRE = 'from alembic_postgresql_enum import TableReference';
const REF = 'TableReference(table_schema="public", table_name="orders", column_name="status")';
/** The earlier migration that created the enum and the column, so the model knows both. */
const base = () =>
  scriptFromUpgrade(
    `op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("status", sa.Enum("new", "paid", name="order_status")))`,
    { rev: 'base' },
  );

const judge = (upgrade: string, opts: { downgrade?: string; history?: boolean } = {}) => {
  const script = scriptFromUpgrade(upgrade, { rev: 'b1', down: 'base', pre: PRE, downgrade: opts.downgrade });
  const [m] = classifyMigrations([script], opts.history === false ? {} : { applied: [base()] });
  return {
    verdict: m!.verdict,
    rules: [...new Set(m!.findings.map((f) => f.rule))].sort(),
    findings: m!.findings,
    messages: m!.findings.map((f) => f.message).join('\n'),
    hints: m!.findings.map((f) => f.hint).join('\n'),
  };
};

test('adding a value: a locking finding that names the table, the ALTER COLUMN and the ADD VALUE way', () => {
  const r = judge(`op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [${REF}])`);
  expect(r.rules).toEqual(['sync-enum-values']);
  expect(r.verdict).toBe('additive');
  expect(r.findings[0]).toMatchObject({ table: 'orders', category: 'locking', severity: 'warning' });
  expect(r.messages).toContain(
    'ALTER TABLE orders ALTER COLUMN status TYPE order_status USING status::text::order_status',
  );
  expect(r.messages).toContain('ACCESS EXCLUSIVE');
  expect(r.messages).toContain("even though it only adds 'shipped'");
  expect(r.hints).toContain("ALTER TYPE order_status ADD VALUE 'shipped'");
  expect(r.hints).toContain('autocommit_block');
});

test('keyword arguments are read like positional ones', () => {
  const r = judge(
    `op.sync_enum_values(enum_schema="public", enum_name="order_status", new_values=["new", "paid", "shipped"], affected_columns=[${REF}], enum_values_to_rename=[])`,
  );
  expect(r.rules).toEqual(['sync-enum-values']);
  expect(r.messages).toContain("only adds 'shipped'");
});

test('removing a value is breaking: rows holding it fail the migration, code writing it fails after', () => {
  const r = judge(`op.sync_enum_values("public", "order_status", ["new"], [${REF}])`);
  expect(r.verdict).toBe('destructive');
  expect(r.rules).toEqual(['sync-enum-values', 'sync-enum-values-remove-value']);
  expect(r.messages).toContain(
    "removes 'paid': the migration fails at deploy if a row of orders.status still holds it",
  );
  expect(r.hints).toContain("WHERE <column> = 'paid'");
});

test('a renamed value is breaking, not a removal', () => {
  const r = judge(
    `op.sync_enum_values("public", "order_status", ["new", "settled"], [${REF}], [("paid", "settled")])`,
  );
  expect(r.verdict).toBe('destructive');
  expect(r.messages).toContain("renames 'paid' to 'settled'");
  expect(r.messages).not.toContain("removes 'paid'");
});

test('the old set from downgrade() when no earlier migration knows the enum', () => {
  const add = judge(`op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [${REF}])`, {
    history: false,
    downgrade: `op.sync_enum_values("public", "order_status", ["new", "paid"], [${REF}])`,
  });
  expect(add.rules).toEqual(['sync-enum-values']);
  expect(add.messages).toContain("only adds 'shipped'");
  const remove = judge(`op.sync_enum_values("public", "order_status", ["new"], [${REF}])`, {
    history: false,
    downgrade: `op.sync_enum_values("public", "order_status", ["new", "paid"], [${REF}])`,
  });
  expect(remove.rules).toContain('sync-enum-values-remove-value');
});

test('an old set nobody knows is a stop (unknown), still reported as the rewrite', () => {
  const r = judge(`op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [${REF}])`, {
    history: false,
  });
  expect(r.verdict).toBe('unknown');
  expect(r.rules).toEqual(['sync-enum-values', 'unknown-operation']);
  expect(r.messages).toContain('the values before it are not known');
  expect(r.messages).toContain(
    'the values it had before are not known, so the call is taken as this rewrite',
  );
});

test('the old set follows ALTER TYPE ... ADD VALUE and CREATE TYPE in raw SQL', () => {
  const base = scriptFromUpgrade(
    `op.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")\nop.execute("ALTER TYPE mood ADD VALUE 'happy' BEFORE 'ok'")\nop.execute("CREATE TABLE people (id int, m mood)")`,
    { rev: 'base' },
  );
  const script = scriptFromUpgrade(
    `op.sync_enum_values("public", "mood", ["sad", "happy", "ok", "great"], [("people", "m")])`,
    { rev: 'b1', down: 'base' },
  );
  const [m] = classifyMigrations([script], { applied: [base] });
  expect(m!.findings.map((f) => f.rule)).toEqual(['sync-enum-values']);
  expect(m!.findings[0]!.message).toContain("only adds 'great'");
  expect(m!.findings[0]!.table).toBe('people');
});

test('no affected columns: a type swap only when no column uses the type, a deploy failure when one does', () => {
  const base = scriptFromUpgrade(`op.execute("CREATE TYPE spare AS ENUM ('a')")`, { rev: 'base' });
  const swap = scriptFromUpgrade(`op.sync_enum_values("public", "spare", ["a", "b"], [])`, {
    rev: 'b1',
    down: 'base',
  });
  const [m] = classifyMigrations([swap], { applied: [base] });
  expect(m!.verdict).toBe('additive');
  expect(m!.findings).toEqual([expect.objectContaining({ rule: 'sync-enum-values', severity: 'info' })]);
  expect(m!.findings[0]!.message).toContain('a type swap only, no table is rewritten');

  const left = judge('op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [])');
  expect(left.verdict).toBe('destructive');
  expect(left.rules).toEqual(['rejected-statement']);
  expect(left.messages).toContain('fails at deploy');
  expect(left.messages).toContain('while orders.status still uses it');
});

test('no affected columns and an enum the history never created: a warning that says what it cannot know', () => {
  const r = judge('op.sync_enum_values("public", "other_enum", ["a"], [])', {
    history: false,
    downgrade: 'op.sync_enum_values("public", "other_enum", ["a"], [])',
  });
  expect(r.rules).toEqual(['sync-enum-values']);
  expect(r.findings[0]!.severity).toBe('warning');
  expect(r.messages).toContain('if any column still uses it the DROP TYPE of the old type fails at deploy');
});

test('arguments that are not literal are a stop naming them', () => {
  const r = judge('vals = load_values()\nop.sync_enum_values("public", "order_status", vals, [])');
  expect(r.verdict).toBe('unknown');
  expect(r.messages).toContain('new_values is not literal');
});

test("alembic-autogenerate-enums' (old_values, new_values) form is not read as this library's", () => {
  const r = judge('op.sync_enum_values("public", "order_status", ["new", "paid"], ["new", "paid", "x"])');
  expect(r.verdict).toBe('unknown');
  expect(r.messages).toContain("alembic-autogenerate-enums' form");
});

test('a sync on a table created in the same pending set only reports what breaks', () => {
  const script = scriptFromUpgrade(
    `op.create_table("t2", sa.Column("s", sa.Enum("a", "b", name="st2")))\nop.sync_enum_values("public", "st2", ["a", "b", "c"], [("t2", "s")])`,
    { pre: PRE },
  );
  const [m] = classifyMigrations([script]);
  expect(m!.findings).toEqual([]);
  expect(m!.verdict).toBe('additive');
});
