import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interpolate, loadAlembicConfig, parseIni, splitVersionLocations } from '../../src/alembic/config.js';
import { ConfigError } from '../../src/errors.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/alembic-config');
const ini = (name: string): string => path.join(fixtures, name, 'alembic.ini');
const dir = (name: string, ...rest: string[]): string => path.join(fixtures, name, ...rest);

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('loadAlembicConfig', () => {
  test('reads script_location with %(here)s, defaults version_locations, reads version_table', async () => {
    const project = await loadAlembicConfig(ini('basic'));
    expect(project).toEqual({
      iniPath: ini('basic'),
      projectDir: dir('basic'),
      scriptLocation: dir('basic', 'migrations'),
      versionLocations: [dir('basic', 'migrations', 'versions')],
      versionTable: 'schema_revisions',
    });
  });

  test('accepts a relative ini path', async () => {
    const rel = path.relative(process.cwd(), ini('basic'));
    expect((await loadAlembicConfig(rel)).iniPath).toBe(ini('basic'));
  });

  test('interpolates DEFAULT and same-section options, %%, continuation lines, comments, newline separator', async () => {
    const project = await loadAlembicConfig(ini('interp'));
    expect(project.scriptLocation).toBe(dir('interp', 'db', 'mig'));
    expect(project.versionLocations).toEqual([dir('interp', 'db', 'mig', 'versions')]);
  });

  test('resolves a relative script_location against the directory of alembic.ini', async () => {
    expect((await loadAlembicConfig(ini('relative'))).scriptLocation).toBe(dir('relative', 'migrations'));
  });

  test('splits version_locations on path_separator = os and drops duplicates', async () => {
    expect((await loadAlembicConfig(ini('multi'))).versionLocations).toEqual([
      dir('multi', 'migrations', 'versions'),
      dir('multi', 'extra'),
    ]);
  });

  test('without a separator, splits on commas and spaces like Alembic 1.x legacy mode', async () => {
    expect((await loadAlembicConfig(ini('legacy'))).versionLocations).toEqual([
      dir('legacy', 'migrations', 'versions'),
      dir('legacy', 'extra'),
      dir('legacy', 'more'),
    ]);
  });

  test('honours version_path_separator, relative version locations and recursive_version_locations', async () => {
    const project = await loadAlembicConfig(ini('newline'));
    expect(project.versionLocations).toEqual([
      dir('newline', 'migrations', 'versions'),
      dir('newline', 'extra'),
    ]);
    expect(project.recursive).toBe(true);
    expect((await loadAlembicConfig(ini('recursive'))).recursive).toBe(true);
    expect((await loadAlembicConfig(ini('basic'))).recursive).toBeUndefined();
  });

  test('missing file', async () => {
    const err = await configError(loadAlembicConfig(dir('nope', 'alembic.ini')));
    expect(err.message).toBe(
      `cannot read Alembic config ${dir('nope', 'alembic.ini')}: file not found; pass the path of your alembic.ini with --config`,
    );
  });

  test('a directory instead of a file', async () => {
    const err = await configError(loadAlembicConfig(dir('basic')));
    expect(err.message).toContain('it is a directory');
  });

  test('no [alembic] section', async () => {
    const err = await configError(loadAlembicConfig(ini('no-section')));
    expect(err.message).toBe(
      `${ini('no-section')} has no [alembic] section; is this the right file? (migration-gate reads script_location from [alembic])`,
    );
  });

  test('no script_location', async () => {
    const err = await configError(loadAlembicConfig(ini('no-script')));
    expect(err.message).toBe(
      `${ini('no-script')}: no script_location in [alembic]; add e.g. 'script_location = %(here)s/migrations'`,
    );
  });

  test('script directory missing', async () => {
    const err = await configError(loadAlembicConfig(ini('missing-dir')));
    expect(err.message).toBe(
      `${ini('missing-dir')}: script_location ${dir('missing-dir', 'does-not-exist')} is not a directory; fix script_location (relative paths are resolved against the directory of alembic.ini)`,
    );
  });

  test('package:dir script_location is unsupported', async () => {
    const err = await configError(loadAlembicConfig(ini('package')));
    expect(err.message).toBe(
      `${ini('package')}: script_location 'myapp:migrations' is a package resource (package:dir), which migration-gate does not support; use a path such as %(here)s/migrations`,
    );
  });

  test('unknown path_separator', async () => {
    const err = await configError(loadAlembicConfig(ini('bad-sep')));
    expect(err.message).toBe(
      `${ini('bad-sep')}: 'pipe' is not a valid path_separator; use one of os, space, newline, ':', ';', ','`,
    );
  });

  test('every message is one line', async () => {
    for (const name of ['no-section', 'no-script', 'missing-dir', 'package', 'bad-sep']) {
      const err = await configError(loadAlembicConfig(ini(name)));
      expect(err.message).not.toContain('\n');
    }
  });
});

