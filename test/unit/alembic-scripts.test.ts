import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAlembicConfig } from '../../src/alembic/config.js';
import { initPythonParser } from '../../src/alembic/python.js';
import { loadMigrations, parseMigrationSource } from '../../src/alembic/scripts.js';
import { extractBody } from '../../src/classify/extract.js';
import { ConfigError } from '../../src/errors.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');

beforeAll(async () => {
  await initPythonParser();
});

const parse = (source: string) =>
  parseMigrationSource(source, '/p/versions/x.py', 'versions/x.py', { body: extractBody });

function parseError(source: string): string {
  try {
    parse(source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseMigrationSource', () => {
  test('reads the typed header Alembic 1.13+ writes, the docstring message and both functions', () => {
    const s = parse(
      [
        '"""Add users table',
        '',
        'Revision ID: abc123',
        '"""',
        'from typing import Sequence, Union',
        '',
        "revision: str = 'abc123'",
        'down_revision: Union[str, Sequence[str], None] = ("p1", "p2")',
        'branch_labels: Union[str, Sequence[str], None] = None',
        "depends_on: Union[str, Sequence[str], None] = ['dep1']",
        '',
        'def upgrade() -> None:',
        "    op.create_table('users')",
        '',
        '',
        'def downgrade() -> None:',
        "    op.drop_table('users')",
        '',
      ].join('\n'),
    );
    expect(s.revision).toBe('abc123');
    expect(s.downRevisions).toEqual(['p1', 'p2']);
    expect(s.branchLabels).toEqual([]);
    expect(s.dependsOn).toEqual(['dep1']);
    expect(s.message).toBe('Add users table');
    expect(s.path).toBe('/p/versions/x.py');
    expect(s.file).toBe('versions/x.py');
    // The tree is freed after parsing: what is kept are the operations, with their lines.
    expect(s.body?.upgrade).toEqual([
      expect.objectContaining({ kind: 'op', name: 'create_table', line: 13 }),
    ]);
    expect(s.body?.downgrade).toEqual([
      expect.objectContaining({ kind: 'op', name: 'drop_table', line: 17 }),
    ]);
    expect(s).not.toHaveProperty('root');
  });

  test('untyped header, string labels, escapes, implicit concatenation, parentheses', () => {
    const s = parse(
      [
        'revision = \'ab\' "cd"',
        'down_revision = ("x\\x41")',
        "branch_labels = 'shared'",
        "depends_on = r'\\d'",
        'def upgrade():',
        '    pass',
      ].join('\n'),
    );
    expect(s.revision).toBe('abcd');
    expect(s.downRevisions).toEqual(['xA']);
    expect(s.branchLabels).toEqual(['shared']);
    expect(s.dependsOn).toEqual(['\\d']);
    expect(s.message).toBeUndefined();
    expect(s.body?.downgrade).toBeUndefined();
  });

  test('the last module-level assignment wins; nested ones, chained and bare annotations are handled', () => {
    const s = parse(
      [
        "revision = 'old'",
        "revision = 'new'",
        'down_revision = depends_on = None',
        'branch_labels: Sequence[str]',
        'def helper():',
        "    revision = 'inner'",
        'class Upgrade:',
        '    def upgrade(self): pass',
        '@decorated',
        'def upgrade():',
        '    pass',
      ].join('\n'),
    );
    expect(s.revision).toBe('new');
    expect(s.downRevisions).toEqual([]);
    expect(s.dependsOn).toEqual([]);
    expect(s.branchLabels).toEqual([]);
    expect(s.body?.upgrade).toEqual([]);
  });

  test('an empty tuple or None down_revision means a base', () => {
    expect(parse("revision = 'a'\ndown_revision = ()\n").downRevisions).toEqual([]);
    expect(parse("revision = 'a'\ndown_revision = None\n").downRevisions).toEqual([]);
    expect(parse("revision = 'a'\n").downRevisions).toEqual([]);
  });

  test('syntax error names file:line', () => {
    expect(parseError("revision = 'a'\n\ndef upgrade(:\n    pass\n")).toMatch(
      /^versions\/x\.py:3: Python syntax error \(.+\); fix the migration file so Alembic can import it$/,
    );
  });

  test('missing revision', () => {
    expect(parseError('down_revision = None\ndef upgrade():\n    pass\n')).toBe(
      `versions/x.py:1: no module-level 'revision = "..."' assignment; every Alembic migration needs a literal revision id`,
    );
  });

  test('computed revision', () => {
    expect(parseError('import uuid\nrevision = uuid.uuid4().hex[:12]\n')).toBe(
      'versions/x.py:2: revision must be a literal non-empty string, got "uuid.uuid4().hex[:12]"; migration-gate reads migrations without running them',
    );
    expect(parseError("x = 'a'\nrevision = f'{x}b'\n")).toContain(
      'versions/x.py:2: revision must be a literal',
    );
    expect(parseError("revision = b'abc'\n")).toContain('versions/x.py:1: revision must be a literal');
    expect(parseError('revision = None\n')).toContain('versions/x.py:1: revision must be a literal');
  });

  test('computed down_revision', () => {
    expect(parseError("revision = 'a'\n\ndown_revision = PREVIOUS\n")).toBe(
      'versions/x.py:3: down_revision must be None, a string, or a tuple/list of strings, got "PREVIOUS"; migration-gate reads migrations without running them',
    );
    expect(parseError("revision = 'a'\ndepends_on = ('x', None)\n")).toContain(
      'versions/x.py:2: depends_on must be',
    );
  });
});

describe('loadMigrations', () => {
  test('reads version locations in Alembic order: sorted names, recursive sub-directories, skipping __init__ and __pycache__', async () => {
    const project = await loadAlembicConfig(path.join(fixtures, 'graphs/recursive/alembic.ini'));
    const scripts = await loadMigrations(project);
    expect(scripts.map((s) => s.file)).toEqual([
      'versions/b_base.py',
      'versions/another/m_right.py',
      'versions/sub/z_left.py',
      'versions/sub/deeper/a_left2.py',
      'more/c_mid.py',
      'more/k_merge.py',
    ]);
    expect(scripts[0]!.path).toBe(path.join(fixtures, 'graphs/recursive/versions/b_base.py'));
  });

  test('not recursive unless configured', async () => {
    const project = await loadAlembicConfig(path.join(fixtures, 'graphs/recursive/alembic.ini'));
    const scripts = await loadMigrations({ ...project, recursive: false });
    expect(scripts.map((s) => s.file)).toEqual(['versions/b_base.py', 'more/c_mid.py', 'more/k_merge.py']);
  });

  test('a missing version directory is skipped, as Alembic does', async () => {
    const project = await loadAlembicConfig(path.join(fixtures, 'graphs/linear/alembic.ini'));
    const scripts = await loadMigrations({
      ...project,
      versionLocations: ['/nonexistent/dir', ...project.versionLocations],
    });
    expect(scripts).toHaveLength(4);
  });

  test('unreadable file names file:line', async () => {
    const project = await loadAlembicConfig(path.join(fixtures, 'alembic-scripts/unreadable/alembic.ini'));
    await expect(loadMigrations(project)).rejects.toThrow(
      'versions/broken.py: cannot read migration file (ENOENT); fix the file or its permissions',
    );
  });
});
