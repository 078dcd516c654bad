/**
 * Causes that name the real cause (issue 16 §6), on the real harness: a DATABASE_URL whose password
 * has unencoded URL characters, pg_dump waiting behind an ACCESS EXCLUSIVE lock, and PostgreSQL
 * stopping mid-upgrade (on a throwaway cluster of this test's own, never the shared one).
 */
import { randomBytes } from 'node:crypto';
import { adminQuery, getTestServer } from '../harness/pg.js';
import { EXAMPLE_BASE } from '../helpers/project.js';
import { causeLine, gateSetup, runGateCli, type GateSetup } from '../helpers/gate.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(name: string): Promise<GateSetup> {
  const s = await gateSetup(name, [EXAMPLE_BASE]);
  cleanups.push(() => s.cleanup());
  return s;
}

describe('a DATABASE_URL password with unencoded URL characters', () => {
  const role = `mg_enc_${randomBytes(3).toString('hex')}`;
  // Each character ends the URL's authority early when written as is.
  const password = `Sec/ret?xyz#9${randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    await adminQuery(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    cleanups.push(async () => {
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    });
  });

  test('is told to percent-encode it, and no piece of the password is printed', async () => {
    const s = await setup('causes_pw');
    const { host, port } = getTestServer();
    const bad = `postgresql://${role}:${password}@${host}:${port}/${s.db.name}`;
    const res = await runGateCli(s, { DATABASE_URL: bad });
    expect(res.exitCode).toBe(3);
    expect(res.all).toContain(
      "DATABASE_URL=(value hidden) is not a valid URL: DATABASE_URL's password seems",
    );
    expect(res.all).toContain('percent-encode the password (/ as %2F, ? as %3F, # as %23');
    for (const piece of password.split(/[/?#]/)) expect(res.all).not.toContain(piece);
    expect(res.all).not.toMatch(/\n\s+at /);
    // Encoded as the hint says, the same password connects.
    const good = `postgresql://${role}:${encodeURIComponent(password)}@${host}:${port}/${s.db.name}`;
    const ok = await runGateCli(s, { DATABASE_URL: good });
    expect(ok.exitCode).toBe(0);
    expect(ok.all).toContain('Migrated base -> 1a2b3c4d5e6f');
  });

  test('a password piece that reads as a port and a path: the hint, not a DNS error about the user name', async () => {
    const s = await setup('causes_pw2');
    const { host, port } = getTestServer();
    // "u:5432/ab@host:port/db" parses as host "u", port 5432, database "ab@host:port/db".
    const res = await runGateCli(s, {
      DATABASE_URL: `postgresql://${role}:5432/ab@${host}:${port}/${s.db.name}`,
    });
    expect(res.exitCode).toBe(4);
    expect(causeLine(res.all)).toContain('cannot connect with DATABASE_URL');
    expect(causeLine(res.all)).toContain('percent-encode the password');
    expect(res.all).not.toContain('ab@');
  });
});
