/** Pure parts of the Render API client: the database id, rate-limit waits, the settings. */
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { postgresIdFrom, resetDelayMs } from '../../src/render/api.js';

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
