/**
 * A throwaway local PostgreSQL cluster: initdb into a temp dir, start on a free port, stop and delete.
 * Used by `rehearse` when no REHEARSAL_DATABASE_URL is given, and by the demo. The server refuses to
 * run as root, so as root every binary runs as the `postgres` user through runuser.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import { FailedError } from '../errors.js';

export interface LocalCluster {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  dataDir: string;
  binDir: string;
  /** Server URL for a database on this cluster (default: postgres). */
  url(database?: string): string;
  /** Stops the server (immediate mode) and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'install the PostgreSQL server (apt-get install postgresql), or set REHEARSAL_DATABASE_URL to a server where the gate may create a scratch database';

/** The directory holding initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/N/bin. */
export function findPgBinDir(env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const initdb = join(dir, 'initdb');
    if (dir && existsSync(initdb) && existsSync(join(dir, 'pg_ctl'))) {
      // /usr/local/bin/initdb may be a symlink; `postgres` lives next to the real one.
      return dirname(realpathSync(initdb));
    }
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter(
          (v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')),
        )
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new FailedError(
      `cannot start a local scratch cluster: initdb and pg_ctl were not found on PATH or in /usr/lib/postgresql/*/bin; ${INSTALL_HINT}`,
    );
  }
  return join(root, versions[0]!, 'bin');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => {
    const r = await execa('id', [flag, 'postgres'], { reject: false });
    if (r.exitCode !== 0) {
      throw new FailedError(
        `cannot start a local scratch cluster as root: there is no 'postgres' user to run the server as; ${INSTALL_HINT}`,
      );
    }
    return Number(String(r.stdout).trim());
  };
  return { uid: await id('-u'), gid: await id('-g') };
}

export interface StartClusterOptions {
  binDir?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export async function startLocalCluster(opts: StartClusterOptions = {}): Promise<LocalCluster> {
  const binDir = opts.binDir ?? findPgBinDir();
  const root = isRoot();
  const dir = await mkdtemp(join(tmpdir(), 'mg-rehearsal-'));
  const dataDir = join(dir, 'data');
  const pwFile = join(dir, 'pw');
  const password = randomBytes(18).toString('base64url');
  const user = root ? 'postgres' : userInfo().username;
  await writeFile(pwFile, password + '\n', { mode: 0o600 });
  if (root) {
    const { uid, gid } = await postgresIds();
    await chown(dir, uid, gid);
    await chown(pwFile, uid, gid);
  }
  const run = async (bin: string, args: string[]) => {
    const [cmd, argv] = root
      ? ['runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args]]
      : [join(binDir, bin), args];
    const r = await execa(cmd, argv, {
      reject: false,
      stdin: 'ignore',
      env: { LC_ALL: 'C' },
      cancelSignal: opts.signal,
    });
    if (r.exitCode !== 0) {
      const why = String(r.stderr || r.stdout || r.shortMessage)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' ');
      throw new FailedError(`cannot start a local scratch cluster: ${bin} failed (${why}); ${INSTALL_HINT}`);
    }
  };

  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      const [cmd, argv] = root
        ? [
            'runuser',
            ['-u', 'postgres', '--', join(binDir, 'pg_ctl'), '-D', dataDir, '-m', 'immediate', '-w', 'stop'],
          ]
        : [join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']];
      await execa(cmd, argv, { reject: false, stdin: 'ignore' });
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    opts.log?.(`Starting a throwaway PostgreSQL cluster in ${dir} (${binDir}).`);
    await run('initdb', [
      '-D',
      dataDir,
      '-U',
      user,
      '--pwfile',
      pwFile,
      '-A',
      'scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const port = await freePort();
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        // A scratch copy: durability buys nothing here, speed does.
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        "log_min_messages = 'warning'",
        '',
      ].join('\n'),
    );
    await run('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    started = true;
    await rm(pwFile, { force: true });
    const host = '127.0.0.1';
    return {
      host,
      port,
      user,
      password,
      dir,
      dataDir,
      binDir,
      url: (database = 'postgres') =>
        `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
