import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import type { ClassifiedMigration } from '../../src/types.js';
import { migration, scriptFromSource, scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

// In migration() sources the upgrade() body starts on line 9 (+ lines of `pre`).
const classify = (body: string, opts: Parameters<typeof scriptFromUpgrade>[1] = {}): ClassifiedMigration =>
  classifyMigrations([scriptFromUpgrade(body, opts)])[0]!;
const rules = (c: ClassifiedMigration): string[] => c.findings.map((f) => f.rule);

describe('op calls', () => {
  test('positional and keyword arguments name the table and column in message and hint', () => {
    const c = classify('op.drop_column(table_name="users", column_name="email")');
    expect(c.verdict).toBe('destructive');
    expect(c.findings[0]).toMatchObject({
      rule: 'drop-column',
      category: 'data-loss',
      severity: 'error',
      line: 9,
      table: 'users',
      message: "drop column users.email: the column's data is deleted and code still reading it fails",
    });
    expect(c.findings[0]!.hint).toContain('stops reading');
  });

  test('batch_alter_table gives batch_op calls their table', () => {
    const c = classify(`
with op.batch_alter_table("orders", schema=None) as batch_op:
    batch_op.alter_column("note", new_column_name="notes")
    batch_op.create_index("ix_orders_total", ["total"])
`);
    expect(c.findings.map((f) => [f.rule, f.table, f.line])).toEqual([
      ['rename-column', 'orders', 10],
      ['create-index-non-concurrent', 'orders', 11],
    ]);
    expect(c.findings[0]!.message).toContain('orders.note to notes');
  });

  test('unknown op names are opaque', () => {
    const c = classify('op.frobnicate("users")');
    expect(c.verdict).toBe('unknown');
    expect(c.findings[0]!.message).toBe(
      'op.frobnicate is not known to migration-gate, so it cannot tell whether it is safe',
    );
  });

  test('neutral Python does not produce findings', () => {
    const c = classify(`
"""docstring"""
import logging
logging.getLogger(__name__).info("start")
print("x")
ctx = op.get_context()
bind = op.get_bind()
name = op.f("ix_x")
t = sa.table("users", sa.column("id"))
pass
`);
    expect(c).toMatchObject({ verdict: 'additive', findings: [] });
  });
});

describe('helpers, loops and conditionals', () => {
  test('helper functions in the same file are followed, with literal arguments', () => {
    const c = classify('_drop("accounts", "fax")', {
      pre: 'def _drop(table, col):\n    _really_drop(table, col)\ndef _really_drop(t, c):\n    op.drop_column(t, c)',
    });
    expect(c.findings).toHaveLength(1);
    expect(c.findings[0]).toMatchObject({ rule: 'drop-column', table: 'accounts', line: 7 });
  });

  test('recursive helpers do not loop forever', () => {
    const c = classify('_again()', { pre: 'def _again():\n    op.drop_table("t")\n    _again()' });
    expect(rules(c)).toEqual(['drop-table']);
  });

  test('ops in loops, ifs and try still count; a loop over a literal list runs once per item', () => {
    const c = classify(`
for t in ["a", "b"]:
    if t:
        try:
            op.drop_table(t)
        except Exception:
            pass
`);
    expect(c.verdict).toBe('destructive');
    expect(c.findings.map((f) => f.table)).toEqual(['a', 'b']);
  });

  test('a loop variable over values known only at run time leaves the table unknown', () => {
    const c = classify(`
for t in sa.inspect(op.get_bind()).get_table_names():
    op.drop_table(t)
`);
    expect(c.verdict).toBe('destructive');
    expect(c.findings[0]!.table).toBeUndefined();
    expect(c.findings[0]!.message).toContain('<table known only at run time>');
  });

  test('a function imported from another module is opaque', () => {
    const c = classify('backfill(op.get_bind())', { pre: 'from app.data import backfill' });
    expect(c.verdict).toBe('unknown');
    expect(c.findings[0]!.rule).toBe('external-call');
    expect(c.findings[0]!.message).toContain('app.data.backfill');
  });
});

describe('raw SQL', () => {
  test('every execute form is read', () => {
    const c = classify(`
op.execute("DROP TABLE a")
op.execute(sa.text("DROP TABLE b"))
op.get_bind().execute(sa.text("DROP TABLE c"))
conn = op.get_bind()
conn.execute(sa.text("DROP TABLE d"))
connection.execute(sa.text("DROP TABLE e"))
conn.exec_driver_sql("DROP TABLE f")
`);
    expect(c.findings.map((f) => f.table)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(c.findings.map((f) => f.line)).toEqual([9, 10, 11, 13, 14, 15]);
  });

  test('multi-statement strings count every statement, each on its own line', () => {
    const c = classify(`
op.execute("""
    CREATE TABLE t (id int);
    UPDATE users SET a = 1;
    DROP TABLE old_things;
""")
`);
    expect(c.findings.map((f) => [f.rule, f.line])).toEqual([
      ['update-rows', 11],
      ['drop-table', 12],
    ]);
  });

  test('bind parameters (:name, %s) do not make SQL unparsable', () => {
    const c = classify(`
op.execute(sa.text("UPDATE users SET plan = :plan WHERE created_at::date < :d").bindparams(plan="x", d="2020-01-01"))
op.get_bind().exec_driver_sql("DELETE FROM carts WHERE id = %s", (1,))
`);
    expect(rules(c)).toEqual(['update-rows', 'delete-rows']);
  });

  test('unparsable SQL is opaque with the parser message', () => {
    const c = classify('op.execute("ALTR TABLE users")');
    expect(c.verdict).toBe('unknown');
    expect(c.findings[0]!.rule).toBe('unparsable-sql');
    expect(c.findings[0]!.message).toMatch(/syntax error/);
  });

  test.each([
    ['f-string', 'op.execute(f"DROP TABLE {name}")', 'f-string'],
    ['concatenation', 'op.execute("DROP TABLE " + name)', 'concatenated'],
    ['% formatting', 'op.execute("DROP TABLE %s" % name)', '%-formatted'],
    ['.format()', 'op.execute("DROP TABLE {}".format(name))', 'built with .format()'],
    [
      '.format() on a constant',
      'SQL = "DROP TABLE {}"\nop.execute(SQL.format(name))',
      'built with .format()',
    ],
    ['.format() on an attribute', 'op.execute(queries.DROP.format(name))', 'built with .format()'],
    ['non-literal variable', 'op.execute(name)', 'name'],
  ])('dynamic SQL: %s', (_label, body, why) => {
    const c = classify(`name = input()\n${body}`);
    expect(c.verdict).toBe('unknown');
    expect(c.findings.map((f) => f.rule)).toEqual(['dynamic-sql']);
    expect(c.findings[0]!.message).toContain(why);
  });

  test('literal variables and literal concatenation are resolved', () => {
    const c = classify('SQL = "DROP TABLE " + "x"\nop.execute(SQL)');
    expect(rules(c)).toEqual(['drop-table']);
  });
});

describe('SQLAlchemy Core and ORM', () => {
  test.each([
    ['sa.update', 'conn.execute(sa.update(t).where(t.c.id == 1).values(a=1))', 'update-rows'],
    ['sa.delete', 'conn.execute(sa.delete(t))', 'delete-rows'],
    ['table.update()', 'conn.execute(t.update().values(a=1))', 'update-rows'],
    ['table.delete()', 'op.execute(t.delete())', 'delete-rows'],
    ['statement in a variable', 'stmt = t.delete()\nconn.execute(stmt)', 'delete-rows'],
  ])('%s', (_label, body, rule) => {
    const c = classify(`t = sa.table("users", sa.column("id"))\nconn = op.get_bind()\n${body}`);
    expect(c.findings.map((f) => [f.rule, f.table])).toEqual([[rule, 'users']]);
  });

  test('inserts are additive', () => {
    const c = classify(`
t = sa.table("plans", sa.column("id"))
op.bulk_insert(t, [{"id": 1}])
op.get_bind().execute(sa.insert(t).values(id=2))
op.execute(t.insert().values(id=3))
`);
    expect(c).toMatchObject({ verdict: 'additive', findings: [] });
  });
});

describe('autocommit_block and concurrent indexes', () => {
  test('concurrently outside autocommit_block fails at run time (breaking)', () => {
    const c = classify('op.create_index("ix", "users", ["a"], postgresql_concurrently=True)');
    expect(c.findings[0]).toMatchObject({
      rule: 'create-index-concurrently-in-transaction',
      category: 'breaking',
      severity: 'error',
    });
  });

  test('concurrently inside autocommit_block is additive, raw SQL too', () => {
    const c = classify(`
with op.get_context().autocommit_block():
    op.create_index("ix", "users", ["a"], postgresql_concurrently=True)
    op.execute("CREATE INDEX CONCURRENTLY ix2 ON users (b)")
`);
    expect(c).toMatchObject({ verdict: 'additive', findings: [] });
  });

  test('a plain index on an existing table is a locking warning on an additive migration', () => {
    const c = classify('op.create_index("ix", "users", ["a"])');
    expect(c.verdict).toBe('additive');
    expect(c.findings[0]).toMatchObject({
      rule: 'create-index-non-concurrent',
      category: 'locking',
      severity: 'warning',
    });
  });
});

describe('new tables', () => {
  test('tables created earlier in the pending set count as new for later migrations', () => {
    const first = scriptFromUpgrade('op.create_table("widgets", sa.Column("id", sa.Integer))', { rev: 'r1' });
    const second = scriptFromUpgrade(
      `op.create_index("ix_w", "widgets", ["id"])
op.add_column("widgets", sa.Column("n", sa.Integer, nullable=False))
op.drop_column("widgets", "old")
op.execute("UPDATE widgets SET n = 1")`,
      { rev: 'r2', down: 'r1' },
    );
    const [, c2] = classifyMigrations([first, second]);
    expect(c2).toMatchObject({ verdict: 'additive', findings: [] });
    // Alone, the second migration acts on an existing table.
    expect(classifyMigrations([second])[0]!.verdict).toBe('destructive');
  });
});

describe('column types, defaults and server versions', () => {
  test.each([
    ['sa.String(50)', 'sa.String(100)', false],
    ['sa.String(100)', 'sa.String(50)', true],
    ['sa.String(50)', 'sa.Text()', false],
    ['sa.Numeric(10, 2)', 'sa.Numeric(12, 2)', false],
    ['sa.Numeric(10, 2)', 'sa.Numeric(10, 4)', true],
    ['sa.Integer()', 'sa.BigInteger()', true],
    [undefined, 'sa.Text()', true],
  ])('alter_column %s -> %s flagged: %s', (from, to, flagged) => {
    const existing = from ? `, existing_type=${from}` : '';
    const c = classify(`op.alter_column("t", "c", type_=${to}${existing})`);
    expect(rules(c).includes('alter-column-type')).toBe(flagged);
  });

  test('constant defaults rewrite only before PostgreSQL 11', () => {
    const s = scriptFromUpgrade(
      'op.add_column("users", sa.Column("n", sa.Integer, server_default="0", nullable=False))',
    );
    expect(classifyMigrations([s])[0]!.findings).toEqual([]);
    expect(classifyMigrations([s], { serverVersionNum: 150004 })[0]!.findings).toEqual([]);
    const old = classifyMigrations([s], { serverVersionNum: 100021 })[0]!;
    expect(old.findings.map((f) => f.rule)).toEqual(['volatile-default']);
    expect(old.findings[0]!.message).toContain('PostgreSQL 10');
  });

  test('volatile defaults rewrite on every version', () => {
    const c = classify(
      'op.add_column("users", sa.Column("r", sa.Float, server_default=sa.text("random()")))',
    );
    expect(c.findings[0]!.message).toContain('random()');
  });
});

describe('downgrade', () => {
  test('downgrade() findings are reported separately and do not change the verdict', () => {
    const c = classifyMigrations([
      scriptFromSource(
        migration('op.add_column("users", sa.Column("x", sa.Integer))', {
          downgrade: 'op.drop_column("users", "x")',
        }),
      ),
    ])[0]!;
    expect(c.verdict).toBe('additive');
    expect(c.findings).toEqual([]);
    expect(c.downgradeFindings.map((f) => f.rule)).toEqual(['drop-column']);
  });
});

describe('import styles', () => {
  test('from-imports of text/table/update are recognised', () => {
    const c = classify(
      `
t = table("users", column("id"))
conn = op.get_bind()
conn.execute(text("DELETE FROM users WHERE id = 1"))
conn.execute(update(t).values(id=2))
`,
      { pre: 'from sqlalchemy import text, update\nfrom sqlalchemy.sql import table, column' },
    );
    expect(c.findings.map((f) => [f.rule, f.table])).toEqual([
      ['delete-rows', 'users'],
      ['update-rows', 'users'],
    ]);
  });

  test('a helper receiving batch_op keeps the batch table', () => {
    const c = classify('with op.batch_alter_table("orders") as batch_op:\n    _cols(batch_op)', {
      pre: 'def _cols(b):\n    b.drop_column("legacy")',
    });
    expect(c.findings.map((f) => [f.rule, f.table])).toEqual([['drop-column', 'orders']]);
  });
});

describe('constraints added through ADD COLUMN count like ADD CONSTRAINT', () => {
  test('a column-level CHECK, UNIQUE or REFERENCES on an existing table is a locking finding', () => {
    const c = classify(
      `op.execute("ALTER TABLE users ADD COLUMN age int CHECK (age > 0), ADD COLUMN code text UNIQUE, ADD COLUMN org_id int REFERENCES orgs (id)")`,
    );
    expect(rules(c).sort()).toEqual(['add-check-constraint', 'add-foreign-key', 'add-unique-constraint']);
    expect(c.verdict).toBe('additive');
    expect(c.findings.every((f) => f.category === 'locking' && f.table === 'users')).toBe(true);
  });
});
