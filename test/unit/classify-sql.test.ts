import { initSqlParser, parseSql } from '../../src/classify/sql.js';

beforeAll(async () => {
  await initSqlParser();
});

// libpg-query reports statement offsets in UTF-8 bytes; a non-ASCII character before a
// statement must not shift the text the findings quote.
test('statement text is exact after non-ASCII comments and literals', () => {
  const result = parseSql(
    "-- café\nUPDATE t SET name = 'José' WHERE id = 1; DROP TABLE légumes; ALTER TABLE t DROP COLUMN naïve",
  );
  expect(result.ok).toBe(true);
  if (!result.ok) return;
  expect(result.statements.map((s) => s.text)).toEqual([
    "-- café\nUPDATE t SET name = 'José' WHERE id = 1",
    'DROP TABLE légumes',
    'ALTER TABLE t DROP COLUMN naïve',
  ]);
});

test('an emoji (two UTF-16 units, four bytes) before a statement keeps the next one whole', () => {
  const result = parseSql("SELECT '🚀'; DELETE FROM t");
  expect(result.ok).toBe(true);
  if (result.ok) expect(result.statements[1]!.text).toBe('DELETE FROM t');
});
