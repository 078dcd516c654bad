/**
 * The real guard (a Python process) that ties alembic to the gate: it execs the command unchanged,
 * reports a missing one, refuses to start for a parent that is already gone, and arms the death signal.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { GUARD_NOT_FOUND, guardedCommand, guardNotFound } from '../../src/alembic/supervise.js';

const none = () => false;

test('the real guard execs the command (same exit code) and reports a missing one as 127', () => {
  const ok = guardedCommand('sh', ['-c', 'exit 7'], { parentPid: process.pid, cwd: '/', exists: none });
  expect(spawnSync(ok.file, ok.args).status).toBe(7);
  const missing = guardedCommand('/nonexistent/alembic', [], {
    parentPid: process.pid,
    cwd: '/',
    exists: none,
  });
  const res = spawnSync(missing.file, missing.args, { encoding: 'utf8' });
  expect(res.status).toBe(127);
  expect(guardNotFound(res.stderr.split('\n'))).toBe('/nonexistent/alembic');
  expect(guardNotFound(['alembic: some other error'])).toBeUndefined();
  expect(res.stderr.startsWith(GUARD_NOT_FOUND)).toBe(true);
});

test('a guard whose parent is already gone does not start the command', () => {
  // The parent pid given is not ours: the guard must treat its parent as gone and exit 137.
  const g = guardedCommand('sh', ['-c', 'echo started'], { parentPid: 1, cwd: '/', exists: none });
  const res = spawnSync(g.file, g.args, { encoding: 'utf8' });
  expect(res.status).toBe(137);
  expect(res.stdout).toBe('');
});

test('on Linux the death signal is armed before the exec (PR_GET_PDEATHSIG reads SIGKILL)', () => {
  const probe =
    'import ctypes, signal; libc = ctypes.CDLL(None); v = ctypes.c_int(); libc.prctl(2, ctypes.byref(v)); print(v.value)';
  const g = guardedCommand('python3', ['-c', probe], { parentPid: process.pid, cwd: '/', exists: none });
  expect(execFileSync(g.file, g.args, { encoding: 'utf8' }).trim()).toBe('9');
});
