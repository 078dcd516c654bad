/**
 * A small client for the parts of Render's REST API the gate uses: Postgres exports, point-in-time
 * recovery and maintenance. Facts it relies on (Render's API reference): base
 * https://api.render.com/v1, `Authorization: Bearer <key>`; reads are limited to 400 a minute and
 * other writes to 30 a minute, and a 429 carries `Ratelimit-Reset` (seconds until the window resets).
 * Creating an export answers 202 with no body; the export shows up in the list, and its `url`
 * appears only when it is ready (there is no completion event, so we poll).
 *
 * The key is a secret: it goes into the Authorization header and nowhere else (never into an error).
 */
import { FailedError } from '../errors.js';

export interface RenderExport {
  id: string;
  createdAt: string;
  url?: string;
}

export type RecoveryStatus = 'AVAILABLE' | 'BACKUP_NOT_READY' | 'NOT_AVAILABLE';

export interface RecoveryInfo {
  recoveryStatus: RecoveryStatus;
  startsAt?: string;
}

export interface RenderPostgres {
  id: string;
  name?: string;
  plan?: string;
  status?: string;
  dashboardUrl?: string;
  version?: string;
}

export interface Maintenance {
  id: string;
  state?: string;
  type?: string;
  scheduledAt?: string;
  pendingMaintenanceBy?: string;
}

export interface RenderApiOptions {
  baseUrl: string;
  apiKey: string;
  /** Injected for tests: waiting is a port, not a timer the test has to sit through. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  signal?: AbortSignal;
  /** Stop retrying 429/5xx after this moment (epoch ms): the caller's deadline. */
  deadline?: number;
  onWait?: (why: string, ms: number) => void;
}

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/** Seconds until the rate-limit window resets, from `Ratelimit-Reset` (or `Retry-After`), as ms. */
export function resetDelayMs(headers: Headers, fallbackMs: number): number {
  for (const name of ['ratelimit-reset', 'retry-after']) {
    const raw = headers.get(name);
    if (raw === null) continue;
    const secs = Number(raw.trim());
    if (Number.isFinite(secs) && secs >= 0) return Math.max(1000, Math.ceil(secs * 1000));
    const at = Date.parse(raw);
    if (Number.isFinite(at)) return Math.max(1000, at - Date.now());
  }
  return fallbackMs;
}

/** Longest wait for one answer from Render's API. */
const CALL_TIMEOUT_MS = 30_000;

export class RenderApi {
  private readonly sleep: NonNullable<RenderApiOptions['sleep']>;
  private readonly now: () => number;

  constructor(private readonly opts: RenderApiOptions) {
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
  }

  withDeadline(deadline: number): RenderApi {
    return new RenderApi({ ...this.opts, deadline, sleep: this.sleep, now: this.now });
  }

  /** The same client with `ms` from now (on its clock) as the deadline for every call and retry. */
  withBudget(ms: number): RenderApi {
    return this.withDeadline(this.now() + ms);
  }

  /** A call never outlives the caller's deadline (a hanging API must not hold a deploy for 30 s). */
  private callTimeoutMs(): number {
    const left = this.opts.deadline === undefined ? CALL_TIMEOUT_MS : this.opts.deadline - this.now();
    return Math.max(1000, Math.min(CALL_TIMEOUT_MS, left));
  }

  private what(method: string, path: string): string {
    return `Render API ${method} ${path}`;
  }

  private async once(method: string, path: string, body?: unknown): Promise<Response> {
    const url = this.opts.baseUrl.replace(/\/+$/, '') + path;
    try {
      return await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: this.opts.signal
          ? AbortSignal.any([this.opts.signal, AbortSignal.timeout(this.callTimeoutMs())])
          : AbortSignal.timeout(this.callTimeoutMs()),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new FailedError(
        `${this.what(method, path)} could not be reached (${this.opts.signal?.aborted ? 'interrupted' : (cause ?? (err instanceof Error ? err.message : String(err)))}): check the network and RENDER_API_URL`,
      );
    }
  }

