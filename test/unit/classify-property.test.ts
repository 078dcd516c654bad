/**
 * Property: whatever drops, renames, rewrites or deletes is never classified additive, however it is
 * wrapped (loops, conditionals, try, helpers, batch blocks, variables, multi-statement SQL, next to
 * additive operations, after a new table was created).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { classifyMigrations, initClassifier, ruleById } from '../../src/classify/index.js';
import { CLASSIFY_FIXTURES, fixtureNames, fixtureScript, scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const DESTRUCTIVE: string[] = [
  'op.drop_table("users")',
  'op.drop_column("users", "email")',
  'op.rename_table("users", "people")',
  'op.alter_column("users", "email", new_column_name="mail")',
  'op.alter_column("users", "age", type_=sa.SmallInteger(), existing_type=sa.Integer())',
  'op.alter_column("users", "email", nullable=False)',
  'op.drop_constraint("fk_x", "users", type_="foreignkey")',
  'op.drop_index("ix_users_email", table_name="users")',
  'op.execute("DROP TABLE users")',
  'op.execute("ALTER TABLE users DROP COLUMN email")',
  'op.execute("TRUNCATE users")',
  'op.execute("DELETE FROM users")',
  'op.execute("UPDATE users SET email = lower(email)")',
  'op.execute("ALTER TABLE users RENAME TO people")',
  'op.execute("ALTER TABLE users RENAME COLUMN email TO mail")',
  'op.execute("ALTER TABLE users ALTER COLUMN age TYPE smallint")',
  'op.execute("DROP TYPE mood")',
  'op.execute("DROP SCHEMA s CASCADE")',
  "op.execute(\"ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'\")",
  'op.get_bind().execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": 1})',
  'op.get_bind().execute(sa.table("users").delete())',
  'op.get_bind().execute(sa.update(sa.table("users")).values(a=1))',
];

const WRAPPERS: Array<[string, (s: string) => string]> = [
  ['plain', (s) => s],
  ['after an additive op', (s) => `op.create_table("other", sa.Column("id", sa.Integer))\n${s}`],
  ['in a loop', (s) => `for i in range(1):\n    ${s}`],
  ['in an if', (s) => `if True:\n    ${s}`],
  ['in try/except', (s) => `try:\n    ${s}\nexcept Exception:\n    pass`],
  ['in a nested helper', (s) => `def helper():\n    ${s}\nhelper()`],
  ['in a with block', (s) => `with open("x") as fh:\n    ${s}`],
  ['in autocommit_block', (s) => `with op.get_context().autocommit_block():\n    ${s}`],
];

describe.each(WRAPPERS)('%s', (_name, wrap) => {
  test.each(DESTRUCTIVE)('%s is never additive', (stmt) => {
    const [c] = classifyMigrations([scriptFromUpgrade(wrap(stmt))]);
    expect(c!.verdict).not.toBe('additive');
    expect(c!.findings.some((f) => ['data-loss', 'breaking'].includes(f.category))).toBe(true);
  });
});

test('SQL drops hidden among harmless statements are found', () => {
  for (const stmt of ['DROP TABLE users', 'DELETE FROM users', 'UPDATE users SET a = 1', 'TRUNCATE users']) {
    const sql = `CREATE EXTENSION IF NOT EXISTS pg_trgm; COMMENT ON TABLE x IS 'y'; ${stmt}; SELECT 1`;
    const [c] = classifyMigrations([scriptFromUpgrade(`op.execute(${JSON.stringify(sql)})`)]);
    expect(c!.verdict).toBe('destructive');
  }
});

test('no fixture with an un-allowed data-loss or breaking expectation classifies as additive', () => {
  for (const name of fixtureNames()) {
    const [c] = classifyMigrations([fixtureScript(name)]);
    const header = readFileSync(path.join(CLASSIFY_FIXTURES, name), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('# expect:'))!;
    const expected = header.slice('# expect:'.length).trim().split(/\s+/).slice(1);
    const destructiveRules = expected.filter((id) =>
      ['data-loss', 'breaking'].includes(ruleById(id)!.category),
    );
    const unallowed = c!.findings.filter((f) => destructiveRules.includes(f.rule) && !f.allowed);
    if (unallowed.length > 0) expect(c!.verdict).toBe('destructive');
  }
});
