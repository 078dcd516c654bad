#!/usr/bin/env node
/**
 * The command line: parses arguments, prints reports, maps typed errors to exit codes. The only
 * place that calls process.exit. Commands load their modules lazily so `run` starts fast, and `check`
 * never loads the logger (winston: ~26 ms, ~11 MB) it does not use.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { commandHelp, generalHelp, parseCommandLine, type Flags } from './cli-usage.js';
import {
  loadSettings,
  readRenderEnv,
  unknownSettingWarnings,
  type SettingKey,
  type Settings,
} from './config/settings.js';
import { ConfigError, EXIT_CODE_HELP, ExitCode, GateError, exitCodeFor } from './errors.js';
import { withInstalledClient } from './pgclient/discover.js';
import { redact } from './redact.js';

const VERSION = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
})();

function settingsFor(flags: Flags, required: SettingKey[]): Settings {
  const env = { ...process.env };
  if (typeof flags.config === 'string') env.ALEMBIC_CONFIG = flags.config;
  // A client installed by `pg-client install` is used unless MIGRATION_GATE_PG_DUMP says otherwise.
  return withInstalledClient(loadSettings(env, required), env, process.cwd());
}

function secretsOf(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const key of ['DATABASE_URL', 'REHEARSAL_DATABASE_URL']) {
    const v = env[key];
    if (!v) continue;
    try {
      const pw = decodeURIComponent(new URL(v.replace(/^[a-z0-9+]+:\/\//i, 'http://')).password);
      if (pw) out.push(pw);
    } catch {
      // An unparsable URL is reported by the settings check, without its value.
    }
  }
  for (const key of [
    'MIGRATION_GATE_STATUS_TOKEN',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'MIGRATION_GATE_WEBHOOK_URL',
    'RENDER_API_KEY',
  ]) {
    if (env[key] && env[key]!.length >= 4) out.push(env[key]!);
  }
  return out;
}

/** Hides known secrets and any password inside a URL, in everything the CLI prints. */
export function makeRedactor(env: NodeJS.ProcessEnv): (text: string) => string {
  // Longest first, so a secret that contains another is replaced whole.
  const secrets = secretsOf(env).sort((a, b) => b.length - a.length);
  return (text: string) => redact(text, secrets);
}

type Out = (s: string) => void;

/**
 * SIGTERM/SIGINT abort the running step (the child gets the signal, the run is recorded as
 * interrupted); a second one exits at once.
 */
function abortOnSignals(): AbortController {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`migration-gate: second ${sig}: exiting now\n`);
      process.exit(ExitCode.FAILED);
    }
    process.stderr.write(
      `migration-gate: received ${sig}: stopping the running step and recording the run…\n`,
    );
    controller.abort(new Error(sig));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return controller;
}

async function settingsCommand(flags: Flags, out: Out): Promise<number> {
  const { settingsMarkdownTable, formatSettingsReport, describeSettings } =
    await import('./config/settings.js');
  const format = typeof flags.format === 'string' ? flags.format : 'text';
  if (format === 'markdown') out(settingsMarkdownTable());
  else if (format === 'text') out(formatSettingsReport(process.env));
  else throw new ConfigError(`unknown --format ${format}: use text or markdown`);
  return describeSettings(process.env).some((r) => r.problem) ? ExitCode.CONFIG : ExitCode.OK;
}

function serverVersionFlag(flags: Flags): number | undefined {
  if (typeof flags['server-version'] !== 'string') return undefined;
  const n = Number(flags['server-version']);
  if (!Number.isInteger(n) || n < 90000) {
    throw new ConfigError(
      `--server-version must be a server_version_num such as 150004 (SHOW server_version_num), not ${flags['server-version']}`,
    );
  }
  return n;
}

