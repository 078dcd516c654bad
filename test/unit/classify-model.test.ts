/** The schema model replayed from the history: what earlier migrations left, as the rules see it. */
import { initClassifier, replay } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

test('Alembic ops: columns with nullability, constraints with validated state, partitioning, renames', () => {
  const model = replay([
    scriptFromUpgrade(
      `op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("note", sa.Text()), sa.Column("total", sa.Integer(), nullable=False), sa.CheckConstraint("total IS NOT NULL", name="ck_total"), postgresql_partition_by="RANGE (id)")`,
      { rev: 'a1' },
    ),
    scriptFromUpgrade(
      `op.add_column("orders", sa.Column("ref", sa.String(20)))
op.create_check_constraint("ck_ref", "orders", "ref IS NOT NULL", postgresql_not_valid=True)
op.alter_column("orders", "note", new_column_name="remark", nullable=False)
op.create_foreign_key(op.f("fk_orders_user"), "orders", "users", ["user_id"], ["id"], postgresql_not_valid=True)`,
      { rev: 'a2', down: 'a1' },
    ),
  ]);
  const orders = model.table('public.Orders')!;
  expect(orders.partitioned).toBe(true);
  expect(model.column('orders', 'id')).toEqual({ type: 'sa.Integer()', nullable: false });
  expect(model.column('orders', 'ref')?.nullable).toBe(true);
  expect(model.column('orders', 'note')).toBeUndefined();
  expect(model.column('orders', 'remark')?.nullable).toBe(false);
  expect(model.notNullCheck('orders', 'total')?.name).toBe('ck_total');
  // NOT VALID: not a proof yet.
  expect(model.notNullCheck('orders', 'ref')).toBeUndefined();
  expect(model.constraint('orders', 'ck_ref')).toMatchObject({ kind: 'check', validated: false, addedIn: 2 });
  expect(model.constraint('orders', 'fk_orders_user')).toMatchObject({
    kind: 'foreign-key',
    validated: false,
  });
  expect(model.table('users')).toBeUndefined();
});

test('raw SQL: CREATE TABLE, ADD ... NOT VALID then VALIDATE, SET/DROP NOT NULL, drops and renames', () => {
  const model = replay([
    scriptFromUpgrade(
      `op.execute("CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL, b text) PARTITION BY HASH (id)")
op.execute("ALTER TABLE t ADD CONSTRAINT b_nn CHECK (b IS NOT NULL) NOT VALID")`,
    ),
    scriptFromUpgrade(
      `op.execute("ALTER TABLE t VALIDATE CONSTRAINT b_nn")
op.execute("ALTER TABLE t ALTER COLUMN a DROP NOT NULL")
op.execute("ALTER TABLE t RENAME COLUMN b TO c")
op.execute("CREATE TABLE gone (id int)")
op.execute("DROP TABLE gone")
op.execute("ALTER TABLE t RENAME TO t2")`,
      { rev: 'a2', down: 'a1' },
    ),
  ]);
  expect(model.table('t')).toBeUndefined();
  expect(model.table('gone')).toBeUndefined();
  const t2 = model.table('t2')!;
  expect(t2.partitioned).toBe(true);
  expect(model.column('t2', 'id')?.nullable).toBe(false);
  expect(model.column('t2', 'a')).toEqual({ type: 'text', nullable: true });
  expect(model.column('t2', 'c')?.nullable).toBe(true);
  expect(model.constraint('t2', 'b_nn')).toMatchObject({ validated: true, notNullOf: 'b', addedIn: 1 });
});

test('a table first seen through an ALTER is existing with unknown columns; the catalog overrides the model', () => {
  const model = replay([scriptFromUpgrade(`op.add_column("legacy", sa.Column("x", sa.Integer()))`)]);
  expect(model.column('legacy', 'x')?.nullable).toBe(true);
  expect(model.column('legacy', 'id')).toBeUndefined();
  model.overlay('public.legacy', {
    columns: [{ name: 'id', type: 'integer', nullable: false }],
    constraints: [{ name: 'legacy_id_nn', kind: 'check', validated: true, columns: [], notNullOf: 'id' }],
    partitioned: false,
  });
  expect(model.column('legacy', 'x')).toBeUndefined();
  expect(model.column('legacy', 'id')?.nullable).toBe(false);
  expect(model.notNullCheck('legacy', 'id')?.name).toBe('legacy_id_nn');
});
