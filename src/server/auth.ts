/**
 * Who may read /status and /metrics: a bearer token (curl, Prometheus) or a browser session made by
 * signing in with that token. The session cookie never holds the token: it holds an expiry signed
 * with a key derived from the token (HMAC), so rotating the token signs everyone out, and nothing
 * needs to be stored server-side. Pure functions and a small in-memory limiter; the clock is injected.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time: both sides are hashed to 32 bytes, so lengths never differ and never leak. */
export function tokenMatches(provided: string | undefined, expected: string): boolean {
  if (provided === undefined) return false;
  return timingSafeEqual(sha256(provided), sha256(expected));
}

export const SESSION_COOKIE = 'mg_session';
/** An on-call shift: long enough not to sign in again at 3 a.m., short enough that a lost phone expires. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

const VERSION = 'v1';

function sessionKey(token: string): Buffer {
  // A separate key (not the token itself) so a MAC never doubles as a token oracle.
  return createHmac('sha256', token).update('migration-gate status session key').digest();
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/** `v1.<expiry ms>.<nonce>.<mac>`: the nonce makes every session value distinct. */
export function createSession(token: string, now: Date, ttlMs = SESSION_TTL_MS): string {
  const payload = `${VERSION}.${now.getTime() + ttlMs}.${randomBytes(9).toString('base64url')}`;
  return `${payload}.${mac(sessionKey(token), payload)}`;
}

export type SessionCheck = 'valid' | 'expired' | 'invalid';

export function checkSession(value: string | undefined, token: string, now: Date): SessionCheck {
  if (!value) return 'invalid';
  const parts = value.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) return 'invalid';
  const payload = parts.slice(0, 3).join('.');
  const expected = Buffer.from(mac(sessionKey(token), payload));
  const given = Buffer.from(parts[3]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  const expiry = Number(parts[1]);
  if (!Number.isSafeInteger(expiry)) return 'invalid';
  return expiry > now.getTime() ? 'valid' : 'expired';
}

/** The one cookie we care about, from a Cookie header (no dependency for a single name=value). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(value: string, secure: boolean, maxAgeMs = SESSION_TTL_MS): string {
  const attrs = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${Math.floor(maxAgeMs / 1000)}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (secure) attrs.push('Secure');
  return attrs.join('; ');
}

export function clearedCookie(secure: boolean): string {
  return sessionCookie('', secure, 0);
}

/** Where sign-in may send the browser back to: only our own pages, never an open redirect. */
export function safeNext(raw: unknown): string {
  return typeof raw === 'string' && /^\/status(\/runs\/[1-9][0-9]{0,15})?$/.test(raw) ? raw : '/status';
}

export interface LimiterOptions {
  /** Failed attempts allowed per client within the window. */
  max: number;
  windowMs: number;
  /** Clients remembered at most (oldest forgotten first), so a flood cannot grow memory. */
  maxClients?: number;
}

/**
 * Failed credentials per client (IP): after `max` failures in a window the client is refused until
 * the window ends. A fixed window is enough here: it bounds guesses, it is not a fairness policy.
 */
export class FailureLimiter {
  private readonly clients = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly opts: LimiterOptions,
    private readonly now: () => Date,
  ) {}

  /** Seconds until the client may try again, or 0 when it may try now. */
  retryAfter(client: string): number {
    const entry = this.clients.get(client);
    const t = this.now().getTime();
    if (!entry || entry.resetAt <= t) return 0;
    return entry.count >= this.opts.max ? Math.ceil((entry.resetAt - t) / 1000) : 0;
  }

  fail(client: string): void {
    const t = this.now().getTime();
    const entry = this.clients.get(client);
    if (entry && entry.resetAt > t) {
      entry.count++;
      return;
    }
    this.clients.delete(client);
    if (this.clients.size >= (this.opts.maxClients ?? 10_000)) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
    this.clients.set(client, { count: 1, resetAt: t + this.opts.windowMs });
  }

  succeed(client: string): void {
    this.clients.delete(client);
  }
}
