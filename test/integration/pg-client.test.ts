/**
 * `pg-client install` end to end: the built CLI fetches postgresql-client-15 + libpq5 from a fixture
 * PGDG repository on loopback (this machine's own Debian packages, signed with a key made here),
 * verifies and unpacks them into .migration-gate/pg/15/, and `run` then dumps the harness's server
 * with those binaries. Tampering with a package, with the index or with the signature is refused
 * and leaves nothing behind.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { codenameFrom, debianArch } from '../../src/pgclient/install.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { buildRepo, copyRepo, makeKey, serveDir, writeIndex, type StaticServer } from '../helpers/pgdg.js';
import {
  EXAMPLE_ADDITIVE,
  EXAMPLE_BASE,
  repoRoot,
  tempProject,
  type TempProject,
} from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const arch = debianArch(process.arch)!;
const codename = codenameFrom(readFileSync('/etc/os-release', 'utf8'))!;
const suite = `${codename}-pgdg`;

let root: string;
let server: StaticServer;
let keyFile: string;
let project: TempProject;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mg-pgdg-'));
  const key = await makeKey('fixture PGDG');
  const other = await makeKey('someone else');
  await buildRepo(path.join(root, 'good'), suite, arch, key);

  // A package altered after the index was signed.
  copyRepo(path.join(root, 'good'), path.join(root, 'bad-deb'));
  const pool = path.join(root, 'bad-deb/pool/main/p/postgresql-client-15');
  const deb = path.join(pool, readdirSync(pool)[0]!);
  const bytes = readFileSync(deb);
  bytes[bytes.length - 100] ^= 0xff;
  writeFileSync(deb, bytes);

  // A newer release of the package (other bytes, so another hash in a correctly signed index),
  // tampered with after signing: an update that must not replace a working client.
  copyRepo(path.join(root, 'good'), path.join(root, 'bad-update'));
  const upd = path.join(root, 'bad-update/pool/main/p/postgresql-client-15');
  const updDeb = path.join(upd, readdirSync(upd)[0]!);
  writeFileSync(updDeb, Buffer.concat([readFileSync(updDeb), Buffer.from('\n')]));
  await writeIndex(path.join(root, 'bad-update'), suite, arch, key);
  const updBytes = readFileSync(updDeb);
  updBytes[updBytes.length - 100] ^= 0xff;
  writeFileSync(updDeb, updBytes);

  // An index altered after InRelease was signed.
  copyRepo(path.join(root, 'good'), path.join(root, 'bad-packages'));
  const pk = path.join(root, `bad-packages/dists/${suite}/main/binary-${arch}/Packages.gz`);
  writeFileSync(pk, Buffer.concat([readFileSync(pk), Buffer.from([0])]));

  // A whole consistent repository, signed by a key nobody trusts.
  copyRepo(path.join(root, 'good'), path.join(root, 'bad-sig'));
  await writeIndex(path.join(root, 'bad-sig'), suite, arch, other);

  keyFile = path.join(root, 'trusted.asc');
  writeFileSync(keyFile, key.publicArmored);
  server = await serveDir(root);
  cleanups.push(
    () => server.close(),
    () => rmSync(root, { recursive: true, force: true }),
  );
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});
beforeEach(() => {
  project = tempProject([], { withExample: [EXAMPLE_BASE, EXAMPLE_ADDITIVE] });
  cleanups.push(() => project.cleanup());
});

function install(scenario: string, extra: string[] = ['--major', '15'], env: Record<string, string> = {}) {
  return execa('node', [cli, 'pg-client', 'install', ...extra], {
    cwd: project.dir,
    env: {
      MIGRATION_GATE_PGDG_URL: `${server.url}/${scenario}`,
      MIGRATION_GATE_PGDG_KEY: keyFile,
      DATABASE_URL: '',
      ...env,
    },
    reject: false,
    all: true,
  });
}

/** What is left under .migration-gate/pg: must be nothing at all after a refused install. */
const leftovers = () => {
  const dir = path.join(project.dir, '.migration-gate/pg');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('pg-client install', () => {
  test('installs a verified client that runs with its own libpq', async () => {
    const res = await install('good');
    expect(res.exitCode).toBe(0);
    expect(res.all).toMatch(
      /Installed the PostgreSQL 15\.\d+ client \(postgresql-client-15 15\.[^,]+, libpq5 [^)]+\) from http:\/\/127\.0\.0\.1:\d+\/good .*-pgdg\/.* into \.migration-gate\/pg\/15 .*verified: InRelease signature, Packages sha256, package sha256/,
    );
    expect(leftovers()).toEqual(['15']);
    const dir = path.join(project.dir, '.migration-gate/pg/15');
    expect(readdirSync(path.join(dir, 'bin')).sort()).toEqual(['pg_dump', 'pg_restore', 'psql']);
    // The wrapper runs the unpacked binary, and that binary resolves libpq from the bundle.
    const ldd = await execa('sh', [
      '-c',
      `LD_LIBRARY_PATH="${dir}/usr/lib/${path.basename(readdirSync(path.join(dir, 'usr/lib')).find((d) => d.includes('-linux-'))!)}" ldd "${dir}/usr/lib/postgresql/15/bin/pg_dump"`,
    ]);
    expect(ldd.stdout).toMatch(
      new RegExp(`libpq\\.so\\.5 => ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/usr/lib/`),
    );
    const v = await execa(path.join(dir, 'bin/pg_restore'), ['--version']);
    expect(v.stdout).toMatch(/^pg_restore \(PostgreSQL\) 15\./);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ major: 15, suite, arch });

    // A second install with the same index downloads nothing.
    const before = server.requests.filter((r) => r.endsWith('.deb')).length;
    const again = await install('good');
    expect(again.exitCode).toBe(0);
    expect(again.all).toContain('already installed in .migration-gate/pg/15');
    expect(server.requests.filter((r) => r.endsWith('.deb')).length).toBe(before);
  });

  test.each([
    [
      'bad-deb',
      /postgresql-client-15_.*\.deb does not match the signed index \(sha256 [0-9a-f]{64}.*the package was altered or corrupted in transit; nothing was installed/,
    ],
    ['bad-packages', /Packages\.gz does not match the signed InRelease .*nothing was installed/],
    ['bad-sig', /InRelease has no valid signature from the trusted PGDG key .*nothing was installed/],
  ])('%s is refused with a clear error and nothing half-installed', async (scenario, message) => {
    const res = await install(scenario);
    expect(res.exitCode).toBe(4);
    const lines = res.all.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^migration-gate: failed: /);
    expect(lines.at(-1)).toMatch(message);
    expect(res.all).not.toMatch(/\n\s+at /); // no stack trace
    expect(leftovers()).toEqual([]);
  });

  test('a refused update leaves the installed client as it was', async () => {
    expect((await install('good')).exitCode).toBe(0);
    const manifest = readFileSync(path.join(project.dir, '.migration-gate/pg/15/manifest.json'), 'utf8');
    // Another index (a different package hash) whose package was tampered with.
    const res = await install('bad-update');
    expect(res.exitCode).toBe(4);
    expect(res.all).toContain('does not match the signed index');
    expect(leftovers()).toEqual(['15']);
    expect(readFileSync(path.join(project.dir, '.migration-gate/pg/15/manifest.json'), 'utf8')).toBe(
      manifest,
    );
  });

  test('bad input: a wrong --major, no major and no database, an unknown subcommand', async () => {
    const bad = await install('good', ['--major', 'eighteen']);
    expect(bad.exitCode).toBe(3);
    expect(bad.all).toContain('--major must be a PostgreSQL major version such as 18, not eighteen');
    const none = await install('good', []);
    expect(none.exitCode).toBe(3);
    expect(none.all).toContain(
      'pg-client install needs --major N (e.g. --major 18) or a reachable DATABASE_URL',
    );
    const missing = await install('good', ['--major', '17']);
    expect(missing.exitCode).toBe(4);
    expect(missing.all).toContain('has no postgresql-client-17 for');
    const sub = await execa('node', [cli, 'pg-client', 'remove'], {
      cwd: project.dir,
      reject: false,
      all: true,
    });
    expect(sub.exitCode).toBe(3);
    expect(sub.all).toContain("unknown pg-client subcommand 'remove'");
  });

  test('the major comes from the server when DATABASE_URL is reachable; run then dumps with the fetched client', async () => {
    const db: TestDatabase = await createTestDatabase('pgclient_run');
    cleanups.push(() => db.drop());
    const res = await install('good', [], { DATABASE_URL: db.url });
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('into .migration-gate/pg/15');

    const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-dumps-'));
    cleanups.push(() => rmSync(dumps, { recursive: true, force: true }));
    const run = await execa('node', [cli, 'run'], {
      cwd: project.dir,
      env: {
        DATABASE_URL: db.url,
        ALEMBIC_CONFIG: project.ini,
        MIGRATION_GATE_ALEMBIC: alembicBin(),
        MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
        MIGRATION_GATE_LOG_FORMAT: 'text',
        MIGRATION_GATE_PG_DUMP: '',
        MIGRATION_GATE_PG_RESTORE: '',
        RENDER: '',
      },
      reject: false,
      all: true,
    });
    if (run.exitCode !== 0) throw new Error(run.all);
    expect(run.all).toMatch(
      /\(pg_dump 15\.\d+: PostgreSQL 15\.\d+ client in \.migration-gate\/pg\/15 \(postgresql-client-15 /,
    );
    expect(run.all).toContain('Safety dump verified');
    expect(
      readdirSync(dumps, { recursive: true })
        .map(String)
        .some((f) => f.endsWith('.dump')),
    ).toBe(true);
  });
});
