/**
 * Progress lines for long steps (dump, upload, verify, restore): every 10 s, bytes so far, the rate,
 * and how far along against an estimate of the total. The text is a pure function of the numbers;
 * the reporter only adds a clock and a timer, both injectable, so tests need no waiting.
 */

export const PROGRESS_EVERY_MS = 10_000;

export interface ProgressState {
  /** The step, as the log names it: `dump`, `upload`, `verify`, `restore`. */
  step: string;
  bytes: number;
  elapsedMs: number;
  /** What the total is compared with, when known. */
  estimate?: {
    bytes: number;
    /** Where the estimate comes from, e.g. `pg_database_size`, `the dump's size`. */
    source: string;
    /**
     * An upper bound rather than the total: pg_dump's compressed output is usually far smaller than
     * the database (indexes are not dumped), so the time left is "at most".
     */
    upperBound?: boolean;
  };
  /** What is being worked on, e.g. `table public.users`. */
  detail?: string;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** One progress line, e.g. `dump: 120.0 MiB so far in 10 s (12.0 MiB/s); ...`. */
export function formatProgress(p: ProgressState): string {
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.bytes / seconds : 0;
  const parts = [
    `${p.step}: ${formatBytes(p.bytes)} so far in ${formatSeconds(seconds)} (${formatBytes(Math.round(rate))}/s)`,
  ];
  if (p.detail) parts[0] += `, ${p.detail}`;
  const e = p.estimate;
  if (e && e.bytes > 0) {
    const left = Math.max(0, e.bytes - p.bytes);
    const eta = rate > 0 ? left / rate : undefined;
    if (e.upperBound) {
      parts.push(
        `${e.source} is ${formatBytes(e.bytes)} (the dump is usually smaller)` +
          (eta !== undefined && left > 0 ? `: at most ~${formatSeconds(eta)} left at this rate` : ''),
      );
    } else {
      const pct = Math.min(100, Math.floor((p.bytes / e.bytes) * 100));
      parts.push(
        `${pct}% of ${formatBytes(e.bytes)} (${e.source})` +
          (eta !== undefined && left > 0 ? `, ~${formatSeconds(eta)} left` : ''),
      );
    }
  }
  return parts.join('; ');
}

export interface ProgressReporterOptions {
  step: string;
  say: (line: string) => void;
  estimate?: ProgressState['estimate'];
  everyMs?: number;
  now?: () => number;
  /** Injected for tests; defaults to setInterval/clearInterval (unref'd: never keeps a process up). */
  schedule?: (fn: () => void, ms: number) => () => void;
}

export interface ProgressReporter {
  /** The byte count so far (call as often as you like; only the timer prints). */
  update(bytes: number, detail?: string): void;
  /** Stops the timer; prints nothing more. */
  stop(): void;
}

function defaultSchedule(fn: () => void, ms: number): () => void {
  const t = setInterval(fn, ms);
  t.unref();
  return () => clearInterval(t);
}

/** Prints a progress line every 10 s (by default) until stopped. Nothing is printed for short steps. */
export function startProgress(opts: ProgressReporterOptions): ProgressReporter {
  const now = opts.now ?? Date.now;
  const started = now();
  let bytes = 0;
  let detail: string | undefined;
  const cancel = (opts.schedule ?? defaultSchedule)(() => {
    opts.say(
      formatProgress({ step: opts.step, bytes, elapsedMs: now() - started, estimate: opts.estimate, detail }),
    );
  }, opts.everyMs ?? PROGRESS_EVERY_MS);
  return {
    update(b, d) {
      bytes = b;
      detail = d;
    },
    stop: cancel,
  };
}

/** The size PostgreSQL reports for the connected database: the dump's upper-bound estimate. */
export async function databaseSize(client: {
  query: (sql: string) => Promise<{ rows: Array<Record<string, unknown>> }>;
}): Promise<number | undefined> {
  const res = await client.query('SELECT pg_database_size(current_database())::bigint AS bytes');
  const n = Number(res.rows[0]?.bytes);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