async function checkCommand(flags: Flags, out: Out, signal: AbortSignal): Promise<number> {
  const settings = settingsFor(flags, []);
  const { loadProject } = await import('./gate/project.js');
  const { runCheck } = await import('./gate/check.js');
  const format = flags.json ? 'json' : typeof flags.format === 'string' ? flags.format : 'human';
  if (!['human', 'json', 'github', 'markdown'].includes(format)) {
    throw new ConfigError(`unknown --format ${format}: use human, json, github or markdown`);
  }
  const serverVersionNum = serverVersionFlag(flags);
  // Every mode of `check` needs facts of the whole history up to the target, extracted in the one
  // parse of each file: full facts when every migration is judged (no --from / --since-ref), else
  // upgrade()'s operations for the replay below the few judged (loadBodies reads theirs in full).
  const lint = typeof flags.from !== 'string' && typeof flags['since-ref'] !== 'string';
  const loaded = await loadProject(path.resolve(settings.alembicConfig), {
    signal,
    bodies: lint ? 'all' : 'replay',
    threads: settings.loadThreads === 'auto',
  });
  const { report } = await runCheck({
    loaded,
    from: typeof flags.from === 'string' ? flags.from : undefined,
    to: typeof flags.to === 'string' ? flags.to : undefined,
    sinceRef: typeof flags['since-ref'] === 'string' ? flags['since-ref'] : undefined,
    serverVersionNum,
    policy: {
      allow: settings.allow,
      allowReason: settings.allowReason,
      lockingBlockRows: settings.lockingBlockRows,
      codeRollback: settings.codeRollback,
    },
  });
  if (format === 'json') out(JSON.stringify(report, null, 2));
  else if (format === 'github') out((await import('./report/github.js')).formatGithub(report));
  else if (format === 'markdown') out((await import('./report/markdown.js')).formatMarkdown(report));
  else out((await import('./report/human.js')).formatHuman(report));
  return report.decision === 'block' ? ExitCode.BLOCKED : ExitCode.OK;
}

async function runCommand(flags: Flags, scrub: (s: string) => string, signal: AbortSignal): Promise<number> {
  const settings = settingsFor(flags, ['databaseUrl']);
  const render = readRenderEnv(process.env);
  const { createOutput } = await import('./log.js');
  const { logger, say, sayOnce } = createOutput({
    format: settings.logFormat,
    level: settings.logLevel,
    redact: scrub,
  });
  for (const w of unknownSettingWarnings(process.env)) logger.warn(w);
  const { runGate } = await import('./gate/run.js');
  const { formatHuman } = await import('./report/human.js');
  const result = await runGate({
    settings,
    render,
    logger,
    cwd: process.cwd(),
    signal,
    onReport: (report) => say(formatHuman(report)),
  });
  // The closing lines, unless the report above already said them (a block's decision and next steps).
  sayOnce(`migration-gate: ${result.summary}`, result.summary);
  for (const n of result.nextSteps) sayOnce(`Next: ${n}`);
  return result.outcome === 'blocked' ? ExitCode.BLOCKED : ExitCode.OK;
}

async function serveCommand(
  flags: Flags,
  scrub: (s: string) => string,
  signal: AbortSignal,
): Promise<number> {
  const settings = settingsFor(flags, ['databaseUrl']);
  const { createLogger } = await import('./log.js');
  const logger = createLogger({ format: settings.logFormat, level: settings.logLevel, redact: scrub });
  for (const w of unknownSettingWarnings(process.env)) logger.warn(w);
  const { startServe } = await import('./server/serve.js');
  const server = await startServe({
    databaseUrl: settings.databaseUrl!,
    port: settings.port,
    host: settings.host,
    token: settings.statusToken,
    // Only an explicit setting overrides the Render default (a token is required there).
    ...(process.env.MIGRATION_GATE_STATUS_REQUIRE_TOKEN?.trim()
      ? { requireToken: settings.statusRequireToken }
      : {}),
    onRender: readRenderEnv(process.env).onRender,
    schema: settings.historySchema,
    versionTable: settings.versionTable,
    versionTableSchema: settings.versionTableSchema,
    logger,
  });
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
  await server.close();
  return ExitCode.OK;
}

/**
 * Heap settings for the one-shot commands (all but serve). V8 reads both flags each time it sizes a
 * space, so setting them before any work takes effect (Node leaves V8's flags writable after start).
 * - The young generation stays at its starting size. Loading a long history retains its facts a
 *   little at a time; V8 answers that survival by growing the young generation up to 16 MB
 *   semi-spaces, which then stay committed: some 40 MB of RSS for no measurable CPU (check --from on
 *   10,000 files: 186 -> 146 MB; on 30,000: 235 -> 196 MB; a 512 MB Render instance runs the gate).
 * - After a full collection the old generation may grow by half of what is live before the next one,
 *   not by V8's own factor (up to 4x when the mutator outpaces the collector, as a load of small
 *   files does). check --from on 30,000 files, six runs each: peak RSS 194-244 MB -> 178-199 MB,
 *   4.56-4.96 s -> 4.74-5.26 s; on 10,000 files no change beyond noise.
 */
function tuneHeapForOneShot(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  v8.setFlagsFromString('--heap-growing-percent=50');
}

