/** The pure parts of `pg-client install`: ar reading, Debian index parsing, version order, client choice. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { FailedError } from '../../src/errors.js';
import { readAr } from '../../src/pgclient/deb.js';
import { chooseClient, type InstalledClient } from '../../src/pgclient/discover.js';
import { codenameFrom, debianArch } from '../../src/pgclient/install.js';
import {
  compareDebVersions,
  parseControl,
  pickPackage,
  releaseHashes,
  safePoolPath,
} from '../../src/pgclient/repo.js';
import { repoRoot } from '../helpers/project.js';

function ar(members: Array<[string, string]>): Buffer {
  const parts = [Buffer.from('!<arch>\n')];
  for (const [name, body] of members) {
    const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(body.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(header), Buffer.from(body));
    if (body.length % 2) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

describe('readAr', () => {
  it('reads members, padding included', () => {
    const m = readAr(
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.xz', 'abc'],
        ['data.tar.xz', 'hello'],
      ]),
      'x.deb',
    );
    expect(m.map((x) => [x.name, x.data.toString()])).toEqual([
      ['debian-binary', '2.0\n'],
      ['control.tar.xz', 'abc'],
      ['data.tar.xz', 'hello'],
    ]);
  });
  it('refuses what is not an ar archive, and truncated members', () => {
    expect(() => readAr(Buffer.from('<html>not found</html>'), 'x.deb')).toThrow(
      new FailedError('x.deb is not a Debian package (no ar header)'),
    );
    const cut = ar([['data.tar.xz', 'hello world']]).subarray(0, 75);
    expect(() => readAr(cut, 'x.deb')).toThrow('x.deb has a truncated ar member (data.tar.xz)');
  });
});

describe('Debian index', () => {
  const packages = `Package: libpq5
Version: 17.2-1.pgdg120+1
Architecture: amd64
Filename: pool/main/p/postgresql-17/libpq5_17.2-1.pgdg120+1_amd64.deb
Size: 200
SHA256: ${'a'.repeat(64)}
Description: library
 continued here

Package: libpq5
Version: 18.1-1.pgdg120+2
Architecture: amd64
Filename: pool/main/p/postgresql-18/libpq5_18.1-1.pgdg120+2_amd64.deb
Size: 210
SHA256: ${'b'.repeat(64)}

Package: libpq5
Version: 19~beta1-1.pgdg120+1
Architecture: arm64
Filename: pool/main/p/postgresql-19/libpq5_19~beta1_arm64.deb
Size: 210
SHA256: ${'c'.repeat(64)}
`;
  it('parses stanzas with continuation lines and picks the newest for the architecture', () => {
    const st = parseControl(packages);
    expect(st).toHaveLength(3);
    expect(st[0]!.Description).toBe('library\ncontinued here');
    expect(pickPackage(st, 'libpq5', 'amd64')).toEqual({
      name: 'libpq5',
      version: '18.1-1.pgdg120+2',
      filename: 'pool/main/p/postgresql-18/libpq5_18.1-1.pgdg120+2_amd64.deb',
      size: 210,
      sha256: 'b'.repeat(64),
    });
    expect(pickPackage(st, 'postgresql-client-18', 'amd64')).toBeUndefined();
  });
  it('reads the SHA256 list of a Release file', () => {
    const [rel] = parseControl(
      `Suite: bookworm-pgdg\nSHA256:\n ${'d'.repeat(64)} 1234 main/binary-amd64/Packages\n ${'e'.repeat(64)} 99 main/binary-amd64/Packages.gz\n`,
    );
    expect(releaseHashes(rel!).get('main/binary-amd64/Packages.gz')).toEqual({
      sha256: 'e'.repeat(64),
      size: 99,
    });
  });
  it('orders versions as dpkg does', () => {
    expect(compareDebVersions('18.1-1.pgdg120+2', '18.1-1.pgdg120+1')).toBeGreaterThan(0);
    expect(compareDebVersions('18~beta1-1', '18-1')).toBeLessThan(0);
    expect(compareDebVersions('1:15.0-1', '18.0-1')).toBeGreaterThan(0);
    expect(compareDebVersions('15.10-1', '15.9-1')).toBeGreaterThan(0);
    expect(compareDebVersions('15.18-0+deb12u1', '15.18-0+deb12u1')).toBe(0);
  });
  it('only accepts pool paths that stay inside the repository', () => {
    expect(safePoolPath('pool/main/p/postgresql-18/libpq5_18.1-1.pgdg120+2_amd64.deb')).toBe(true);
    expect(safePoolPath('../../etc/passwd')).toBe(false);
    expect(safePoolPath('/etc/passwd')).toBe(false);
    expect(safePoolPath('pool/$(reboot).deb')).toBe(false);
  });
});

describe('platform', () => {
  it('maps Node architectures to dpkg names and reads the codename', () => {
    expect(debianArch('x64')).toBe('amd64');
    expect(debianArch('arm64')).toBe('arm64');
    expect(debianArch('ia32')).toBeUndefined();
    expect(codenameFrom('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')).toBe(
      'bookworm',
    );
    expect(codenameFrom('NAME=Alpine\n')).toBeUndefined();
  });
  it('ships the PGDG signing key', async () => {
    const key = await openpgp.readKey({
      armoredKey: readFileSync(path.join(repoRoot, 'assets/pgdg/apt.postgresql.org.asc'), 'utf8'),
    });
    expect(key.getFingerprint().toUpperCase()).toBe('B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8');
  });
});

describe('chooseClient', () => {
  const settings = { pgDump: 'pg_dump', pgRestore: 'pg_restore' };
  const installed = (major: number): InstalledClient => ({
    major,
    dir: `/app/.migration-gate/pg/${major}`,
    manifest: {
      major,
      version: `${major}.1`,
      source: 'https://apt.postgresql.org/pub/repos/apt',
      suite: 'bookworm-pgdg',
      arch: 'amd64',
      installedAt: '2026-12-01T00:00:00.000Z',
      packages: [
        { name: `postgresql-client-${major}`, version: `${major}.1-1.pgdg120+1`, sha256: 'f'.repeat(64) },
      ],
    },
  });
  it('uses the newest installed client and says where it came from', () => {
    const c = chooseClient(settings, {}, [installed(18), installed(16)], '/app');
    expect(c).toMatchObject({
      origin: 'bundled',
      pgDump: '/app/.migration-gate/pg/18/bin/pg_dump',
      pgRestore: '/app/.migration-gate/pg/18/bin/pg_restore',
    });
    expect(c.description).toBe(
      'PostgreSQL 18.1 client in .migration-gate/pg/18 (postgresql-client-18 18.1-1.pgdg120+1 from https://apt.postgresql.org/pub/repos/apt bookworm-pgdg, installed 2026-12-01T00:00:00.000Z)',
    );
  });
  it('an explicit MIGRATION_GATE_PG_DUMP wins; without any install it is PATH', () => {
    const explicit = chooseClient(
      { pgDump: '/opt/pg/bin/pg_dump', pgRestore: 'pg_restore' },
      { MIGRATION_GATE_PG_DUMP: '/opt/pg/bin/pg_dump' },
      [installed(18)],
      '/app',
    );
    expect(explicit).toMatchObject({ origin: 'setting', pgDump: '/opt/pg/bin/pg_dump' });
    const none = chooseClient(settings, {}, [], '/app');
    expect(none.origin).toBe('path');
    expect(none.description).toContain('`migration-gate pg-client install` adds one');
  });
});
