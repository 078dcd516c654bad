/** Run notifications (webhook, Pushgateway) against nock: payload shapes, retries, timeouts, secrets. */
import nock from 'nock';
import type { RunRecord } from '../../src/db/history.js';
import { eventFor, notifyWebhook, type WebhookOptions } from '../../src/notify/webhook.js';
import { pushRunMetrics, runMetricsText } from '../../src/notify/pushgateway.js';

// nock 15's fetch interception (@mswjs/interceptors) uses Promise.withResolvers, which Node 20 lacks.
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= () => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const HOOK = 'https://hooks.example.com';
const HOOK_PATH = '/services/T000/B000/s3cr3tHookToken';
const SECRET = 'db-Pa55word!';
const DROP = '7c1e2d9a0b3f';

function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 42,
    command: 'run',
    startedAt: new Date('2025-03-02T10:00:00Z'),
    finishedAt: new Date('2025-03-02T10:00:05Z'),
    outcome: 'blocked',
    decision: 'block',
    service: 'api',
    serviceId: 'srv-123',
    commit: '0123456789abcdef0123456789abcdef01234567',
    isPullRequest: false,
    fromRevisions: ['1a2b3c4d5e6f'],
    toRevisions: [DROP],
    reachedRevisions: null,
    pending: [
      {
        revision: DROP,
        file: 'migrations/versions/7c1e_drop_name.py',
        message: 'drop users.name',
        verdict: 'destructive',
        findings: [
          {
            rule: 'drop-column',
            category: 'data-loss',
            line: 12,
            message: 'drops column users.name',
            hint: 'Deploy code that stops using it first.',
            severity: 'error',
            table: 'users',
          },
        ],
        downgradeFindings: [],
      },
    ],
    override: null,
    dump: null,
    dumpPolicy: 'auto',
    upgradeMs: null,
    durationMs: 5000,
    error: null,
    warnings: [],
    ...overrides,
  };
}

const base: WebhookOptions = {
  url: HOOK + HOOK_PATH,
  format: 'slack',
  events: ['blocked', 'failed', 'succeeded'],
  statusUrl: 'https://gate.example.com/status',
  retries: 2,
  backoffMs: 1,
  timeoutMs: 2000,
  secrets: [SECRET],
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  // nock patches Node's shared http module: leave it clean for the next test file in this worker.
  nock.restore();
});

function capture(status = 200): { bodies: unknown[] } {
  const bodies: unknown[] = [];
  nock(HOOK)
    .post(HOOK_PATH, (b: unknown) => {
      bodies.push(b);
      return true;
    })
    .reply(status, 'ok');
  return { bodies };
}

describe('webhook payloads', () => {
  test('slack: text + blocks with the decision, the migration, the fix and a link', async () => {
    const { bodies } = capture();
    const res = await notifyWebhook(run(), base);
    expect(res).toEqual({ sent: true, attempts: 1 });
    const p = bodies[0] as {
      text: string;
      blocks: Array<{ type: string; text?: { text: string }; elements?: Array<{ text: string }> }>;
    };
    expect(p.text).toContain(':no_entry: Deploy blocked by migration-gate (api @ 0123456789ab)');
    expect(p.text).toContain(
      `Blocked: ${DROP} drops column users.name. To deploy it anyway set MIGRATION_GATE_ALLOW=${DROP}`,
    );
    expect(p.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'Deploy blocked by migration-gate: api @ 0123456789ab' },
    });
    const all = JSON.stringify(p.blocks);
    expect(all).toContain(`\`${DROP}\` destructive *blocks*`);
    expect(all).toContain('*Decision*\\nblock');
    const ctx = p.blocks.find((b) => b.type === 'context');
    expect(ctx?.elements?.[0]?.text).toBe(
      '<https://gate.example.com/status/runs/42|Open run #42 on /status>',
    );
  });

  test('slack: the override reason is shown, mrkdwn is escaped', async () => {
    const { bodies } = capture();
    await notifyWebhook(
      run({
        outcome: 'migrated',
        decision: 'allow',
        override: { revisions: [DROP], reason: 'unused since <release 41> & later', all: false, unused: [] },
        reachedRevisions: [DROP],
      }),
      base,
    );
    const all = JSON.stringify(bodies[0]);
    expect(all).toContain(':white_check_mark: Migrations applied');
    expect(all).toContain('Reason: unused since &lt;release 41&gt; &amp; later');
  });

  test('json: decision, migrations, reason and status link', async () => {
    const { bodies } = capture();
    await notifyWebhook(run({ override: null }), { ...base, format: 'json' });
    const p = bodies[0] as Record<string, unknown>;
    expect(p).toMatchObject({
      source: 'migration-gate',
      event: 'blocked',
      run: {
        id: 42,
        service: 'api',
        outcome: 'blocked',
        decision: 'block',
        startedAt: '2025-03-02T10:00:00.000Z',
      },
      migrations: [
        {
          revision: DROP,
          verdict: 'destructive',
          blocking: true,
          findings: [
            {
              rule: 'drop-column',
              severity: 'error',
              line: 12,
              message: 'drops column users.name',
              allowed: false,
            },
          ],
        },
      ],
      override: null,
      reason: null,
      statusUrl: 'https://gate.example.com/status/runs/42',
    });
    expect(p.summary).toMatch(/^Blocked: 7c1e2d9a0b3f drops column users\.name/);
  });

  test('no secret reaches the payload', async () => {
    const { bodies } = capture();
    await notifyWebhook(
      run({
        outcome: 'failed',
        decision: 'allow',
        error: `upgrade failed on postgresql://gate:${encodeURIComponent(SECRET)}@db:5432/app password=${SECRET}`,
      }),
      { ...base, format: 'json' },
    );
    const text = JSON.stringify(bodies[0]);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(encodeURIComponent(SECRET));
    expect(text).toContain('postgresql://gate:***@db:5432/app');
  });
});

