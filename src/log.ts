/**
 * The process's one output format. Text by default (Render's log view is read by people): log lines
 * as `HH:MM:SS level message`, reports as they are. With MIGRATION_GATE_LOG_FORMAT=json every line is
 * one JSON object (for log drains), reports included. Every message and string field goes through
 * `redact` first, so a password in a URL or in a child process's output never reaches the log.
 *
 * A sentence is printed once: the run's report already holds its decision and next steps, so the
 * log line and the closing summary that repeat it are dropped (see `Printed`).
 */
import winston from 'winston';

export type Logger = Pick<winston.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface LoggerOptions {
  format: 'json' | 'text';
  level: 'debug' | 'info' | 'warn' | 'error';
  redact: (text: string) => string;
  /** Defaults to process.stderr (stdout stays clean for reports and --json). */
  stream?: NodeJS.WritableStream;
  /** Shared with the process's `say`, so neither repeats what the other printed. */
  printed?: Printed;
}

/**
 * What this process has printed so far: reports (the run's check report, result lines) and log
 * messages. A message of more than a few words that an earlier report already holds is a repeat:
 * on-call reads it once. Log lines are never compared with each other, so a progress or lock-wait line
 * that says the same thing every 10 s still appears.
 */
export class Printed {
  private reports: string[] = [];
  private logs: string[] = [];
  private static readonly MIN_LENGTH = 24;

  private static within(texts: string[], message: string): boolean {
    const m = message.trim();
    return m.length >= Printed.MIN_LENGTH && texts.some((t) => t.includes(m));
  }

  /** In a report printed earlier. */
  inReport(message: string): boolean {
    return Printed.within(this.reports, message);
  }

  /** In a report or a log line printed earlier. */
  anywhere(message: string): boolean {
    return this.inReport(message) || Printed.within(this.logs, message);
  }

  addReport(text: string): void {
    this.reports.push(text);
  }

  addLog(text: string): void {
    this.logs.push(text);
  }
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
  const printed = opts.printed;
  const scrub = winston.format((info) => {
    for (const key of Object.keys(info)) {
      info[key] = redactDeep(info[key], opts.redact);
    }
    return info;
  });
  const once = winston.format((info) => {
    if (!printed || typeof info.message !== 'string' || info.report === true) return info;
    if (printed.inReport(info.message)) return false;
    printed.addLog(info.message);
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
    format: winston.format.combine(
      scrub(),
      once(),
      winston.format.timestamp(),
      opts.format === 'json' ? winston.format.json() : text,
    ),
    transports: [new winston.transports.Stream({ stream })],
  });
}

export interface ProcessOutput {
  logger: winston.Logger;
  /** A report or result for people: as is on stdout (text), or one `info` entry (json). */
  say: (text: string) => void;
  /** `say(line)` unless `sentence` (default: the line) was printed already. */
  sayOnce: (line: string, sentence?: string) => void;
}

/** The logger and the report printer of one process, in one format, sharing what was printed. */
export function createOutput(opts: LoggerOptions & { stdout?: NodeJS.WritableStream }): ProcessOutput {
  const printed = opts.printed ?? new Printed();
  const logger = createLogger({ ...opts, printed });
  const stdout = opts.stdout ?? process.stdout;
  const say = (text: string) => {
    const clean = opts.redact(text);
    printed.addReport(clean);
    // JSON: one entry, marked as a report (the filter above lets it through as it is).
    if (opts.format === 'json') logger.log({ level: 'info', message: clean, report: true });
    else stdout.write(clean + '\n');
  };
  const sayOnce = (line: string, sentence = line) => {
    if (!printed.anywhere(opts.redact(sentence))) say(line);
  };
  return { logger, say, sayOnce };
}

/** A logger that drops everything (for library callers and quiet tests). */
export function silentLogger(): Logger {
  const noop = (() => undefined) as unknown as winston.LeveledLogMethod;
  return { debug: noop, info: noop, warn: noop, error: noop };
}
