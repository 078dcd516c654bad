/** alter-column-type: the old type from existing_type=, or from the schema model the history builds. */
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const created = () =>
  scriptFromUpgrade(
    `op.create_table("orders", sa.Column("id", sa.Integer()), sa.Column("code", sa.String(20)), sa.Column("body", sa.Text()), sa.Column("total", sa.Numeric(10, 2)))
op.execute("CREATE TABLE notes (id int, title varchar(30))")`,
    { rev: 'a0' },
  );

const judge = (body: string) => {
  const [m] = classifyMigrations([scriptFromUpgrade(body, { rev: 'a1', down: 'a0' })], {
    applied: [created()],
  });
  return { verdict: m!.verdict, messages: m!.findings.map((f) => f.message) };
};

test.each([
  ['op widening, old type from the model', 'op.alter_column("orders", "code", type_=sa.String(40))'],
  ['text -> unbounded varchar', 'op.alter_column("orders", "body", type_=sa.String())'],
  ['numeric precision up, same scale', 'op.alter_column("orders", "total", type_=sa.Numeric(12, 2))'],
  [
    'raw SQL widening of a raw-SQL column',
    'op.execute("ALTER TABLE notes ALTER COLUMN title TYPE varchar(60)")',
  ],
  ['raw SQL varchar -> text', 'op.execute("ALTER TABLE notes ALTER COLUMN title TYPE text")'],
])('%s is additive', (_label, body) => {
  expect(judge(body)).toEqual({ verdict: 'additive', messages: [] });
});

test.each([
  [
    'a shrink',
    'op.alter_column("orders", "code", type_=sa.String(10))',
    'sa.String(20) -> sa.String(10) rewrites the table',
  ],
  ['a scale change', 'op.alter_column("orders", "total", type_=sa.Numeric(12, 3))', 'rewrites the table'],
  [
    'postgresql_using=',
    'op.alter_column("orders", "code", type_=sa.String(40), postgresql_using="upper(code)")',
    'with postgresql_using= (every row is recomputed) rewrites the table',
  ],
  [
    'a collation change',
    'op.alter_column("orders", "code", type_=sa.String(20, collation="C"))',
    'rewrites every index on the column',
  ],
  [
    'raw SQL shrink',
    'op.execute("ALTER TABLE notes ALTER COLUMN title TYPE varchar(10)")',
    'from varchar(30) to varchar(10)',
  ],
  [
    'raw SQL USING',
    `op.execute("ALTER TABLE notes ALTER COLUMN title TYPE varchar(60) USING upper(title)")`,
    'with USING',
  ],
  [
    'an unknown old type',
    'op.alter_column("missing", "code", type_=sa.String(40))',
    'the old type is not given',
  ],
])('%s still rewrites (destructive)', (_label, body, text) => {
  const { verdict, messages } = judge(body);
  expect(verdict).toBe('destructive');
  expect(messages.join('\n')).toContain(text);
});
