/**
 * Ties Alembic's lifetime to the gate's. If the gate is killed (SIGKILL, the OOM killer, the instance
 * stopping) nothing of ours runs any more, so the guarantee has to come from the kernel: a few lines
 * of Python set PR_SET_PDEATHSIG (SIGKILL when the parent dies) and then exec Alembic in the same
 * process. The kernel kills Alembic the moment the gate disappears; its socket closes, and with
 * client_connection_check_interval (PostgreSQL 14+) the server aborts the running statement and rolls
 * the migration's transaction back instead of finishing it for a client that is gone.
 *
 * Python is used because Alembic needs it anyway (no extra dependency) and because exec keeps the
 * death signal: no supervisor process stays between the gate and Alembic, so the exit code, signals
 * and output are Alembic's own.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Written to stderr by the guard when the command to exec does not exist (exit 127, as a shell does). */
export const GUARD_NOT_FOUND = 'migration-gate-guard: not found:';
/** The guard's exit code when the gate died before the death signal was armed (as if SIGKILLed). */
export const GUARD_PARENT_GONE = 137;

// argv: [parent pid, command, ...args]. PR_SET_PDEATHSIG is 1. The getppid() check closes the race
// where the gate dies between fork and prctl (the signal would then never come). Off Linux there is
// no prctl: the guard only checks the parent and execs (the gate's own signal handling still applies).
const GUARD_SOURCE = `import os, signal, sys
parent = int(sys.argv[1])
if sys.platform.startswith("linux"):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:
        sys.stderr.write("migration-gate-guard: prctl(PR_SET_PDEATHSIG) failed: errno %d\\n" % ctypes.get_errno())
        os._exit(125)
if os.getppid() != parent:
    os._exit(${GUARD_PARENT_GONE})
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except FileNotFoundError:
    sys.stderr.write("${GUARD_NOT_FOUND} %s\\n" % sys.argv[2])
    os._exit(127)
except PermissionError as e:
    sys.stderr.write("migration-gate-guard: cannot execute %s: %s\\n" % (sys.argv[2], e.strerror))
    os._exit(126)
`;

function isPython(file: string): boolean {
  return /^python(\d+(\.\d+)*)?$/.test(path.basename(file));
}

/**
 * The interpreter that runs the guard: the command itself when it is a Python (`python -m alembic`),
 * else the Python next to the Alembic script (a virtualenv's bin/ always has one, and it is the
 * interpreter Alembic itself runs on), else `python3` from PATH.
 */
export function guardInterpreter(
  file: string,
  cwd: string,
  exists: (p: string) => boolean = existsSync,
): string {
  if (isPython(file)) return file;
  if (file.includes('/')) {
    const dir = path.dirname(path.resolve(cwd, file));
    for (const name of ['python3', 'python']) {
      const candidate = path.join(dir, name);
      if (exists(candidate)) return candidate;
    }
  }
  return 'python3';
}

export interface GuardedCommand {
  file: string;
  args: string[];
}

/**
 * The command line that runs `file args` under the guard, for a child of the process `parentPid`
 * (the gate). -I -S keep the guard's own start-up short and independent of PYTHON* variables; the
 * exec'd command gets the environment unchanged.
 */
export function guardedCommand(
  file: string,
  args: string[],
  opts: { parentPid: number; cwd: string; exists?: (p: string) => boolean },
): GuardedCommand {
  const python = guardInterpreter(file, opts.cwd, opts.exists);
  return { file: python, args: ['-I', '-S', '-c', GUARD_SOURCE, String(opts.parentPid), file, ...args] };
}

/** The command the guard could not find, from its stderr lines; undefined when it found it. */
export function guardNotFound(lines: string[]): string | undefined {
  const line = lines.find((l) => l.startsWith(GUARD_NOT_FOUND));
  return line?.slice(GUARD_NOT_FOUND.length).trim();
}

/**
 * libpq options that make the server notice a vanished client while a statement runs (PostgreSQL 14+
 * only: older servers refuse the unknown setting at connect time, so it is left out for them).
 */
export const CLIENT_CHECK_INTERVAL = '2s';
export function clientCheckOption(serverVersionNum: number | undefined): string | undefined {
  if (serverVersionNum === undefined || serverVersionNum < 140000) return undefined;
  return `-c client_connection_check_interval=${CLIENT_CHECK_INTERVAL}`;
}
