/** Pure parts of the Render API client: the database id, rate-limit waits, the settings. */
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import nock from 'nock';
import { RenderApi, postgresIdFrom, resetDelayMs } from '../../src/render/api.js';
import { RECOVERY_BUDGET_MS, readRecovery } from '../../src/render/pitr.js';

describe('postgresIdFrom', () => {
  it('takes the id from the internal or external host, without the -a suffix', () => {
    expect(postgresIdFrom(undefined, 'dpg-cq1abc2def3ghi4jkl5m-a')).toBe('dpg-cq1abc2def3ghi4jkl5m');
    expect(postgresIdFrom(undefined, 'dpg-cq1abc2def3ghi4jkl5m-a.oregon-postgres.render.com')).toBe(
      'dpg-cq1abc2def3ghi4jkl5m',
    );
  });
  it('prefers the setting, and knows nothing for other hosts', () => {
    expect(postgresIdFrom('dpg-x1', 'dpg-y2-a')).toBe('dpg-x1');
    expect(postgresIdFrom(undefined, 'db.internal')).toBeUndefined();
    expect(postgresIdFrom(undefined, 'dpg-abc-a-pooler')).toBeUndefined();
  });
});

describe('resetDelayMs', () => {
  it('reads Ratelimit-Reset seconds, then Retry-After, else the fallback; never below 1 s', () => {
    expect(resetDelayMs(new Headers({ 'Ratelimit-Reset': '17' }), 60_000)).toBe(17_000);
    expect(resetDelayMs(new Headers({ 'Ratelimit-Reset': '0' }), 60_000)).toBe(1000);
    expect(resetDelayMs(new Headers({ 'Retry-After': '3' }), 60_000)).toBe(3000);
    expect(resetDelayMs(new Headers({}), 60_000)).toBe(60_000);
  });
});

describe('Render settings', () => {
  it('parses the new settings and refuses a bad id or method, hiding the key', () => {
    const s = loadSettings({
      RENDER_API_KEY: 'rnd_secret',
      MIGRATION_GATE_RENDER_POSTGRES_ID: 'dpg-abc123',
      MIGRATION_GATE_DUMP_METHOD: 'auto',
      MIGRATION_GATE_RENDER_EXPORT_TIMEOUT: '600',
      MIGRATION_GATE_REQUIRE_PITR: 'true',
      MIGRATION_GATE_MAINTENANCE_POLICY: 'block',
    });
    expect(s).toMatchObject({
      renderApiUrl: 'https://api.render.com/v1',
      renderApiKey: 'rnd_secret',
      renderPostgresId: 'dpg-abc123',
      dumpMethod: 'auto',
      renderExportTimeoutMs: 600_000,
      requirePitr: true,
      maintenancePolicy: 'block',
    });
    let err: ConfigError | undefined;
    try {
      loadSettings({
        MIGRATION_GATE_RENDER_POSTGRES_ID: 'dpg-abc123-a',
        MIGRATION_GATE_DUMP_METHOD: 'export',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err?.details).toEqual([
      '- MIGRATION_GATE_DUMP_METHOD="export" must be one of pg_dump, render-export, auto',
      '- MIGRATION_GATE_RENDER_POSTGRES_ID="dpg-abc123-a" must be a Render Postgres id such as dpg-cq1abc2def3ghi4jkl5m (without the -a suffix)',
    ]);
  });
});

describe('readRecovery under a failing API', () => {
  const host = 'https://api.render.test';
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());

  it('asks both questions at once and gives up within its budget, recording why', async () => {
    // A fake clock: each retry wait advances it, so the test runs in milliseconds and sees the budget.
    let clock = Date.parse('2026-12-03T03:00:00Z');
    const started = clock;
    const waits: number[] = [];
    const api = new RenderApi({
      baseUrl: `${host}/v1`,
      apiKey: 'rnd_secret',
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
    });
    const calls: string[] = [];
    const down = (name: string) => (): [number, string] => {
      calls.push(name);
      return [503, 'upstream unavailable'];
    };
    nock(host)
      .persist()
      .get('/v1/postgres/dpg-abc123/recovery')
      .reply(down('recovery'))
      .get('/v1/maintenance')
      .query(true)
      .reply(down('maintenance'));
    const rec = await readRecovery(api, 'dpg-abc123', new Date(clock));
    expect(rec.status).toBeNull();
    expect(rec.error).toMatch(
      /^Render API GET \/postgres\/dpg-abc123\/recovery failed with HTTP 503 after retries/,
    );
    expect(rec.error).toContain('; maintenance: Render API GET');
    // Both paths were tried, and no wait was started that would end past the budget. The general
    // policy (2 minutes per call, one call after the other) waited 4 minutes here.
    expect(new Set(calls)).toEqual(new Set(['recovery', 'maintenance']));
    expect(clock - started).toBeLessThanOrEqual(RECOVERY_BUDGET_MS);
    expect(waits.length).toBeGreaterThan(0);
    expect(rec.error).not.toContain('rnd_secret');
  });
});
