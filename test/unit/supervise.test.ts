import {
  clientCheckOption,
  guardedCommand,
  guardInterpreter,
  guardNotFound,
} from '../../src/alembic/supervise.js';
import { pgOptions } from '../../src/alembic/runner.js';

describe('the guard that ties alembic to the gate', () => {
  const only =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);

  test('runs on the Python next to a virtualenv alembic, relative paths from the cwd', () => {
    expect(guardInterpreter('.venv/bin/alembic', '/app', only('/app/.venv/bin/python3'))).toBe(
      '/app/.venv/bin/python3',
    );
    expect(guardInterpreter('/opt/v/bin/alembic', '/app', only('/opt/v/bin/python'))).toBe(
      '/opt/v/bin/python',
    );
  });

  test('a Python command guards itself; a bare or lone alembic falls back to python3 from PATH', () => {
    expect(guardInterpreter('python3.12', '/app', only())).toBe('python3.12');
    expect(guardInterpreter('/usr/bin/python', '/app', only())).toBe('/usr/bin/python');
    expect(guardInterpreter('alembic', '/app', only())).toBe('python3');
    expect(guardInterpreter('/usr/local/bin/alembic', '/app', only())).toBe('python3');
  });

  test('the guard names the command it could not find', () => {
    expect(guardNotFound(['x', 'migration-gate-guard: not found: /opt/alembic'])).toBe('/opt/alembic');
    expect(guardNotFound(['alembic: some other error'])).toBeUndefined();
  });

  test('the command line keeps the command and its arguments intact after the parent pid', () => {
    const g = guardedCommand('.venv/bin/alembic', ['-c', 'a b.ini', 'upgrade', 'head'], {
      parentPid: 4242,
      cwd: '/app',
      exists: only(),
    });
    expect(g.file).toBe('python3');
    expect(g.args.slice(0, 3)).toEqual(['-I', '-S', '-c']);
    expect(g.args.slice(4)).toEqual(['4242', '.venv/bin/alembic', '-c', 'a b.ini', 'upgrade', 'head']);
  });
});

describe('PGOPTIONS for the migration session', () => {
  test('the client check goes only to servers that know it (PostgreSQL 14+)', () => {
    expect(clientCheckOption(130011)).toBeUndefined();
    expect(clientCheckOption(undefined)).toBeUndefined();
    expect(clientCheckOption(150004)).toBe('-c client_connection_check_interval=2s');
    expect(pgOptions('-c search_path=app', '5s', '0', clientCheckOption(160000))).toBe(
      '-c search_path=app -c lock_timeout=5s -c statement_timeout=0 -c client_connection_check_interval=2s',
    );
  });
});
