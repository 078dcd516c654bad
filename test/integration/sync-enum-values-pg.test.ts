/**
 * What op.sync_enum_values (alembic-postgresql-enum) runs, checked on the harness's real PostgreSQL:
 * the library renames the type, creates the new one, moves each affected column with
 * `ALTER COLUMN ... TYPE new USING col::text::new` and drops the old type. The classifier says that
 * rewrites the table under ACCESS EXCLUSIVE even to add a value, that a removed value still held by a
 * row fails the migration, and that a column left out of affected_columns makes the DROP TYPE fail.
 * The same statements, in one transaction as Alembic runs them, must do exactly that.
 */
import pg from 'pg';
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

let db: TestDatabase;
let c: pg.Client;
beforeEach(async () => {
  db = await createTestDatabase('syncenum');
  c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(`CREATE TYPE order_status AS ENUM ('new', 'paid');
    CREATE TABLE orders (id int PRIMARY KEY, status order_status);
    CREATE TABLE refunds (id int PRIMARY KEY, status order_status);
    INSERT INTO orders SELECT g, 'paid' FROM generate_series(1, 100) g;`);
});
afterEach(async () => {
  await c.end();
  await db.drop();
});

/** The library's sequence for one enum, with the columns it is given. */
const sync = (values: string[], columns: Array<[string, string]>): string =>
  [
    'ALTER TYPE order_status RENAME TO order_status_old',
    `CREATE TYPE order_status AS ENUM (${values.map((v) => `'${v}'`).join(', ')})`,
    ...columns.map(
      ([t, col]) => `ALTER TABLE ${t} ALTER COLUMN ${col} TYPE order_status USING ${col}::text::order_status`,
    ),
    'DROP TYPE order_status_old',
  ].join(';\n');

const relfilenode = async (table: string): Promise<string> =>
  (
    await c.query<{ n: string }>('SELECT relfilenode::text AS n FROM pg_class WHERE oid = $1::regclass', [
      table,
    ])
  ).rows[0]!.n;

const classify = (upgrade: string) => {
  const base = scriptFromUpgrade(
    `op.execute("CREATE TYPE order_status AS ENUM ('new', 'paid')")\nop.execute("CREATE TABLE orders (id int PRIMARY KEY, status order_status)")`,
    { rev: 'base' },
  );
  const [m] = classifyMigrations([scriptFromUpgrade(upgrade, { rev: 'b1', down: 'base' })], {
    applied: [base],
  });
  return m!;
};

test('adding a value rewrites the table under ACCESS EXCLUSIVE, as the locking finding says', async () => {
  const before = await relfilenode('orders');
  await c.query('BEGIN');
  await c.query(
    sync(
      ['new', 'paid', 'shipped'],
      [
        ['orders', 'status'],
        ['refunds', 'status'],
      ],
    ),
  );
  const locks = await c.query<{ mode: string }>(
    "SELECT mode FROM pg_locks WHERE relation = 'orders'::regclass AND pid = pg_backend_pid()",
  );
  await c.query('COMMIT');
  expect(locks.rows.map((r) => r.mode)).toContain('AccessExclusiveLock');
  expect(await relfilenode('orders')).not.toBe(before);
  expect((await c.query("SELECT count(*)::int AS n FROM orders WHERE status = 'paid'")).rows[0].n).toBe(100);

  const m = classify(
    'op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [("orders", "status")])',
  );
  expect(m.findings.map((f) => [f.rule, f.table])).toEqual([['sync-enum-values', 'orders']]);
  expect(m.findings[0]!.message).toContain('ACCESS EXCLUSIVE');
});

test('ALTER TYPE ... ADD VALUE, the hint, keeps the table file', async () => {
  const before = await relfilenode('orders');
  await c.query("ALTER TYPE order_status ADD VALUE 'shipped'");
  expect(await relfilenode('orders')).toBe(before);
});

test('removing a value a row still holds fails the migration and leaves the rows', async () => {
  await c.query('BEGIN');
  await expect(
    c.query(
      sync(
        ['new'],
        [
          ['orders', 'status'],
          ['refunds', 'status'],
        ],
      ),
    ),
  ).rejects.toThrow(/invalid input value for enum order_status: "paid"/);
  await c.query('ROLLBACK');
  expect((await c.query("SELECT count(*)::int AS n FROM orders WHERE status = 'paid'")).rows[0].n).toBe(100);

  const m = classify('op.sync_enum_values("public", "order_status", ["new"], [("orders", "status")])');
  expect(m.verdict).toBe('destructive');
  expect(m.findings.map((f) => f.rule)).toContain('sync-enum-values-remove-value');
});

test('a column left out of affected_columns makes the DROP TYPE fail', async () => {
  await c.query('BEGIN');
  await expect(c.query(sync(['new', 'paid', 'shipped'], [['orders', 'status']]))).rejects.toThrow(
    /cannot drop type order_status_old because other objects depend on it/,
  );
  await c.query('ROLLBACK');

  const base = scriptFromUpgrade(
    `op.execute("CREATE TYPE order_status AS ENUM ('new', 'paid')")\nop.execute("CREATE TABLE orders (id int, status order_status)")\nop.execute("CREATE TABLE refunds (id int, status order_status)")`,
    { rev: 'base' },
  );
  const [m] = classifyMigrations(
    [
      scriptFromUpgrade(
        'op.sync_enum_values("public", "order_status", ["new", "paid", "shipped"], [("orders", "status")])',
        { rev: 'b1', down: 'base' },
      ),
    ],
    { applied: [base] },
  );
  expect(m!.verdict).toBe('destructive');
  const rejected = m!.findings.find((f) => f.rule === 'rejected-statement');
  expect(rejected?.message).toContain('while refunds.status still uses it');
});
