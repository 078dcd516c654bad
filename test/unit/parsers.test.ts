import { initPythonParser, parsePython, firstSyntaxError, plainLiteral } from '../../src/alembic/python.js';
import { evalValue } from '../../src/classify/extract.js';
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

/** The value of each literal as Python reads it, through the parser and the extractor's evaluation. */
function valueOf(literal: string): unknown {
  const tree = parsePython(`x = ${literal}\n`);
  try {
    const right = tree.rootNode.namedChildren[0]!.namedChildren[0]!.childForFieldName('right')!;
    return evalValue(right, undefined);
  } finally {
    tree.delete();
  }
}

test('a plain literal is read from its text, every other one through its children, with the same value', () => {
  const cases: Array<[string, string | undefined, string]> = [
    // [literal as written, plainLiteral's answer, Python's value]
    ['"users"', 'users', 'users'],
    ["''", '', ''],
    ['""', '', ''],
    ['""""""', '', ''],
    ["'''a 'quoted' b'''", "a 'quoted' b", "a 'quoted' b"],
    ['"""line one\nline two"""', 'line one\nline two', 'line one\nline two'],
    ['"it\'s"', "it's", "it's"],
    ['"naïve 日本"', 'naïve 日本', 'naïve 日本'],
    ['"a\\tb"', undefined, 'a\tb'],
    ['"a\\\nb"', undefined, 'ab'],
    ["r'a\\nb'", undefined, 'a\\nb'],
    ["u'x'", undefined, 'x'],
    ["R'''x'''", undefined, 'x'],
  ];
  for (const [literal, plain, value] of cases) {
    expect([literal, plainLiteral(literal)]).toEqual([literal, plain]);
    expect([literal, valueOf(literal)]).toEqual([literal, { kind: 'str', value }]);
  }
  // Not str values at all: the fast path must not claim them.
  expect(plainLiteral("b'x'")).toBeUndefined();
  expect(plainLiteral("f'{x}'")).toBeUndefined();
  // A token cut before its closing quotes (a file read only up to the size cap).
  expect(plainLiteral('"""abc')).toBeUndefined();
  expect(plainLiteral('"""')).toBeUndefined();
  expect(plainLiteral('"')).toBeUndefined();
});
