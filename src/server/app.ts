/**
 * `migration-gate serve`: /healthz (public), /status (JSON or HTML) and /metrics for on-call.
 * The pre-deploy run is short-lived; everything shown here is read back from the database (version
 * table, advisory lock, history table) through a short cache, and survives the database being down.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type pg from 'pg';
import { redact } from '../db/connect.js';
import { historyProblem, isUnreadable, readRun, type HistoryRow } from './history-read.js';
import { HTML_CSP, messagePage, runPage, statusPage, unreadablePage, type PageOptions } from './html.js';
import { installAuth, methodNotAllowed } from './signin.js';
import { ServerMetrics } from './metrics.js';
import { loadSnapshot, SnapshotCache, type SnapshotState } from './snapshot.js';
import { buildStatus, runView } from './view.js';

/** Structural, so a winston logger (or console) fits. */
export interface ServerLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface AppDeps {
  pool: pg.Pool;
  /** History schema (default `migration_gate`). */
  schema: string;
  /** When set, /status and /metrics need `Authorization: Bearer <token>` or a signed-in browser session. */
  token?: string;
  /**
   * express's `trust proxy`: 1 behind Render's proxy (one hop), so req.ip is the client for the sign-in
   * limiter and X-Forwarded-Proto: https marks the session cookie Secure. Default false (direct).
   */
  trustProxy?: boolean | number | string;
  /** Failed token attempts per client before 429 (default 10 per 10 minutes). */
  authLimit?: { max: number; windowMs: number };
  /** How long a database read is reused (default 2000 ms). */
  cacheMs?: number;
  /** The deployed code's heads; default: the heads recorded by the last run. */
  codeHeads?: string[];
  logger?: ServerLogger;
  now?: () => Date;
  /** Alembic's version table (default `alembic_version` on the search path). */
  versionTable?: string;
  versionTableSchema?: string;
  /** Strings never to serve (the database password...); the token is always included. */
  secrets?: string[];
  /** Turns a failed database read into one readable line (default: the error's message). */
  describeError?: (err: unknown) => string;
}

const silent: ServerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function deepMap(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => deepMap(v, f));
  if (value instanceof Date) return value;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepMap(v, f)]));
  }
  return value;
}

function wantsHtml(req: Request): boolean {
  return req.accepts(['json', 'html']) === 'html';
}

type Send = (req: Request, res: Response, status: number, json: unknown, html: () => string) => void;
type Fail = (req: Request, res: Response, status: number, title: string, message: string) => void;

/** What every route shares: the clock, redaction, the cached snapshot, the answers in JSON or HTML. */
interface Ctx {
  deps: AppDeps;
  now: () => Date;
  logger: ServerLogger;
  clean: (s: string) => string;
  scrub: <T>(v: T) => T;
  describe: (err: unknown) => string;
  metrics: ServerMetrics;
  cache: SnapshotCache;
  /** The role serve connects as, named in a missing-privilege cause. */
  user: string;
  noteRows: (rows: HistoryRow[]) => void;
  loadRun: (id: number) => Promise<HistoryRow | null>;
  pageOpts: () => PageOptions;
  send: Send;
  fail: Fail;
}

/** Each unreadable row and each history problem is logged once (not on every refresh), by id. */
function rowLogger(deps: AppDeps, logger: ServerLogger, clean: (s: string) => string) {
  const logged = new Set<string>();
  const logOnce = (key: string, message: string) => {
    if (logged.has(key)) return;
    if (logged.size > 1000) logged.clear();
    logged.add(key);
    logger.warn(clean(message));
  };
  const noteRows = (rows: HistoryRow[]) => {
    for (const r of rows)
      if (isUnreadable(r))
        logOnce(
          `row:${r.id}:${r.unreadable}`,
          `history row ${r.id === null ? '(no usable id)' : `#${r.id}`} of ${deps.schema}.runs is unreadable: ${r.unreadable}; /status shows it as unreadable and renders the rest`,
        );
  };
  return { logOnce, noteRows };
}

/** Single runs outside the recent list: cached like the snapshot, keyed by id, bounded. */
function runLoader(deps: AppDeps, now: () => Date, cacheMs: number) {
  const runCache = new Map<number, { at: number; p: Promise<HistoryRow | null> }>();
  return (id: number): Promise<HistoryRow | null> => {
    const t = now().getTime();
    const hit = runCache.get(id);
    if (hit && t - hit.at < cacheMs) return hit.p;
    if (runCache.size > 200) runCache.clear();
    const p = readRun(deps.pool, deps.schema, id);
    runCache.set(id, { at: t, p });
    p.catch(() => runCache.delete(id));
    return p;
  };
}

