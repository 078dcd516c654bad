/** `serve` against a real PostgreSQL: /healthz, /status (JSON + HTML), /status/runs/:id, /metrics, auth, caching, outage. */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/db/connect.js';
import { ensureHistory, startRun, updateRun } from '../../src/db/history.js';
import { acquireGateLock } from '../../src/db/lock.js';
import { ConfigError } from '../../src/errors.js';
import { createApp, type AppDeps } from '../../src/server/app.js';
import { startServe } from '../../src/server/serve.js';
import type { ClassifiedMigration } from '../../src/types.js';
import { createTestDatabase, getTestServer, type TestDatabase } from '../harness/pg.js';

const SCHEMA = 'migration_gate';
const TOKEN = 'tok-' + 'x'.repeat(40);
const REV_OLD = '1a2b3c4d5e6f';
const REV_ADD = '2b3c4d5e6f70';
const REV_DROP = '7c1e2d9a0b3f';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function migration(
  revision: string,
  verdict: ClassifiedMigration['verdict'],
  drop = false,
): ClassifiedMigration {
  return {
    revision,
    file: `migrations/versions/${revision}_change.py`,
    message: drop ? 'drop users.name' : 'add users.email',
    verdict,
    findings: drop
      ? [
          {
            rule: 'drop-column',
            category: 'data-loss',
            line: 21,
            message: 'drops column users.name <b>and its data</b>',
            hint: 'Stop reading the column first, deploy, then drop it in a later release.',
            severity: 'error',
            table: 'users',
          },
        ]
      : [],
    downgradeFindings: [],
  };
}

/** A pool that counts the queries it runs, to see the cache at work. */
function countingPool(config: pg.PoolConfig): { pool: pg.Pool; count: () => number } {
  const pool = new pg.Pool({ ...config, ssl: false, max: 10 });
  let n = 0;
  const orig = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    n++;
    return orig(...args);
  };
  return { pool, count: () => n };
}

async function listen(deps: AppDeps): Promise<{ base: string; server: Server }> {
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const auth = { Authorization: `Bearer ${TOKEN}` };

let db: TestDatabase;
let password: string;
let pool: pg.Pool;
let count: () => number;
let base: string;
let server: Server;
let clock = Date.now();
const now = () => new Date(clock);
const ids: Record<string, number> = {};
const bodies: string[] = [];

async function get(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(base + path, { headers });
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, headers: res.headers, text };
}

beforeAll(async () => {
  db = await createTestDatabase('server');
  password = getTestServer().password;
  const target = parseDatabaseUrl(db.url);
  ({ pool, count } = countingPool(target.pgConfig));

  await pool.query('CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)');
  await pool.query('INSERT INTO alembic_version VALUES ($1)', [REV_ADD]);
  await ensureHistory(pool, SCHEMA);

  const t0 = new Date('2025-03-01T10:00:00Z');
  ids.first = await startRun(pool, SCHEMA, {
    command: 'run',
    service: 'api',
    commit: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    fromRevisions: [REV_OLD],
    toRevisions: [REV_ADD],
  });
  await updateRun(pool, SCHEMA, ids.first, {
    outcome: 'migrated',
    decision: 'allow',
    finishedAt: new Date(t0.getTime() + 30_000),
    pending: [migration(REV_ADD, 'additive')],
    reachedRevisions: [REV_ADD],
    dump: {
      id: 'api-20250301.dump',
      location: 'file:///var/dumps/api-20250301.dump',
      bytes: 5_242_880,
      sha256: 'ab'.repeat(32),
      durationMs: 4200,
    },
    upgradeMs: 1500,
    durationMs: 30_000,
  });

  ids.blocked = await startRun(pool, SCHEMA, {
    command: 'run',
    service: 'api',
    commit: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
    fromRevisions: [REV_ADD],
    toRevisions: [REV_DROP],
  });
  await updateRun(pool, SCHEMA, ids.blocked, {
    outcome: 'blocked',
    decision: 'block',
    finishedAt: new Date(),
    pending: [migration(REV_DROP, 'destructive', true)],
    durationMs: 800,
    // Defence in depth: even if a run recorded a secret, serve must not show it.
    error: `gate refused; connection was ${db.url} password=${password}`,
  });

  ids.last = await startRun(pool, SCHEMA, {
    command: 'run',
    service: 'api',
    commit: 'cccccccccccccccccccccccccccccccccccccccc',
    fromRevisions: [REV_ADD],
    toRevisions: [REV_DROP],
  });
  await updateRun(pool, SCHEMA, ids.last, {
    outcome: 'migrated',
    decision: 'allow',
    finishedAt: new Date(),
    pending: [migration(REV_DROP, 'destructive', true)],
    override: { revisions: [REV_DROP], reason: 'users.name unused since release 41', all: false, unused: [] },
    reachedRevisions: [REV_DROP],
    dump: {
      id: 'api-20250302.dump',
      location: 'file:///var/dumps/api-20250302.dump',
      bytes: 6_291_456,
      sha256: 'cd'.repeat(32),
      durationMs: 5100,
    },
    upgradeMs: 2300,
    durationMs: 12_000,
  });
  await pool.query('UPDATE alembic_version SET version_num = $1', [REV_DROP]);

  ({ base, server } = await listen({
    pool,
    schema: SCHEMA,
    token: TOKEN,
    logger: quiet,
    now,
    secrets: [password],
  }));
});

