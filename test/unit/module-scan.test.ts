/**
 * The one read of a module's top-level statements (src/alembic/module-scan.ts) feeds both the
 * revision header and the extractor. These pin the Python semantics that read must keep: source
 * order (a later binding wins), chained and annotated assignments, imports inside functions, and
 * which right-hand sides count as building a name up from itself.
 */
import { initPythonParser } from '../../src/alembic/python.js';
import { parseMigrationSource } from '../../src/alembic/scripts.js';
import { extractBody } from '../../src/classify/extract.js';
import type { Operation } from '../../src/classify/rule.js';
import { initSqlParser } from '../../src/classify/sql.js';

beforeAll(async () => {
  await initPythonParser();
  await initSqlParser();
});

const HEAD = ['from alembic import op', "revision = 'r2'", "down_revision = 'r1'", ''];

function upgradeOps(lines: string[]): Operation[] {
  const s = parseMigrationSource([...HEAD, ...lines].join('\n'), '/p/v/x.py', 'v/x.py', {
    body: extractBody,
  });
  return s.body?.upgrade ?? [];
}

function dropped(ops: Operation[]): unknown[] {
  return ops.map((o) =>
    o.kind === 'op' ? [o.name, o.table] : o.kind === 'opaque' ? ['opaque', o.reason, o.detail] : [o.kind],
  );
}

describe('module-level facts, read once', () => {
  test('header: chained, annotated and constant-named assignments resolve as Python binds them', () => {
    const s = parseMigrationSource(
      [
        '"""first line of the message',
        '',
        'more"""',
        "BASE = 'p0'",
        "revision = REV = 'abc'",
        'down_revision: str = BASE',
        "branch_labels: tuple = ('one',)",
        'depends_on: str',
        "BASE = 'p1'",
      ].join('\n'),
      '/p/v/x.py',
      'v/x.py',
    );
    expect(s.revision).toBe('abc');
    // The later `BASE = 'p1'` wins: the header reads the module's final binding, as Alembic sees it.
    expect(s.downRevisions).toEqual(['p1']);
    expect(s.branchLabels).toEqual(['one']);
    expect(s.dependsOn).toEqual([]);
    expect(s.message).toBe('first line of the message');
  });

  test('a later module-level binding of the same name wins in the extractor too', () => {
    const ops = upgradeOps([
      "TABLE = 'old_table'",
      "TABLE = 'users'",
      '',
      'def upgrade():',
      '    op.drop_table(TABLE)',
    ]);
    expect(dropped(ops)).toEqual([['drop_table', 'users']]);
  });

  test('a def after a constant of the same name replaces it (it becomes a helper, followed)', () => {
    const ops = upgradeOps([
      "drop_it = 'not a function'",
      'def drop_it():',
      "    op.drop_table('accounts')",
      '',
      'def upgrade():',
      '    drop_it()',
    ]);
    expect(dropped(ops)).toEqual([['drop_table', 'accounts']]);
  });

  test('a plain string that spells its own name is a literal; an f-string of itself is built up', () => {
    expect(dropped(upgradeOps(["NAME = 'NAME'", 'def upgrade():', '    op.drop_table(NAME)']))).toEqual([
      ['drop_table', 'NAME'],
    ]);
    const ops = upgradeOps([
      "SQL = 'DROP TABLE a'",
      "SQL = f'{SQL}; DROP TABLE b'",
      'def upgrade():',
      '    op.execute(SQL)',
    ]);
    expect(dropped(ops)).toEqual([['opaque', 'dynamic-sql', 'SQL is built up step by step']]);
  });

  test('an import inside upgrade() is seen (the walk enters function bodies only)', () => {
    const ops = upgradeOps([
      'def upgrade():',
      '    from sqlalchemy import text as t',
      "    op.execute(t('DROP TABLE legacy'))",
    ]);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ kind: 'sql' });
    expect(JSON.stringify(ops[0])).toContain('legacy');
  });
});
