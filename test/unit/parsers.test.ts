import { initPythonParser, parsePython, firstSyntaxError } from '../../src/alembic/python.js';
import { initSqlParser, parseSql } from '../../src/classify/sql.js';

beforeAll(async () => {
  await initPythonParser();
  await initSqlParser();
});

test('python parser reports the first syntax error with its line', () => {
  const ok = parsePython('revision = "a"\n');
  expect(firstSyntaxError(ok.rootNode)).toBeUndefined();
  const bad = parsePython('revision = "a"\ndef upgrade(:\n    pass\n');
  expect(firstSyntaxError(bad.rootNode)?.line).toBe(2);
});

test('sql parser splits statements and names their node types', () => {
  const result = parseSql('DROP TABLE users; UPDATE t SET a = 1');
  expect(result.ok).toBe(true);
  if (result.ok) {
    expect(result.statements.map((s) => s.type)).toEqual(['DropStmt', 'UpdateStmt']);
    expect(result.statements[1]!.text).toBe('UPDATE t SET a = 1');
  }
  expect(parseSql('DROP TABLEX users').ok).toBe(false);
});
