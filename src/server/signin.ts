/**
 * The HTTP side of auth: the `requireAuth` middleware for /status and /metrics, and POST /signin and
 * POST /signout for browsers. CSRF: the session cookie is SameSite=Strict and both forms are POST
 * only, so no other site can make a signed-in browser send anything that changes state.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import {
  checkSession,
  clearedCookie,
  createSession,
  FailureLimiter,
  readCookie,
  safeNext,
  SESSION_COOKIE,
  sessionCookie,
  tokenMatches,
  type SessionCheck,
} from './auth.js';
import { signInPage } from './html.js';

export interface AuthOptions {
  /** MIGRATION_GATE_STATUS_TOKEN; without one everything is open (serve has warned at start). */
  token?: string;
  now: () => Date;
  /** Failed attempts per client before it must wait (default 10 per 10 minutes). */
  limit?: { max: number; windowMs: number };
  logger: { warn(message: string): void };
  /** Plain 401/404/429 answers in the caller's format (JSON or HTML). */
  fail: (req: Request, res: Response, status: number, title: string, message: string) => void;
  wantsHtml: (req: Request) => boolean;
}

function bearer(req: Request): string | undefined {
  const h = req.get('authorization');
  if (!h) return undefined;
  const sp = h.indexOf(' ');
  if (sp < 0 || h.slice(0, sp).toLowerCase() !== 'bearer') return undefined;
  return h.slice(sp + 1).trim();
}

// Behind Render's proxy, req.ip is the client (trust proxy 1); direct, it is the peer.
const clientOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

const tooMany = (seconds: number) =>
  `Too many wrong tokens from your address: try again in ${seconds} s. The token is MIGRATION_GATE_STATUS_TOKEN of the status service (Render dashboard, Environment).`;

type Fail = AuthOptions['fail'];

function refuse(fail: Fail, req: Request, res: Response, seconds: number): void {
  res.set('Retry-After', String(seconds));
  fail(req, res, 429, 'too many attempts', tooMany(seconds));
}

function signInForm(req: Request, res: Response, status: number, notice?: string): void {
  const next = safeNext(req.path === '/signin' ? req.body?.next : req.originalUrl.split('?')[0]);
  res.status(status).type('html').send(signInPage(next, notice));
}

/** Installs POST /signin and /signout, and returns the middleware that guards /status and /metrics. */
export function installAuth(app: express.Express, opts: AuthOptions): RequestHandler {
  const limiter = new FailureLimiter(opts.limit ?? { max: 10, windowMs: 10 * 60_000 }, opts.now);
  installSignIn(app, opts, limiter);
  const { token, now, fail } = opts;

  return (req: Request, res: Response, next: NextFunction) => {
    if (!token) return next();
    const given = bearer(req);
    const client = clientOf(req);
    if (given !== undefined) {
      const wait = limiter.retryAfter(client);
      if (wait > 0) return refuse(fail, req, res, wait);
      if (tokenMatches(given, token)) return next();
      limiter.fail(client);
      opts.logger.warn(`wrong bearer token from ${client} for ${req.path}`);
    } else {
      const session: SessionCheck = checkSession(readCookie(req.get('cookie'), SESSION_COOKIE), token, now());
      if (session === 'valid') return next();
      if (opts.wantsHtml(req)) {
        const notice = session === 'expired' ? 'Your session expired: sign in again.' : undefined;
        return signInForm(req, res, 401, notice);
      }
    }
    res.set('WWW-Authenticate', 'Bearer realm="migration-gate"');
    fail(
      req,
      res,
      401,
      'unauthorized',
      'A valid bearer token is required: send Authorization: Bearer <MIGRATION_GATE_STATUS_TOKEN>, or sign in at /status in a browser.',
    );
  };
}

function installSignIn(app: express.Express, opts: AuthOptions, limiter: FailureLimiter): void {
  const { token, now, fail } = opts;
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

  app
    .route('/signin')
    .post(form, (req: Request, res: Response) => {
      if (!token) {
        return fail(req, res, 404, 'not found', 'No sign-in needed: this status service has no token set.');
      }
      const client = clientOf(req);
      const wait = limiter.retryAfter(client);
      if (wait > 0) return refuse(fail, req, res, wait);
      const given = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
      if (!tokenMatches(given, token)) {
        limiter.fail(client);
        opts.logger.warn(`failed sign-in from ${client}`);
        const notice =
          'That is not the token: paste MIGRATION_GATE_STATUS_TOKEN from the status service’s environment.';
        return signInForm(req, res, 401, notice);
      }
      limiter.succeed(client);
      res.set('Set-Cookie', sessionCookie(createSession(token, now()), req.secure));
      res.redirect(303, safeNext(req.body?.next));
    })
    .all(methodNotAllowed('POST', fail));

  app
    .route('/signout')
    .post((req: Request, res: Response) => {
      res.set('Set-Cookie', clearedCookie(req.secure));
      res.redirect(303, '/status');
    })
    .all(methodNotAllowed('POST', fail));
}

/** 405 with Allow for a path that exists but not for this method (RFC 9110 §15.5.6). */
export function methodNotAllowed(allow: string, fail: Fail) {
  return (req: Request, res: Response) => {
    res.set('Allow', allow);
    fail(
      req,
      res,
      405,
      'method not allowed',
      `${req.method} is not supported on ${req.path.slice(0, 80)}; use ${allow.replace(/, /g, ' or ')}.`,
    );
  };
}
