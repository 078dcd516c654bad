/**
 * The status service's doors, over HTTP against a real PostgreSQL: browser sign-in (signed session
 * cookie), bearer tokens, the failure limiter, 405 + Allow, /healthz, and `serve` refusing to run
 * open on Render (through the built CLI).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/db/connect.js';
import { ensureHistory, startRun, updateRun } from '../../src/db/history.js';
import { createApp, type AppDeps } from '../../src/server/app.js';
import { createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { repoRoot } from '../helpers/project.js';

const SCHEMA = 'migration_gate';
const TOKEN = 'signin-' + 'k'.repeat(40);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let db: TestDatabase;
let pool: pg.Pool;
let runId: number;
const servers: Server[] = [];

async function listen(deps: Partial<AppDeps> = {}): Promise<string> {
  const app = createApp({ pool, schema: SCHEMA, token: TOKEN, logger: quiet, ...deps });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const html = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

function signIn(base: string, token: string, next = '/status', headers: Record<string, string> = {}) {
  return fetch(base + '/signin', {
    method: 'POST',
    redirect: 'manual',
    headers: { ...html, 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token, next }).toString(),
  });
}

const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0]!;

beforeAll(async () => {
  db = await createTestDatabase('server_auth');
  pool = new pg.Pool({ ...parseDatabaseUrl(db.url).pgConfig, ssl: false, max: 4 });
  await ensureHistory(pool, SCHEMA);
  runId = await startRun(pool, SCHEMA, { command: 'run', service: 'api', commit: 'e'.repeat(40) });
  await updateRun(pool, SCHEMA, runId, { outcome: 'noop', decision: 'noop', finishedAt: new Date() });
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await pool.end();
  await db.drop();
});

describe('browser sign-in', () => {
  test('a browser without a session gets the sign-in form, not the data', async () => {
    const base = await listen();
    const r = await fetch(base + `/status/runs/${runId}`, { headers: html });
    expect(r.status).toBe(401);
    const body = await r.text();
    expect(body).toContain('<form method="post" action="/signin">');
    expect(body).toContain('name="token" type="password"');
    expect(body).toContain(`name="next" value="/status/runs/${runId}"`);
    expect(body).not.toContain('e'.repeat(40));
  });

  test('the right token sets a signed HttpOnly SameSite=Strict session that opens the pages; sign-out ends it', async () => {
    const base = await listen();
    const r = await signIn(base, TOKEN, `/status/runs/${runId}`);
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(`/status/runs/${runId}`);
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^mg_session=v1\.[^;]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = cookieOf(r);

    const page = await fetch(base + `/status/runs/${runId}`, { headers: { ...html, Cookie: cookie } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain(`migration-gate run #${runId}`);
    expect(text).toContain('action="/signout"');
    const status = await fetch(base + '/status', { headers: { Cookie: cookie } });
    expect(status.status).toBe(200);
    expect(JSON.parse(await status.text()).lastRun.id).toBe(runId);
    expect((await fetch(base + '/metrics', { headers: { Cookie: cookie } })).status).toBe(200);

    const out = await fetch(base + '/signout', {
      method: 'POST',
      redirect: 'manual',
      headers: { Cookie: cookie },
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/status');
    expect(out.headers.get('set-cookie')).toMatch(
      /^mg_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/,
    );
    // A tampered or foreign cookie is no session.
    const forged = cookie.replace(/\.[^.]+$/, '.AAAA');
    expect((await fetch(base + '/status', { headers: { ...html, Cookie: forged } })).status).toBe(401);
  });

  test('behind a TLS proxy (X-Forwarded-Proto: https, trust proxy 1) the cookie is Secure; direct it is not trusted', async () => {
    const proxied = await listen({ trustProxy: 1 });
    const r = await signIn(proxied, TOKEN, '/status', { 'X-Forwarded-Proto': 'https' });
    expect(r.headers.get('set-cookie')).toMatch(/; Secure$/);
    const direct = await listen();
    const d = await signIn(direct, TOKEN, '/status', { 'X-Forwarded-Proto': 'https' });
    expect(d.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  test('an expired session asks to sign in again', async () => {
    let t = Date.now();
    const base = await listen({ now: () => new Date(t) });
    const cookie = cookieOf(await signIn(base, TOKEN));
    t += 13 * 3600_000;
    const r = await fetch(base + '/status', { headers: { ...html, Cookie: cookie } });
    expect(r.status).toBe(401);
    expect(await r.text()).toContain('Your session expired: sign in again.');
  });

  test('a wrong token is refused with the form; repeated failures are rate-limited per client with Retry-After', async () => {
    const base = await listen({ authLimit: { max: 3, windowMs: 60_000 } });
    const first = await signIn(base, 'nope');
    expect(first.status).toBe(401);
    expect(await first.text()).toContain('That is not the token');
    await signIn(base, 'nope2');
    const bearer = await fetch(base + '/metrics', { headers: { Authorization: 'Bearer nope3' } });
    expect(bearer.status).toBe(401);
    // Three failures: now even the right token waits (the limiter bounds guesses, whatever they are).
    const limited = await signIn(base, TOKEN);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(await limited.text()).toMatch(/Too many wrong tokens from your address: try again in \d+ s/);
    const limitedBearer = await fetch(base + '/status', { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(limitedBearer.status).toBe(429);
    expect(limitedBearer.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  test('bearer tokens keep working for curl and Prometheus', async () => {
    const base = await listen();
    const r = await fetch(base + '/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/^migration_gate_database_up 1$/m);
    const noHeader = await fetch(base + '/status');
    expect(noHeader.status).toBe(401);
    expect(JSON.parse(await noHeader.text()).message).toMatch(
      /Authorization: Bearer <MIGRATION_GATE_STATUS_TOKEN>/,
    );
  });
});

describe('methods and /healthz', () => {
  test('unsupported methods answer 405 with Allow', async () => {
    const base = await listen();
    const cases: Array<[string, string, string]> = [
      ['DELETE', '/status', 'GET, HEAD'],
      ['POST', '/status', 'GET, HEAD'],
      ['PUT', `/status/runs/${runId}`, 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['GET', '/signin', 'POST'],
      ['GET', '/signout', 'POST'],
    ];
    for (const [method, p, allow] of cases) {
      const r = await fetch(base + p, { method, headers: { Authorization: `Bearer ${TOKEN}` } });
      expect([method, p, r.status]).toEqual([method, p, 405]);
      expect(r.headers.get('allow')).toBe(allow);
      expect(JSON.parse(await r.text()).message).toContain(`${method} is not supported on ${p}`);
    }
    const head = await fetch(base + '/status', {
      method: 'HEAD',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(head.status).toBe(200);
    expect((await fetch(base + '/nowhere', { method: 'DELETE' })).status).toBe(404);
  });

  test('the bare URL leads to /status', async () => {
    const base = await listen();
    const r = await fetch(base + '/', { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/status');
  });

  test('/healthz is open and says only ok', async () => {
    const base = await listen();
    const r = await fetch(base + '/healthz');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok\n');
  });
});

describe('serve on Render', () => {
  const cli = path.join(repoRoot, 'dist/cli.js');
  const serve = (env: Record<string, string>) =>
    execa('node', [cli, 'serve'], {
      reject: false,
      all: true,
      timeout: 20_000,
      env: { DATABASE_URL: db.url, PORT: '0', MIGRATION_GATE_STATUS_TOKEN: '', ...env },
    });

  test('refuses to start without a token', async () => {
    const r = await serve({ RENDER: 'true', MIGRATION_GATE_STATUS_REQUIRE_TOKEN: '' });
    expect(r.exitCode).toBe(3);
    expect(r.all).toContain('serve refuses to start without a token: on Render (RENDER=true)');
    expect(r.all).toContain('MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false');
  });

  test('starts open, with a warning, only when MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false is explicit', async () => {
    const child = execa('node', [cli, 'serve'], {
      reject: false,
      all: true,
      env: {
        DATABASE_URL: db.url,
        PORT: '0',
        RENDER: 'true',
        MIGRATION_GATE_STATUS_TOKEN: '',
        MIGRATION_GATE_STATUS_REQUIRE_TOKEN: 'false',
      },
    });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${seen}`)), 20_000);
      child.all!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('serving /status')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const r = await child;
    expect(r.all).toMatch(
      /MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false on Render: \/status and \/metrics are open/,
    );
  });
});
