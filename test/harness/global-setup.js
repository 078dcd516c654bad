// Starts one throwaway PostgreSQL cluster for the whole integration run (plain ESM: jest loads it
// untransformed). Connection info goes to a JSON file named by MIGRATION_GATE_TEST_PG; env set here
// is inherited by the test workers and by global-teardown.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  writeFileSync,
  chownSync,
  appendFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

function findBinDir() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const initdb = join(dir, 'initdb');
    if (dir && existsSync(initdb) && existsSync(join(dir, 'pg_ctl'))) {
      // Resolve symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin) so `postgres` is found next to it.
      return dirname(realpathSync(initdb));
    }
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'integration tests need PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql',
    );
  }
  return join(root, versions[0], 'bin');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export default async function globalSetup() {
  const binDir = findBinDir();
  const isRoot = process.getuid?.() === 0;
  // The server refuses to run as root: run the binaries as `postgres` then.
  const asOwner = (bin, args) => {
    const [cmd, argv] = isRoot
      ? ['runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args]]
      : [join(binDir, bin), args];
    return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  };

  const dir = mkdtempSync(join(tmpdir(), 'mg-pg-'));
  const dataDir = join(dir, 'data');
  const pwFile = join(dir, 'pw');
  const password = `pw-${randomBytes(9).toString('hex')}`;
  const user = isRoot ? 'postgres' : userInfo().username;
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(pwFile, uid, gid);
  }

  asOwner('initdb', [
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
    '--no-instructions',
  ]);

  const port = await freePort();
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    [
      '',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      // Throwaway cluster: durability off for speed.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
      "log_min_messages = 'warning'",
      '',
    ].join('\n'),
  );
  // A role that pg_hba refuses without TLS, so "the server requires TLS" is testable without certificates.
  writeFileSync(
    join(dataDir, 'pg_hba.conf'),
    [
      'local all all scram-sha-256',
      'hostnossl all mg_tls_only 127.0.0.1/32 reject',
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );

  asOwner('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);

  const info = {
    host: '127.0.0.1',
    port,
    user,
    password,
    binDir,
    dir,
    dataDir,
    socketDir: dir,
    runAsPostgres: isRoot,
  };
  const infoFile = join(tmpdir(), `mg-pg-${process.pid}-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(infoFile, JSON.stringify(info, null, 2), { mode: 0o600 });
  process.env.MIGRATION_GATE_TEST_PG = infoFile;
}