  /** One call, waiting out 429s (per Ratelimit-Reset) and retrying 5xx, within the deadline. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.once(method, path, body);
      if (res.ok) {
        const text = await res.text();
        return text ? (JSON.parse(text) as T) : undefined;
      }
      const text = (await res.text().catch(() => '')).slice(0, 300);
      const retryable = res.status === 429 || res.status >= 500;
      const wait =
        res.status === 429 ? resetDelayMs(res.headers, 60_000) : Math.min(30_000, 2000 * 2 ** (attempt - 1));
      const deadline = this.opts.deadline ?? this.now() + 120_000;
      if (retryable && attempt < 8 && this.now() + wait < deadline && !this.opts.signal?.aborted) {
        this.opts.onWait?.(
          res.status === 429
            ? `Render's API rate limit was reached (${res.headers.get('ratelimit-remaining') ?? '0'} of ${res.headers.get('ratelimit-limit') ?? '?'} calls left); waiting for the window to reset`
            : `Render's API answered HTTP ${res.status}; retrying`,
          wait,
        );
        await this.sleep(wait, this.opts.signal);
        continue;
      }
      throw this.failure(method, path, res.status, text, retryable);
    }
  }

  private failure(method: string, path: string, status: number, text: string, retried: boolean): FailedError {
    const what = this.what(method, path);
    const message = (() => {
      try {
        return (JSON.parse(text) as { message?: string }).message ?? '';
      } catch {
        return '';
      }
    })();
    const detail = message ? ` (${message.replace(/\s+/g, ' ').slice(0, 200)})` : '';
    if (status === 401 || status === 403) {
      return new FailedError(
        `${what} refused the API key (HTTP ${status})${detail}: RENDER_API_KEY is wrong, revoked, or belongs to a workspace without this database; create a key under Account Settings -> API Keys and set it on the service`,
      );
    }
    if (status === 404) {
      return new FailedError(
        `${what}: not found (HTTP 404)${detail}: check MIGRATION_GATE_RENDER_POSTGRES_ID (dpg-...) and that RENDER_API_KEY belongs to the database's workspace`,
      );
    }
    if (status === 429) {
      return new FailedError(
        `${what} stayed rate-limited (HTTP 429) past the time the gate can wait: another tool may be using the same API key heavily; retry the deploy in a minute`,
      );
    }
    return new FailedError(
      `${what} failed with HTTP ${status}${detail}${retried ? ' after retries' : ''}: Render may be having trouble (see status.render.com); retry the deploy`,
    );
  }

  listExports(postgresId: string): Promise<RenderExport[]> {
    return this.request<RenderExport[]>('GET', `/postgres/${encodeURIComponent(postgresId)}/export`).then(
      (r) => r ?? [],
    );
  }

  async createExport(postgresId: string): Promise<void> {
    await this.request('POST', `/postgres/${encodeURIComponent(postgresId)}/export`);
  }

  async recoveryInfo(postgresId: string): Promise<RecoveryInfo> {
    const r = await this.request<RecoveryInfo>('GET', `/postgres/${encodeURIComponent(postgresId)}/recovery`);
    if (!r?.recoveryStatus) {
      throw new FailedError(
        `Render API GET /postgres/${postgresId}/recovery answered without a recoveryStatus`,
      );
    }
    return r;
  }

  async recover(
    postgresId: string,
    body: { restoreTime: string; restoreName?: string; plan?: string; environmentId?: string },
  ): Promise<RenderPostgres> {
    const r = await this.request<RenderPostgres>(
      'POST',
      `/postgres/${encodeURIComponent(postgresId)}/recovery`,
      body,
    );
    if (!r?.id)
      throw new FailedError(
        `Render API POST /postgres/${postgresId}/recovery answered without the new instance`,
      );
    return r;
  }

  async postgres(postgresId: string): Promise<RenderPostgres> {
    const r = await this.request<RenderPostgres>('GET', `/postgres/${encodeURIComponent(postgresId)}`);
    return r ?? { id: postgresId };
  }

  /** Scheduled or running maintenance on the resource. */
  async maintenance(resourceId: string): Promise<Maintenance[]> {
    const q = new URLSearchParams({ resourceId, state: 'scheduled,in_progress' });
    const r = await this.request<Array<Maintenance | { maintenance: Maintenance }>>(
      'GET',
      `/maintenance?${q}`,
    );
    // List endpoints wrap items with a cursor in some versions of the API.
    return (r ?? []).map((m) => ('maintenance' in m ? m.maintenance : m));
  }
}

/** `dpg-<id>` from MIGRATION_GATE_RENDER_POSTGRES_ID or the host of DATABASE_URL (`dpg-<id>-a[.region-postgres.render.com]`). */
export function postgresIdFrom(explicit: string | undefined, host: string | undefined): string | undefined {
  if (explicit) return explicit;
  const first = (host ?? '').split('.')[0] ?? '';
  const m = /^(dpg-[a-z0-9]+)-a$/.exec(first);
  return m?.[1];
}
