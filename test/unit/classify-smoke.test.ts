import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

test('smoke', () => {
  const s = scriptFromUpgrade(`
op.drop_column("users", "email")
with op.batch_alter_table("orders") as batch_op:
    batch_op.alter_column("total", type_=sa.Numeric(12, 2), existing_type=sa.Numeric(10, 2))
    batch_op.drop_index("ix_x")
op.execute("UPDATE users SET a = :v WHERE id = 1; DROP TABLE x")
conn = op.get_bind()
conn.execute(sa.text(f"DELETE FROM {t}"))
t = sa.table("accounts", sa.column("id"))
conn.execute(t.delete().where(t.c.id == 1))
op.create_table("n", sa.Column("id", sa.Integer))
op.create_index("ix_n", "n", ["id"])
op.create_index("ix_u", "users", ["id"])
op.add_column("users", sa.Column("x", sa.Integer, nullable=False))
op.add_column("users", sa.Column("u", sa.UUID, server_default=sa.text("gen_random_uuid()")))
op.foo()
`);
  const [c] = classifyMigrations([s]);
  console.log(JSON.stringify(c, null, 1));
});
