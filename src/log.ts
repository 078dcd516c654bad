/**
 * winston logger: one JSON object per line when stderr is not a terminal (Render's log stream),
 * readable lines on a terminal. Every message and string field goes through `redact` first, so a
 * password in a URL or in a child process's output never reaches the log.
 */
import winston from 'winston';

export type Logger = Pick<winston.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface LoggerOptions {
  format: 'auto' | 'json' | 'text';
  level: 'debug' | 'info' | 'warn' | 'error';
  redact: (text: string) => string;
  /** Defaults to process.stderr (stdout stays clean for reports and --json). */
  stream?: NodeJS.WritableStream;
  isTTY?: boolean;
}

function redactDeep(value: unknown, redact: (s: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, redact, depth + 1);
  return out;
}

export function createLogger(opts: LoggerOptions): winston.Logger {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.isTTY ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  const json = opts.format === 'json' || (opts.format === 'auto' && !tty);
  const scrub = winston.format((info) => {
    for (const key of Object.keys(info)) {
      info[key] = redactDeep(info[key], opts.redact);
    }
    return info;
  });
  const text = winston.format.printf((info) => {
    const { level, message, timestamp, ...rest } = info;
    const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
    const time = String(timestamp).slice(11, 19);
    return `${time} ${level.padEnd(5)} ${String(message)}${extra}`;
  });
  return winston.createLogger({
    level: opts.level,
    format: winston.format.combine(scrub(), winston.format.timestamp(), json ? winston.format.json() : text),
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything (for library callers and quiet tests). */
export function silentLogger(): Logger {
  const noop = (() => undefined) as unknown as winston.LeveledLogMethod;
  return { debug: noop, info: noop, warn: noop, error: noop };
}
