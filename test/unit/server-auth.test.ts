/** Status auth parts: signed sessions, the failure limiter, the redirect guard and serve's token policy. */
import {
  checkSession,
  createSession,
  FailureLimiter,
  readCookie,
  safeNext,
  sessionCookie,
  SESSION_TTL_MS,
  tokenMatches,
} from '../../src/server/auth.js';
import { tokenPolicy } from '../../src/server/serve.js';

const TOKEN = 'status-token-' + 'z'.repeat(30);
const t0 = new Date('2026-12-03T03:00:00Z');

describe('sessions', () => {
  test('a fresh session is valid, never contains the token, and expires after the TTL', () => {
    const s = createSession(TOKEN, t0);
    expect(s).not.toContain(TOKEN);
    expect(s).toMatch(/^v1\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(checkSession(s, TOKEN, t0)).toBe('valid');
    expect(checkSession(s, TOKEN, new Date(t0.getTime() + SESSION_TTL_MS - 1))).toBe('valid');
    expect(checkSession(s, TOKEN, new Date(t0.getTime() + SESSION_TTL_MS))).toBe('expired');
    expect(createSession(TOKEN, t0)).not.toBe(s);
  });

  test('a session signed for another token, or with a longer expiry, is invalid', () => {
    const s = createSession(TOKEN, t0);
    expect(checkSession(s, TOKEN + 'x', t0)).toBe('invalid');
    const [v, exp, nonce, mac] = s.split('.');
    const extended = [v, String(Number(exp) + 86_400_000), nonce, mac].join('.');
    expect(checkSession(extended, TOKEN, t0)).toBe('invalid');
    expect(checkSession(s.slice(0, -2), TOKEN, t0)).toBe('invalid');
    expect(checkSession('garbage', TOKEN, t0)).toBe('invalid');
    expect(checkSession(undefined, TOKEN, t0)).toBe('invalid');
  });

  test('token comparison', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN.slice(1), TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches(undefined, TOKEN)).toBe(false);
  });

  test('cookie attributes and parsing', () => {
    expect(sessionCookie('abc', false)).toBe(
      'mg_session=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict',
    );
    expect(sessionCookie('abc', true)).toMatch(/; Secure$/);
    expect(readCookie('a=1; mg_session=v1.2.3.4; b=2', 'mg_session')).toBe('v1.2.3.4');
    expect(readCookie('a=1', 'mg_session')).toBeUndefined();
    expect(readCookie(undefined, 'mg_session')).toBeUndefined();
  });

  test('sign-in only ever returns to a status page of this service', () => {
    expect(safeNext('/status')).toBe('/status');
    expect(safeNext('/status/runs/42')).toBe('/status/runs/42');
    expect(safeNext('//evil.example/status')).toBe('/status');
    expect(safeNext('https://evil.example/')).toBe('/status');
    expect(safeNext('/status/runs/0')).toBe('/status');
    expect(safeNext(undefined)).toBe('/status');
  });
});

describe('FailureLimiter', () => {
  test('refuses a client after max failures until the window ends, per client', () => {
    let t = 0;
    const lim = new FailureLimiter({ max: 3, windowMs: 60_000 }, () => new Date(t));
    for (let i = 0; i < 3; i++) {
      expect(lim.retryAfter('a')).toBe(0);
      lim.fail('a');
    }
    expect(lim.retryAfter('a')).toBe(60);
    expect(lim.retryAfter('b')).toBe(0);
    t += 45_000;
    expect(lim.retryAfter('a')).toBe(15);
    t += 15_000;
    expect(lim.retryAfter('a')).toBe(0);
  });

  test('a success forgets the failures; memory is bounded', () => {
    const lim = new FailureLimiter({ max: 2, windowMs: 60_000, maxClients: 3 }, () => new Date(0));
    lim.fail('a');
    lim.succeed('a');
    lim.fail('a');
    expect(lim.retryAfter('a')).toBe(0);
    lim.fail('a');
    expect(lim.retryAfter('a')).toBe(60);
    for (const c of ['b', 'c', 'd']) lim.fail(c);
    // 'a' was the oldest entry and is forgotten.
    expect(lim.retryAfter('a')).toBe(0);
  });
});

describe('tokenPolicy', () => {
  test('on Render without a token: refused unless REQUIRE_TOKEN=false was set explicitly', () => {
    const refused = tokenPolicy({ onRender: true });
    expect(refused.refusal).toMatch(/^serve refuses to start without a token: on Render \(RENDER=true\)/);
    expect(refused.refusal).toContain('MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false');
    const open = tokenPolicy({ onRender: true, requireToken: false });
    expect(open.refusal).toBeUndefined();
    expect(open.warning).toMatch(
      /^MIGRATION_GATE_STATUS_REQUIRE_TOKEN=false on Render: \/status and \/metrics are open/,
    );
  });

  test('off Render: open with a warning unless required; a token satisfies every policy', () => {
    expect(tokenPolicy({}).warning).toMatch(/MIGRATION_GATE_STATUS_TOKEN is not set/);
    expect(tokenPolicy({ requireToken: true }).refusal).toMatch(/MIGRATION_GATE_STATUS_REQUIRE_TOKEN is on/);
    expect(tokenPolicy({ token: TOKEN, onRender: true })).toEqual({});
    expect(tokenPolicy({ token: TOKEN, requireToken: false, onRender: true })).toEqual({});
  });
});