describe('parseIni / interpolate (configparser semantics)', () => {
  test('delimiters, case-folded keys, continuation lines with kept blank lines, comments', () => {
    const parsed = parseIni(
      [
        '[alembic]',
        'A = 1',
        'b: two: three',
        'multi =',
        '  x',
        '',
        '  # gone',
        '  y',
        '',
        '; comment',
        'c=3',
      ].join('\n'),
      'x.ini',
    );
    const sec = parsed.sections.get('alembic')!;
    expect(sec.get('a')).toBe('1');
    expect(sec.get('b')).toBe('two: three');
    expect(sec.get('multi')).toBe('\nx\n\ny');
    expect(sec.get('c')).toBe('3');
  });

  test('repeated sections merge; DEFAULT is inherited', () => {
    const parsed = parseIni('[DEFAULT]\nd = 1\n[s]\na = %(d)s\n[s]\nb = 2\n', 'x.ini');
    expect(interpolate(parsed, 's', 'a', 'x.ini')).toBe('1');
    expect(interpolate(parsed, 's', 'b', 'x.ini')).toBe('2');
    expect(interpolate(parsed, 's', 'd', 'x.ini')).toBe('1');
    expect(interpolate(parsed, 's', 'missing', 'x.ini')).toBeUndefined();
  });

  test('interpolation errors are ConfigErrors naming the file', () => {
    const parsed = parseIni('[s]\na = %(nope)s\nb = 50%\nc = %(c)s\n', 'x.ini');
    expect(() => interpolate(parsed, 's', 'a', 'x.ini')).toThrow(
      "x.ini: option 'a' in [s] refers to %(nope)s, which is not set in [s] or [DEFAULT]",
    );
    expect(() => interpolate(parsed, 's', 'b', 'x.ini')).toThrow(
      "x.ini: bad '%' in option 'b' of [s]: write '%%' for a literal percent sign or %(name)s to refer to another option",
    );
    expect(() => interpolate(parsed, 's', 'c', 'x.ini')).toThrow(
      'refers to itself through %(...)s too many times',
    );
  });

  test('text before any section and lines without a delimiter are errors with a line number', () => {
    expect(() => parseIni('a = 1\n[s]\n', 'x.ini')).toThrow(
      'x.ini:1: line before any [section] header; an ini file must start with a section such as [alembic]',
    );
    expect(() => parseIni('[s]\njust words\n', 'x.ini')).toThrow(
      `x.ini:2: expected 'key = value', got "just words"`,
    );
  });

  test('splitVersionLocations', () => {
    expect(splitVersionLocations('a, b  c,d', undefined, 'x')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitVersionLocations('a b', 'space', 'x')).toEqual(['a', 'b']);
    expect(splitVersionLocations('a:b', 'os', 'x')).toEqual(['a', 'b']);
    expect(splitVersionLocations('a; b;', ';', 'x')).toEqual(['a', 'b']);
    expect(splitVersionLocations('a,b', ',', 'x')).toEqual(['a', 'b']);
    expect(splitVersionLocations('\na b\nc', 'newline', 'x')).toEqual(['a b', 'c']);
  });
});