describe('webhook delivery', () => {
  test('retries a 500, then succeeds', async () => {
    const scope = nock(HOOK).post(HOOK_PATH).reply(500, 'oops').post(HOOK_PATH).reply(200, 'ok');
    expect(await notifyWebhook(run(), base)).toEqual({ sent: true, attempts: 2 });
    expect(scope.isDone()).toBe(true);
  });

  test('gives up after 1 + retries attempts, without echoing the URL', async () => {
    const scope = nock(HOOK).post(HOOK_PATH).times(3).reply(503, 'down');
    const res = await notifyWebhook(run(), base);
    expect(res).toEqual({
      sent: false,
      attempts: 3,
      error: 'webhook answered HTTP 503 (down), gave up after 3 attempts',
    });
    expect(scope.isDone()).toBe(true);
  });

  test('a 4xx is not retried', async () => {
    nock(HOOK).post(HOOK_PATH).reply(404, 'no_service');
    const res = await notifyWebhook(run(), base);
    expect(res).toEqual({
      sent: false,
      attempts: 1,
      error: 'webhook answered HTTP 404 (no_service), not retried',
    });
  });

  test('network errors are retried', async () => {
    nock(HOOK)
      .post(HOOK_PATH)
      .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
      .post(HOOK_PATH)
      .reply(200);
    expect(await notifyWebhook(run(), base)).toEqual({ sent: true, attempts: 2 });
  });

  test('a slow webhook times out per attempt', async () => {
    nock(HOOK).post(HOOK_PATH).times(2).delay(1000).reply(200);
    const started = Date.now();
    const res = await notifyWebhook(run(), { ...base, timeoutMs: 100, retries: 1 });
    expect(res.sent).toBe(false);
    expect(res.attempts).toBe(2);
    expect(res.error).toBe('webhook did not answer within 100 ms, gave up after 2 attempts');
    expect(Date.now() - started).toBeLessThan(900);
  });

  test('events filter: only the chosen outcomes notify', async () => {
    // No interceptor and no network: any request would fail the test through `sent`/`error`.
    expect(
      await notifyWebhook(run({ outcome: 'migrated', decision: 'allow' }), {
        ...base,
        events: ['blocked', 'failed'],
      }),
    ).toEqual({
      sent: false,
      attempts: 0,
    });
    expect(await notifyWebhook(run({ outcome: 'noop', decision: 'noop' }), base)).toEqual({
      sent: false,
      attempts: 0,
    });
    expect(eventFor({ outcome: 'interrupted' })).toBe('failed');
    expect(eventFor({ outcome: 'running' })).toBeNull();
    capture();
    expect((await notifyWebhook(run({ outcome: 'failed' }), { ...base, events: ['failed'] })).sent).toBe(
      true,
    );
  });

  test('never throws, even on a malformed URL', async () => {
    const res = await notifyWebhook(run(), { ...base, url: 'not a url' });
    expect(res.sent).toBe(false);
    expect(res.error).toEqual(expect.any(String));
  });
});

describe('pushgateway', () => {
  const PG = 'http://pushgateway.example:9091';

  test('PUTs the run metrics in Prometheus text format under the job', async () => {
    let body = '';
    nock(PG)
      .matchHeader('authorization', `Basic ${Buffer.from('ops:p@ss').toString('base64')}`)
      .put('/metrics/job/migration%20gate', (b: string) => {
        body = b;
        return true;
      })
      .reply(200, '');
    const res = await pushRunMetrics(
      run({
        outcome: 'migrated',
        decision: 'allow',
        upgradeMs: 2500,
        dump: { id: 'd', location: 'file:///d', bytes: 1024, sha256: 'x', durationMs: 1500 },
      }),
      { url: 'http://ops:p%40ss@pushgateway.example:9091/', job: 'migration gate', timeoutMs: 1000 },
    );
    expect(res).toEqual({ pushed: true });
    expect(body).toMatch(/^# TYPE migration_gate_run_duration_seconds gauge$/m);
    expect(body).toMatch(/^migration_gate_run_duration_seconds 5$/m);
    expect(body).toMatch(/^migration_gate_run_info\{outcome="migrated",decision="allow",service="api"\} 1$/m);
    expect(body).toMatch(/^migration_gate_run_dump_size_bytes 1024$/m);
    expect(body).toMatch(/^migration_gate_run_upgrade_duration_seconds 2\.5$/m);
    expect(body).toMatch(/^migration_gate_last_success_timestamp_seconds 1740909605$/m);
  });

  test('blocked run: blocked count, absent dump', async () => {
    const text = await runMetricsText(run());
    expect(text).toMatch(/^migration_gate_run_blocked_migrations 1$/m);
    expect(text).toMatch(/^migration_gate_run_success 0$/m);
    expect(text).not.toContain('dump_size_bytes');
  });

  test('failures are reported, never thrown, without the password', async () => {
    nock(PG).put('/metrics/job/gate').reply(500, 'boom');
    expect(
      await pushRunMetrics(run(), { url: 'http://u:hunter2@pushgateway.example:9091', job: 'gate' }),
    ).toEqual({
      pushed: false,
      error: 'pushgateway answered HTTP 500 (boom)',
    });
    nock(PG).put('/metrics/job/gate').delay(1000).reply(200);
    expect(await pushRunMetrics(run(), { url: PG, job: 'gate', timeoutMs: 50 })).toEqual({
      pushed: false,
      error: 'pushgateway did not answer within 50 ms',
    });
    const bad = await pushRunMetrics(run(), { url: 'nope', job: 'gate' });
    expect(bad.pushed).toBe(false);
  });
});