afterAll(async () => {
  await close(server);
  await pool.end();
  await db.drop();
});

describe('/healthz', () => {
  test('is public and says only ok', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok\n');
  });
});

describe('auth and headers', () => {
  test.each(['/status', '/metrics', `/status/runs/1`])('%s needs the bearer token', async (path) => {
    const none = await get(path);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.text).toContain('Authorization: Bearer');
    const wrong = await get(path, { Authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    const short = await get(path, { Authorization: 'Bearer x' });
    expect(short.status).toBe(401);
    const basic = await get(path, { Authorization: `Basic ${Buffer.from('a:' + TOKEN).toString('base64')}` });
    expect(basic.status).toBe(401);
    const ok = await get(path, auth);
    expect(ok.status).toBe(200);
  });

  test('security headers on every answer', async () => {
    for (const path of ['/healthz', '/status', '/nope']) {
      const r = await get(path, { ...auth, Accept: 'text/html' });
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(r.headers.get('x-powered-by')).toBeNull();
    }
  });
});

describe('/status', () => {
  test('JSON: revisions, the last run in full, a summary and recent runs', async () => {
    const r = await get('/status', auth);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    const s = JSON.parse(r.text);
    expect(s.database.status).toBe('reachable');
    expect(s.revisions).toEqual({
      database: [REV_DROP],
      code: [REV_DROP],
      codeSource: 'last-run',
      match: 'up-to-date',
    });
    expect(s.inProgress.running).toBe(false);
    expect(s.lastRun).toMatchObject({
      id: ids.last,
      commit: 'cccccccccccccccccccccccccccccccccccccccc',
      service: 'api',
      decision: 'allow',
      outcome: 'migrated',
      override: { reason: 'users.name unused since release 41', revisions: [REV_DROP] },
      dump: { location: 'file:///var/dumps/api-20250302.dump', bytes: 6_291_456, durationMs: 5100 },
      upgradeMs: 2300,
      error: null,
    });
    expect(s.lastRun.pending[0]).toMatchObject({ revision: REV_DROP, verdict: 'destructive' });
    expect(s.lastRun.pending[0].findings[0].rule).toBe('drop-column');
    expect(typeof s.lastRun.startedAt).toBe('string');
    expect(s.summary).toMatch(
      /^Migrated: applied 1 migration \(7c1e2d9a0b3f\).*under override \(reason: users\.name unused/,
    );
    expect(s.recentRuns.map((x: { id: number }) => x.id)).toEqual([ids.last, ids.blocked, ids.first]);
    expect(s.recentRuns[1]).toMatchObject({ outcome: 'blocked', decision: 'block', pending: 1, blocked: 1 });
    expect(s.lastMigratedAt).not.toBeNull();
  });

  test('HTML when the browser prefers it: escaped, with the key facts', async () => {
    const r = await get('/status', { ...auth, Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.text).toContain('<!doctype html>');
    expect(r.text).toContain(REV_DROP);
    expect(r.text).toContain('users.name unused since release 41');
    expect(r.text).toContain('p-allow');
    expect(r.text).toContain('migrated');
    expect(r.text).toContain('file:///var/dumps/api-20250302.dump');
    expect(r.text).toContain('6.0 MiB');
    // The finding's markup is shown as text, never as markup.
    expect(r.text).toContain('&lt;b&gt;and its data&lt;/b&gt;');
    expect(r.text).not.toContain('<b>and its data</b>');
    // One script, the refresher, allowed by its hash; nothing else can run.
    expect(r.text.match(/<script/gi)).toHaveLength(1);
    const script = /<script>([\s\S]*?)<\/script>/.exec(r.text)![1]!;
    const digest = createHash('sha256').update(script).digest('base64');
    expect(r.headers.get('content-security-policy')).toContain(`script-src 'sha256-${digest}'`);
    expect(r.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    // Without JavaScript, a meta refresh (inside <noscript>, so it never fights the script).
    expect(r.text).toContain('<noscript><meta http-equiv="refresh" content="30"></noscript>');
    // Relative times with the exact time on hover; the current deploy first.
    expect(r.text).toMatch(
      /<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">(?:[^<]+ ago|just now)<\/time>/,
    );
    expect(r.text.indexOf('class="current')).toBeLessThan(r.text.indexOf('Recent runs'));
    expect(r.text).toContain('<span class="pill p-destructive">destructive</span>');
    expect(r.text).toContain(`migration-gate restore --dump api-20250302.dump --yes`);
  });

  test('a blocked run explains how to override', async () => {
    const r = await get(`/status/runs/${ids.blocked}`, auth);
    expect(r.status).toBe(200);
    const run = JSON.parse(r.text);
    expect(run.outcome).toBe('blocked');
    expect(run.blockedRevisions).toEqual([REV_DROP]);
    expect(run.summary).toBe(
      `Blocked: ${REV_DROP} drops column users.name <b>and its data</b>. To deploy it anyway set MIGRATION_GATE_ALLOW=${REV_DROP} and MIGRATION_GATE_ALLOW_REASON=<why it is safe>, or change the migration and re-deploy.`,
    );
    const html = await get(`/status/runs/${ids.blocked}`, { ...auth, Accept: 'text/html' });
    expect(html.text).toContain(`MIGRATION_GATE_ALLOW=${REV_DROP}`);
    expect(html.text).toContain('p-block');
  });

  test('unknown or invalid run ids are a clear 404', async () => {
    const unknown = await get('/status/runs/999999', auth);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual({
      error: 'not found',
      message: 'No run #999999 in the history (schema migration_gate); see /status for the recent runs.',
    });
    const invalid = await get('/status/runs/abc', auth);
    expect(invalid.status).toBe(404);
    expect(JSON.parse(invalid.text).message).toMatch(/run ids are positive whole numbers/);
    const html = await get('/status/runs/-1', { ...auth, Accept: 'text/html' });
    expect(html.status).toBe(404);
    expect(html.text).toContain('<h1>404 not found</h1>');
    const nowhere = await get('/nope', auth);
    expect(nowhere.status).toBe(404);
  });

  test('a run holding the gate lock shows as in progress', async () => {
    const client = new pg.Client({ ...parseDatabaseUrl(db.url).pgConfig, ssl: false });
    await client.connect();
    try {
      const lock = await acquireGateLock(client, { waitMs: 0 });
      clock += 10_000; // past the cache
      const s = JSON.parse((await get('/status', auth)).text);
      expect(s.inProgress.running).toBe(true);
      expect(s.inProgress.pid).toEqual(expect.any(Number));
      expect(s.summary).toMatch(/^In progress: a gate run \(pid \d+\) holds the lock since/);
      const m = (await get('/metrics', auth)).text;
      expect(m).toMatch(/^migration_gate_run_in_progress 1$/m);
      await lock.release();
    } finally {
      await client.end();
    }
    clock += 10_000;
    expect(JSON.parse((await get('/status', auth)).text).inProgress.running).toBe(false);
  });
});

describe('/metrics', () => {
  test('Prometheus text with the gate metrics and default metrics', async () => {
    clock += 10_000;
    const r = await get('/metrics', auth);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = r.text;
    expect(m).toMatch(/^migration_gate_database_up 1$/m);
    expect(m).toMatch(/^# TYPE migration_gate_runs gauge$/m);
    expect(m).toMatch(/^migration_gate_runs\{outcome="migrated",decision="allow"\} 2$/m);
    expect(m).toMatch(/^migration_gate_runs\{outcome="blocked",decision="block"\} 1$/m);
    expect(m).toMatch(/^migration_gate_last_run_info\{outcome="migrated",decision="allow"\} 1$/m);
    expect(m).toMatch(/^migration_gate_last_run_duration_seconds 12$/m);
    expect(m).toMatch(/^migration_gate_last_run_upgrade_duration_seconds 2\.3$/m);
    expect(m).toMatch(/^migration_gate_last_dump_size_bytes 6291456$/m);
    expect(m).toMatch(/^migration_gate_last_dump_duration_seconds 5\.1$/m);
    expect(m).toMatch(/^migration_gate_last_run_pending_migrations 1$/m);
    expect(m).toMatch(/^migration_gate_last_run_blocked_migrations 0$/m);
    expect(m).toMatch(/^migration_gate_since_last_success_seconds \d/m);
    expect(m).toMatch(/^migration_gate_run_in_progress 0$/m);
    expect(m).toMatch(/^migration_gate_database_up_to_date 1$/m);
    expect(m).toMatch(/^# TYPE migration_gate_http_requests_total counter$/m);
    expect(m).toMatch(/^process_cpu_seconds_total /m);
    // Unknown values are absent rather than a misleading 0.
    expect(m).not.toMatch(/^migration_gate_run_in_progress_since_timestamp_seconds /m);
  });
});

describe('cache', () => {
  test('a burst of concurrent requests costs one query set', async () => {
    clock += 10_000;
    const before = count();
    await get('/metrics', auth); // one refresh
    const oneSet = count() - before;
    expect(oneSet).toBeGreaterThan(0);

    clock += 10_000;
    const start = count();
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => get(i % 2 ? '/status' : '/metrics', auth)),
    );
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(count() - start).toBe(oneSet);

    // Within the cache window: no query at all.
    const again = count();
    await Promise.all(Array.from({ length: 10 }, () => get('/status', auth)));
    expect(count()).toBe(again);
  });
});

describe('no secrets served', () => {
  test('no password, token or connection URL in any body', async () => {
    await get(`/status/runs/${ids.blocked}`, auth);
    await get(`/status/runs/${ids.blocked}`, { ...auth, Accept: 'text/html' });
    expect(bodies.length).toBeGreaterThan(20);
    for (const b of bodies) {
      expect(b).not.toContain(password);
      expect(b).not.toContain(encodeURIComponent(password));
      expect(b).not.toContain(TOKEN);
      expect(b).not.toContain(db.url);
    }
    // The recorded error is still shown, redacted.
    const run = JSON.parse((await get(`/status/runs/${ids.blocked}`, auth)).text);
    expect(run.error).toContain('password=***');
  });
});

describe('database down', () => {
  test('keeps answering with the last data and says the database is unreachable', async () => {
    const doomed = await createTestDatabase('server_down');
    const local = countingPool(parseDatabaseUrl(doomed.url).pgConfig);
    await ensureHistory(local.pool, SCHEMA);
    const id = await startRun(local.pool, SCHEMA, { command: 'run', commit: 'dddd', toRevisions: [REV_ADD] });
    await updateRun(local.pool, SCHEMA, id, { outcome: 'noop', decision: 'noop', finishedAt: new Date() });
    let t = Date.now();
    const app = await listen({ pool: local.pool, schema: SCHEMA, logger: quiet, now: () => new Date(t) });
    try {
      const before = JSON.parse(await (await fetch(app.base + '/status')).text());
      expect(before.database.status).toBe('reachable');
      expect(before.revisions.database).toBeNull(); // no version table: tolerated
      expect(before.summary).toMatch(/^Up to date/);

      await doomed.drop();
      t += 60_000;
      const after = JSON.parse(await (await fetch(app.base + '/status')).text());
      expect(after.database.status).toBe('unreachable');
      expect(after.database.error).toEqual(expect.any(String));
      expect(after.database.dataAgeSeconds).toBe(60);
      expect(after.lastRun.id).toBe(id);
      expect(after.database.unreachableSince).toBe(new Date(t).toISOString());
      expect(after.database.stale).toBe(true);
      expect(after.summary).toMatch(
        /^Database unreachable since \S+ \(just now\): .*\. Showing the last data read, from 60 s ago \(stale\): Up to date/,
      );

      // The service itself is fine: Render must not restart the process that reports the outage.
      const health = await fetch(app.base + '/healthz');
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok\n');
      const metrics = await (await fetch(app.base + '/metrics')).text();
      expect(metrics).toMatch(/^migration_gate_database_up 0$/m);
      expect(metrics).toMatch(/^migration_gate_database_read_errors_total 1$/m);
      const html = await (await fetch(app.base + '/status', { headers: { Accept: 'text/html' } })).text();
      expect(html).toMatch(
        /<strong>Database unreachable since <time datetime="[^"]+" title="[^"]+">just now<\/time><\/strong>: /,
      );
      expect(html).toMatch(/Below: the last data read, <time[^>]*>60 s ago<\/time> \(stale\)/);
      // The outage is never presented as an empty history or a missing version table.
      expect(html).not.toContain('No runs recorded yet');
      expect(html).not.toContain('no version table');
      expect(html).toContain('unknown while the database is unreachable');

      // Still down a while later: "since" stays at the first failure.
      t += 5 * 60_000;
      const later = JSON.parse(await (await fetch(app.base + '/status')).text());
      expect(later.database.unreachableSince).toBe(after.database.unreachableSince);
      expect(later.summary).toMatch(/^Database unreachable since \S+ \(5 min ago\): /);
    } finally {
      await close(app.server);
      await local.pool.end();
    }
  });

  test('a database that never answered: /status still answers', async () => {
    const p = new pg.Pool({
      host: '127.0.0.1',
      port: 1,
      user: 'x',
      password: 'nope-secret',
      database: 'x',
      connectionTimeoutMillis: 1000,
    });
    const app = await listen({ pool: p, schema: SCHEMA, logger: quiet, secrets: ['nope-secret'] });
    try {
      const r = await fetch(app.base + '/status');
      expect(r.status).toBe(200);
      const s = JSON.parse(await r.text());
      expect(s.database.status).toBe('unreachable');
      expect(s.lastRun).toBeNull();
      expect(s.summary).toMatch(
        /^Database unreachable since \S+ \(just now\): .*ECONNREFUSED.*Nothing has been read yet/,
      );
      const html = await (await fetch(app.base + '/status', { headers: { Accept: 'text/html' } })).text();
      expect(html).toContain('Nothing has been read yet.');
      expect(html).not.toContain('No runs recorded yet');
      expect(html).not.toContain('no version table');
      const runResp = await fetch(app.base + '/status/runs/1');
      expect(runResp.status).toBe(503);
      expect(JSON.parse(await runResp.text()).message).toMatch(
        /^Cannot read run #1: .*Retry when the database is back\.$/,
      );
    } finally {
      await close(app.server);
      await p.end();
    }
  });
});

describe('startServe', () => {
  test('refuses to start without a token when one is required', async () => {
    const err = await startServe({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      requireToken: true,
      schema: SCHEMA,
      logger: quiet,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/MIGRATION_GATE_STATUS_TOKEN is not set/);
  });

  test('serves with a warning when no token is set, reports connection errors readably, closes cleanly', async () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger = {
      info: (m: string) => infos.push(m),
      warn: (m: string) => warnings.push(m),
      error: () => undefined,
    };
    const s = await startServe({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      requireToken: false,
      schema: SCHEMA,
      logger,
    });
    try {
      expect(warnings[0]).toMatch(/MIGRATION_GATE_STATUS_TOKEN is not set/);
      expect(infos.join('\n')).not.toContain(password);
      const st = JSON.parse(await (await fetch(s.url + '/status')).text());
      expect(st.lastRun.id).toBe(ids.last);
    } finally {
      await s.close();
    }
    await expect(fetch(s.url + '/healthz')).rejects.toThrow();

    const down = await startServe({
      databaseUrl: db.url.replace(/:(\d+)\//, ':1/'),
      port: 0,
      host: '127.0.0.1',
      token: TOKEN,
      requireToken: true,
      schema: SCHEMA,
      logger: quiet,
    });
    try {
      const st = JSON.parse(await (await fetch(down.url + '/status', { headers: auth })).text());
      expect(st.database.error).toMatch(/^cannot connect to 127\.0\.0\.1:1\/.*connection refused/);
      expect(JSON.stringify(st)).not.toContain(password);
    } finally {
      await down.close();
    }
  });
});