function makeContext(deps: AppDeps): Ctx {
  const now = deps.now ?? (() => new Date());
  const logger = deps.logger ?? silent;
  const cacheMs = deps.cacheMs ?? 2000;
  const versionTable = {
    table: deps.versionTable ?? 'alembic_version',
    ...(deps.versionTableSchema ? { schema: deps.versionTableSchema } : {}),
  };
  const secrets = [...(deps.secrets ?? []), ...(deps.token ? [deps.token] : [])].filter((s) => s.length > 0);
  const clean = (s: string) => redact(s, secrets);
  const describe = (err: unknown) =>
    clean(deps.describeError ? deps.describeError(err) : err instanceof Error ? err.message : String(err));
  const metrics = new ServerMetrics();
  const user = (deps.pool as unknown as { options?: { user?: string } }).options?.user ?? 'the service user';
  const { logOnce, noteRows } = rowLogger(deps, logger, clean);
  const source = { schema: deps.schema, versionTable, user, now };
  const cache = new SnapshotCache(
    async () => {
      const snap = await loadSnapshot(deps.pool, source);
      noteRows(snap.rows);
      if (snap.historyProblem) logOnce(`history:${snap.historyProblem}`, snap.historyProblem);
      return snap;
    },
    cacheMs,
    now,
    (err) => {
      metrics.refreshErrors.inc();
      const msg = describe(err);
      logger.warn(`database read failed: ${msg}`);
      return msg;
    },
  );
  const send: Send = (req, res, status, json, html) => {
    res.status(status);
    if (wantsHtml(req)) res.type('html').send(clean(html()));
    else res.type('json').send(clean(JSON.stringify(json, null, 2)));
  };
  const fail: Fail = (req, res, status, title, message) =>
    send(req, res, status, { error: title, message: clean(message) }, () =>
      messagePage(status, title, clean(message)),
    );
  return {
    deps,
    now,
    logger,
    clean,
    scrub: <T>(v: T): T => deepMap(v, clean) as T,
    describe,
    metrics,
    cache,
    user,
    noteRows,
    loadRun: runLoader(deps, now, cacheMs),
    pageOpts: () => ({ signOut: Boolean(deps.token), now: now() }),
    send,
    fail,
  };
}

/** Security headers on every answer, and the request counter. */
function installHeaders(app: express.Express, ctx: Ctx): void {
  app.use((req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': HTML_CSP,
      'Cross-Origin-Resource-Policy': 'same-origin',
      Vary: 'Accept, Authorization, Cookie',
    });
    res.on('finish', () => {
      const route = req.route ? String(req.baseUrl + req.route.path) : 'unmatched';
      ctx.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
    });
    next();
  });
}

function installOpenRoutes(app: express.Express, ctx: Ctx): void {
  // Liveness of this service only: it says nothing about the database (that is /status, behind the
  // token), and a database outage must not make Render restart the one process that reports it.
  app
    .route('/healthz')
    .get((_req, res) => {
      res
        .status(app.locals.draining ? 503 : 200)
        .type('text')
        .send(app.locals.draining ? 'not ok\n' : 'ok\n');
    })
    .all(methodNotAllowed('GET, HEAD', ctx.fail));

  // The service's bare URL (what people paste into a phone) is the status page.
  app
    .route('/')
    .get((_req, res) => res.redirect(302, '/status'))
    .all(methodNotAllowed('GET, HEAD', ctx.fail));
}

