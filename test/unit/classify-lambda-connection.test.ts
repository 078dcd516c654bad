/**
 * Lambdas that wrap op are followed where they are called; calls on the migration's connection, its
 * DB-API connection or a cursor are SQL to classify, reads, or stops (never a silent pass).
 */
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const judge = (body: string) => {
  const [m] = classifyMigrations([scriptFromUpgrade(body)]);
  return {
    verdict: m!.verdict,
    rules: [...new Set(m!.findings.map((f) => f.rule))].sort(),
    messages: m!.findings.map((f) => f.message).join('\n'),
    hints: m!.findings.map((f) => f.hint).join('\n'),
  };
};

describe('a lambda wrapping op', () => {
  test.each([
    [
      'bound, called with an argument',
      'f = lambda t: op.drop_table(t)\nf("audit_log")',
      'drop-table',
      'drop table audit_log',
    ],
    [
      'bound without parameters, called later',
      'drop = lambda: op.drop_column("users", "name")\nprint("later")\ndrop()',
      'drop-column',
      'drop column users.name',
    ],
    ['written in place', '(lambda: op.drop_table("sessions"))()', 'drop-table', 'drop table sessions'],
    [
      'with a default parameter',
      'f = lambda t="legacy": op.drop_table(t)\nf()',
      'drop-table',
      'drop table legacy',
    ],
    [
      'handed to a helper of the file that calls it',
      'def each(fn):\n    fn("audit_log")\neach(lambda t: op.drop_table(t))',
      'drop-table',
      'drop table audit_log',
    ],
    [
      'over the connection',
      'conn = op.get_bind()\nrun = lambda: conn.execute(sa.text("DELETE FROM users"))\nrun()',
      'delete-rows',
      'delete rows from users',
    ],
  ])('%s: the op it performs is judged', (_label, body, rule, text) => {
    const r = judge(body);
    expect(r.verdict).toBe('destructive');
    expect(r.rules).toEqual([rule]);
    expect(r.messages).toContain(text);
  });

  test('a lambda handed to a call the gate cannot follow is a stop naming the op it calls', () => {
    const r = judge('list(map(lambda t: op.drop_table(t), ["a", "b"]))');
    expect(r.verdict).toBe('unknown');
    expect(r.rules).toEqual(['external-call']);
    expect(r.messages).toContain('handed a lambda calling op.drop_table');
  });

  test('a function of the file handed to map() is a stop naming the op it calls', () => {
    const r = judge('def one(t):\n    op.drop_table(t)\nlist(map(one, ["a"]))');
    expect(r.verdict).toBe('unknown');
    expect(r.messages).toContain('handed one(), which calls op.drop_table');
  });

  test('an op call given as a helper argument is run at the call site', () => {
    expect(judge('def h(x):\n    pass\nh(op.drop_table("x"))').rules).toEqual(['drop-table']);
  });

  test.each([
    ['a lambda never called', 'f = lambda: op.drop_table("x")'],
    ['a pure lambda handed on', 'names = sorted(["b", "a"], key=lambda n: n.lower())'],
    ['a lambda calling itself', 'f = lambda: f()\nf()'],
  ])('%s stays additive', (_label, body) => {
    expect(judge(body)).toMatchObject({ verdict: 'additive', rules: [] });
  });
});

describe('calls on the connection', () => {
  test.each([
    ['exec_driver_sql', 'bind = op.get_bind()\nbind.exec_driver_sql("DROP TABLE x")', 'drop-table'],
    ['a raw cursor', 'conn = op.get_bind()\nconn.connection.cursor().execute("DROP TABLE x")', 'drop-table'],
    [
      'a cursor from a with statement, executemany',
      'conn = op.get_bind()\nwith conn.connection.cursor() as cur:\n    cur.executemany("DELETE FROM users WHERE id = %s", [(1,), (2,)])',
      'delete-rows',
    ],
    [
      'conn.scalar() runs its statement',
      'conn = op.get_bind()\nn = conn.scalar(sa.text("UPDATE users SET name = NULL RETURNING 1"))',
      'update-rows',
    ],
    ['op.get_context().bind', 'op.get_context().bind.execute(sa.text("TRUNCATE users"))', 'truncate'],
  ])('%s: the SQL is classified', (_label, body, rule) => {
    const r = judge(body);
    expect(r.verdict).toBe('destructive');
    expect(r.rules).toEqual([rule]);
  });

  test.each([
    [
      'an unknown method',
      'conn = op.get_bind()\nconn.foo(1)',
      "conn.foo(1) calls foo() on the migration's database connection",
    ],
    [
      'in place',
      'op.get_bind().foo()',
      "op.get_bind().foo() calls foo() on the migration's database connection",
    ],
    [
      'a cursor method that is not execute',
      'cur = op.get_bind().connection.cursor()\ncur.callproc("purge")',
      'calls callproc() on a DB-API cursor',
    ],
    [
      'the raw DB-API connection',
      'op.get_bind().connection.set_session(autocommit=True)',
      "calls set_session() on the migration's raw DB-API connection",
    ],
    ['the engine', 'op.get_bind().engine.connect()', "happens outside Alembic's transaction"],
  ])('%s is a stop that says what and why', (_label, body, text) => {
    const r = judge(body);
    expect(r.verdict).toBe('unknown');
    expect(r.rules).toEqual(['unknown-operation']);
    expect(r.messages).toContain(text);
    expect(r.messages).not.toContain('is not known to migration-gate');
  });

  test('commit() on the connection says it commits the migration half-way and how to avoid it', () => {
    const r = judge('conn = op.get_bind()\nop.add_column("t", sa.Column("x", sa.Integer()))\nconn.commit()');
    expect(r.verdict).toBe('unknown');
    expect(r.messages).toContain('commit() ends or replaces the transaction Alembic runs the migration in');
    expect(r.hints).toContain('autocommit_block');
  });

  test.each([
    ['a SELECT through execute', 'conn = op.get_bind()\nrows = conn.execute(sa.text("SELECT 1")).fetchall()'],
    [
      'the dialect',
      'conn = op.get_bind()\nif conn.dialect.name == "postgresql":\n    print(conn.dialect.server_version_info)',
    ],
    ['an inspector', 'insp = sa.inspect(op.get_bind())\nprint(insp.get_table_names())'],
    ['transaction state', 'conn = op.get_bind()\nprint(conn.in_transaction())'],
    ['a savepoint', 'conn = op.get_bind()\nwith conn.begin_nested():\n    conn.execute(sa.text("SELECT 1"))'],
  ])('%s stays additive', (_label, body) => {
    expect(judge(body)).toMatchObject({ verdict: 'additive', rules: [] });
  });
});
