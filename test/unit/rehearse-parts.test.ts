/** Pure pieces of rehearse/restore: the failing statement, the schema diff, the archive listing, scratch URLs. */
import { median } from '../../bench/rehearse-bench.js';
import { failingStatement } from '../../src/rehearse/rehearse.js';
import { normaliseSchema, schemaDiff } from '../../src/rehearse/schema.js';
import { scratchName, withDatabase } from '../../src/rehearse/scratch.js';
import { parseToc } from '../../src/rollback/restore.js';

test('failingStatement takes the [SQL: ...] SQLAlchemy quotes, over one or several lines', () => {
  expect(
    failingStatement([
      'sqlalchemy.exc.IntegrityError: (psycopg2.errors.NotNullViolation) column "note" of relation "items" contains null values',
      '',
      '[SQL: ALTER TABLE items ALTER COLUMN note SET NOT NULL]',
      '(Background on this error at: https://sqlalche.me/e/20/gkpj)',
    ]),
  ).toBe('ALTER TABLE items ALTER COLUMN note SET NOT NULL');
  expect(failingStatement(['[SQL: UPDATE items', 'SET qty = 1', 'WHERE id = 2]'])).toBe(
    'UPDATE items\nSET qty = 1\nWHERE id = 2',
  );
  expect(failingStatement(['RuntimeError: boom'])).toBeUndefined();
});

test('schemaDiff ignores comments, settings and column order, and reports what the downgrade left behind', () => {
  const start = [
    '-- comment',
    'SET search_path = public;',
    'CREATE TABLE items (',
    '    id integer NOT NULL,',
    '    note text',
    ');',
  ].join('\n');
  const sameReordered = [
    'CREATE TABLE items (',
    '    note text,',
    '    id integer NOT NULL',
    ');',
    '-- another comment',
  ].join('\n');
  expect(schemaDiff(start, sameReordered)).toEqual([]);
  const leftover = [
    'CREATE TABLE items (',
    '    id integer NOT NULL,',
    '    note text,',
    '    color character varying(20)',
    ');',
  ].join('\n');
  expect(schemaDiff(start, leftover)).toEqual(['+ color character varying(20)']);
  expect(schemaDiff(leftover, start)).toEqual(['- color character varying(20)']);
  expect(
    normaliseSchema(
      "\\restrict abc\nSELECT pg_catalog.set_config('search_path', '', false);\nCREATE SCHEMA x;",
    ),
  ).toEqual(['CREATE SCHEMA x;']);
});

test('parseToc reads pg_restore --list entries, multi-word types included', () => {
  const toc = parseToc(
    [
      ';',
      '; Archive created at 2026-11-25 08:00:00 UTC',
      '6; 2615 16385 SCHEMA - migration_gate postgres',
      '215; 1259 16386 TABLE migration_gate runs postgres',
      '216; 1259 16400 TABLE public users postgres',
      '3350; 0 16400 TABLE DATA public users postgres',
      '217; 1259 16399 SEQUENCE public users_id_seq postgres',
      '3356; 0 0 SEQUENCE SET public users_id_seq postgres',
      '218; 1259 16420 MATERIALIZED VIEW public stats postgres',
    ].join('\n'),
  );
  expect(toc.map((e) => [e.type, e.schema, e.name])).toEqual([
    ['SCHEMA', '-', 'migration_gate'],
    ['TABLE', 'migration_gate', 'runs'],
    ['TABLE', 'public', 'users'],
    ['TABLE DATA', 'public', 'users'],
    ['SEQUENCE', 'public', 'users_id_seq'],
    ['SEQUENCE SET', 'public', 'users_id_seq'],
    ['MATERIALIZED VIEW', 'public', 'stats'],
  ]);
});

test('withDatabase swaps the database and keeps scheme, credentials and parameters', () => {
  expect(withDatabase('postgresql+psycopg2://u:p%40ss@db:5433/postgres?sslmode=require', 'mg_x')).toBe(
    'postgresql+psycopg2://u:p%40ss@db:5433/mg_x?sslmode=require',
  );
  expect(scratchName(new Date('2026-11-25T08:09:10Z'))).toMatch(/^mg_rehearsal_20261125080910_[0-9a-f]{6}$/);
});

test('median', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 2, 3])).toBe(2.5);
});