async function main(argv: string[]): Promise<number> {
  const scrub = makeRedactor(process.env);
  // The newline is written on its own: appending it would copy the whole report first (a check of
  // 30,000 migrations prints 9.4 MB; peak RSS 257-285 -> 240-252 MB without that copy).
  const out = (s: string) => {
    process.stdout.write(scrub(s));
    process.stdout.write('\n');
  };
  const parsed = parseCommandLine(argv);
  if (parsed.kind === 'version') {
    out(VERSION);
    return ExitCode.OK;
  }
  if (parsed.kind === 'help') {
    out(parsed.command ? commandHelp(parsed.command) : generalHelp(VERSION, EXIT_CODE_HELP));
    // A bare `migration-gate` is a usage error (a deploy command missing its argument), not a request.
    return argv.length === 0 ? ExitCode.CONFIG : ExitCode.OK;
  }
  const { command, positionals, flags } = parsed;
  // The status service keeps little and answers many small requests: it keeps V8's defaults.
  if (command !== 'serve') tuneHeapForOneShot();
  const { signal } = abortOnSignals();
  if (command === 'settings') return settingsCommand(flags, out);
  if (command === 'check') return checkCommand(flags, out, signal);
  if (command === 'run') return runCommand(flags, scrub, signal);
  if (command === 'serve') return serveCommand(flags, scrub, signal);
  const { COMMANDS } = await import('./commands.js');
  const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (handler) return handler({ positionals, flags, signal, out, redact: scrub });
  throw new ConfigError(`command '${command}' has no handler: this is a bug in migration-gate`);
}

/** The one line (and details) that says why the command ended, in the process's log format. */
function report(err: unknown): number {
  const scrub = makeRedactor(process.env);
  const json = process.env.MIGRATION_GATE_LOG_FORMAT?.trim().toLowerCase() === 'json';
  const debug = ['1', 'true', 'yes', 'on'].includes(
    process.env.MIGRATION_GATE_DEBUG?.trim().toLowerCase() ?? '',
  );
  const write = (level: 'error', message: string, details: string[], stack?: string) => {
    if (json) {
      const entry = { level, message, ...(details.length ? { details } : {}), ...(stack ? { stack } : {}) };
      process.stderr.write(scrub(JSON.stringify({ ...entry, timestamp: new Date().toISOString() })) + '\n');
      return;
    }
    process.stderr.write(scrub(message) + '\n');
    for (const d of details) process.stderr.write(scrub(`  ${d}`) + '\n');
    if (stack) process.stderr.write(scrub(stack) + '\n');
  };
  if (err instanceof GateError) {
    const label = {
      config: 'configuration error',
      blocked: 'blocked',
      failed: 'failed',
      internal: 'internal error',
    }[err.kind];
    const stack = debug && err.cause instanceof Error ? err.cause.stack : undefined;
    write('error', `migration-gate: ${label}: ${err.message}`, err.details, stack);
    return exitCodeFor(err.kind);
  }
  const message = err instanceof Error ? err.message : String(err);
  write(
    'error',
    `migration-gate: internal error: ${message}. This is a bug in migration-gate: re-run with MIGRATION_GATE_DEBUG=1 and report the output.`,
    [],
    debug && err instanceof Error ? err.stack : undefined,
  );
  return ExitCode.INTERNAL;
}

/**
 * A reader that stops early (`check --json | head`) closes the pipe. That ends what there is to print,
 * not the command: a `run` must go on migrating and recording, so EPIPE is swallowed, never thrown.
 */
function ignoreClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
ignoreClosedPipe(process.stdout);
ignoreClosedPipe(process.stderr);

/** Longest wait for what lingers (a reader that does not take the output, an open handle); then the gate exits regardless. */
const LINGER_LIMIT_MS = 10_000;

/**
 * Ends the process with `code`. Normally nothing is left to do and Node ends on its own, once stdout
 * and stderr have handed everything to the OS (pending writes keep it alive: a `--json` report above
 * 64 KiB piped into jq comes out whole) and after tearing V8 down in order. process.exit() is only
 * the fallback for what lingers: exiting through it while one of V8's background compile jobs waits
 * for a garbage collection deadlocks Node at shutdown (nodejs/node#54918; seen here as a `check` on 3
 * files that never ended, its main thread joining a compiler thread parked for a GC).
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), LINGER_LIMIT_MS).unref();
}

main(process.argv.slice(2)).then(exitWhenFlushed, (err: unknown) => exitWhenFlushed(report(err)));