/** /status and /metrics: rendered once per snapshot state, so a burst renders once, like it queries once. */
function installStatus(app: express.Express, ctx: Ctx, auth: RequestHandler): void {
  const { deps } = ctx;
  // (Ages in the bodies are therefore as of the read, at most a few cacheMs off.) Kept as bytes:
  // encoding a large string on every request was a good part of the time under load.
  let rendered: { state: SnapshotState; json?: Buffer; html?: Buffer; metrics?: Buffer } = {
    state: {} as SnapshotState,
  };
  const forState = (state: SnapshotState) => {
    if (rendered.state !== state) rendered = { state };
    return rendered;
  };

  app
    .route('/status')
    .get(auth, async (req, res) => {
      const r = forState(await ctx.cache.get());
      const html = wantsHtml(req);
      let body = html ? r.html : r.json;
      if (body === undefined) {
        const view = ctx.scrub(
          buildStatus(r.state, { schema: deps.schema, codeHeads: deps.codeHeads, now: ctx.now() }),
        );
        body = Buffer.from(
          ctx.clean(html ? statusPage(view, ctx.pageOpts()) : JSON.stringify(view, null, 2)),
        );
        if (html) r.html = body;
        else r.json = body;
      }
      res
        .status(200)
        .set('Content-Type', html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8')
        .send(body);
    })
    .all(methodNotAllowed('GET, HEAD', ctx.fail));

  app
    .route('/metrics')
    .get(auth, async (_req, res) => {
      const r = forState(await ctx.cache.get());
      if (r.metrics === undefined) {
        ctx.metrics.update(r.state, ctx.now(), deps.codeHeads);
        r.metrics = Buffer.from(ctx.clean(await ctx.metrics.registry.metrics()));
      }
      res.set('Content-Type', ctx.metrics.registry.contentType).send(r.metrics);
    })
    .all(methodNotAllowed('GET, HEAD', ctx.fail));
}

/** A run from the cached recent rows, else from the database; a failed read answered here. */
async function findRun(
  ctx: Ctx,
  req: Request,
  res: Response,
  id: number,
): Promise<HistoryRow | null | undefined> {
  const state = await ctx.cache.get();
  const cached = state.data?.rows.find((r) => r.id === id);
  if (cached) return cached;
  try {
    return await ctx.loadRun(id);
  } catch (err) {
    const problem = historyProblem(err, ctx.deps.schema, ctx.user);
    if (problem) ctx.fail(req, res, 503, 'history unreadable', `Cannot read run #${id}: ${problem.message}.`);
    else
      ctx.fail(
        req,
        res,
        503,
        'database unreachable',
        `Cannot read run #${id}: ${ctx.describe(err)}. Retry when the database is back.`,
      );
    return undefined;
  }
}

function installRunPage(app: express.Express, ctx: Ctx, auth: RequestHandler): void {
  const { deps, fail } = ctx;
  app
    .route('/status/runs/:id')
    .get(auth, async (req, res) => {
      const raw = String(req.params.id);
      const id = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(id)) {
        const msg = `No run "${raw.slice(0, 40)}": run ids are positive whole numbers; see /status for the recent runs.`;
        return fail(req, res, 404, 'not found', msg);
      }
      const run = await findRun(ctx, req, res, id);
      if (run === undefined) return;
      if (run === null) {
        const msg = `No run #${id} in the history (schema ${deps.schema}); see /status for the recent runs.`;
        return fail(req, res, 404, 'not found', msg);
      }
      if (isUnreadable(run)) {
        ctx.noteRows([run]);
        const shown = ctx.scrub(run);
        return ctx.send(req, res, 200, shown, () => unreadablePage(shown, ctx.pageOpts()));
      }
      const data = (await ctx.cache.get()).data;
      // The lock only says something about the newest run.
      const latest = data?.rows[0]?.id === run.id;
      const view = ctx.scrub(
        runView(run, {
          ...(latest ? { lock: data?.lock ?? null } : {}),
          lastMigratedId: data?.lastMigrated?.id ?? null,
          rows: data?.rows ?? [],
        }),
      );
      ctx.send(req, res, 200, view, () => runPage(view, ctx.pageOpts()));
    })
    .all(methodNotAllowed('GET, HEAD', fail));
}

function installFallbacks(app: express.Express, ctx: Ctx): void {
  app.use((req: Request, res: Response) => {
    ctx.fail(
      req,
      res,
      404,
      'not found',
      `Nothing at ${req.path.slice(0, 80)}: try /status, /status/runs/<id>, /metrics or /healthz.`,
    );
  });

  // Four parameters: express's error handler. Never a stack trace, never a secret.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number })?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return ctx.fail(req, res, status, 'bad request', 'The request could not be understood.');
    }
    ctx.logger.error(`request failed: ${ctx.describe(err)}`, { path: req.path });
    if (res.headersSent) return res.end();
    ctx.fail(
      req,
      res,
      500,
      'internal error',
      'migration-gate hit an internal error serving this request; see its logs.',
    );
  });
}

export function createApp(deps: AppDeps): express.Express {
  const ctx = makeContext(deps);
  // An idle pooled connection dying (database restart) emits 'error'; unhandled, it would crash serve.
  if (deps.pool.listenerCount('error') === 0)
    deps.pool.on('error', (err) => ctx.logger.warn(`idle database connection lost: ${ctx.describe(err)}`));

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.trustProxy ?? false);
  // Set by serve's close(): /healthz says "not ok" while the process drains.
  app.locals.draining = false;

  installHeaders(app, ctx);
  installOpenRoutes(app, ctx);
  const auth = installAuth(app, {
    ...(deps.token ? { token: deps.token } : {}),
    now: ctx.now,
    ...(deps.authLimit ? { limit: deps.authLimit } : {}),
    logger: ctx.logger,
    fail: ctx.fail,
    wantsHtml,
  });
  installStatus(app, ctx, auth);
  installRunPage(app, ctx, auth);
  installFallbacks(app, ctx);
  return app;
}
