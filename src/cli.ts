#!/usr/bin/env node
/**
 * The command line: parses arguments, prints reports, maps typed errors to exit codes. The only
 * place that calls process.exit. Commands load their modules lazily so `run` starts fast.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings, readRenderEnv, type SettingKey, type Settings } from './config/settings.js';
import { ConfigError, EXIT_CODE_HELP, ExitCode, GateError, exitCodeFor } from './errors.js';
import { createLogger } from './log.js';
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

const HELP = `migration-gate ${VERSION}: a pre-deploy gate for Alembic migrations on PostgreSQL.

Usage: migration-gate <command> [options]

Commands:
  check      Classify pending migrations (no database needed). For CI on every pull request.
               --config PATH     alembic.ini (default: $ALEMBIC_CONFIG or ./alembic.ini)
               Baseline (what the migrations are judged against; the report names it):
                 (no flags)      each migration against its parent, with data in its tables (lint)
                 --since-ref REF the files added since a git ref (e.g. origin/main) as one deploy on
                                 top of REF's migrations (needs the ref's history: fetch-depth: 0)
                 --from REV      the set pending from REV (to --to REV, default the heads), as run does
               --to REV          target (default: the heads)
               --server-version N  PostgreSQL server_version_num for version-dependent rules (e.g. 150004)
               --format F        human (default), json, github (workflow annotations), markdown (PR comment)
               --json            same as --format json
  run        The pre-deploy gate (Render's preDeployCommand): lock, classify, block or dump + upgrade,
             record. Configured by environment variables (see \`migration-gate settings\`).
               --config PATH     alembic.ini
  serve      Status page (/status), Prometheus metrics (/metrics) and /healthz for on-call.
  dumps      List stored safety dumps (newest first).
  dumps get <id|latest> [--out FILE]   Download one.
  rehearse   Replay production on a scratch database and run the pending upgrade there, one revision at a
             time, reporting time, locks and row counts. Scratch server: REHEARSAL_DATABASE_URL, else a
             throwaway local cluster (initdb/pg_ctl).
               --dump ID|latest|FILE  source (default: a fresh pg_dump of DATABASE_URL)
               --jobs N          parallel pg_restore jobs (default: CPUs)
               --smoke "CMD"     run CMD with DATABASE_URL pointing at the scratch database; its exit decides
               --roundtrip       upgrade, downgrade, upgrade; compare schemas to catch incomplete downgrades
               --keep            keep the scratch database and print how to connect
               --json | --format markdown
  restore --dump <id|latest|FILE> [--yes]
             Restore a safety dump into DATABASE_URL (takes a fresh dump first). Without --yes: the plan only.
  rollback [--yes]
             alembic downgrade to the revision before the last successful run, after showing what it drops.
             Destructive downgrades need MIGRATION_GATE_ALLOW like upgrades. Without --yes: the plan only.
  pg-client install [--major N]
             Fetch the PostgreSQL client of major N (default: the server's) from the PostgreSQL apt
             repository (PGDG) into .migration-gate/pg/N/, verified and without root; run it in Render's
             buildCommand. run, restore, rehearse and dumps get then use it.
  settings   Print every setting (environment variable) with its default.

Options: --help, --version

Exit codes:
${EXIT_CODE_HELP}

Docs: README.md; one page per classification rule in docs/rules/.`;

type Flags = Record<string, string | boolean | undefined>;

function parse(argv: string[]): { command: string; positionals: string[]; flags: Flags } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      config: { type: 'string', short: 'c' },
      from: { type: 'string' },
      to: { type: 'string' },
      'since-ref': { type: 'string' },
      'server-version': { type: 'string' },
      format: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      dump: { type: 'string' },
      yes: { type: 'boolean' },
      keep: { type: 'boolean' },
      smoke: { type: 'string' },
      roundtrip: { type: 'boolean' },
      jobs: { type: 'string' },
      major: { type: 'string' },
    },
  });
  const [command = '', ...rest] = positionals;
  return { command, positionals: rest, flags: values as Flags };
}

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

async function main(argv: string[]): Promise<number> {
  const scrub = makeRedactor(process.env);
  const out = (s: string) => process.stdout.write(scrub(s) + '\n');
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new ConfigError(`${err instanceof Error ? err.message : String(err)}; see migration-gate --help`);
  }
  const { command, positionals, flags } = parsed;
  if (flags.version) {
    out(VERSION);
    return ExitCode.OK;
  }
  if (flags.help || command === '' || command === 'help') {
    out(HELP);
    return command === '' && !flags.help ? ExitCode.CONFIG : ExitCode.OK;
  }

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

  switch (command) {
    case 'settings': {
      const { settingsMarkdownTable } = await import('./config/settings.js');
      out(settingsMarkdownTable());
      return ExitCode.OK;
    }
    case 'check': {
      const settings = settingsFor(flags, []);
      const { loadProject } = await import('./gate/project.js');
      const { runCheck } = await import('./gate/check.js');
      const format = flags.json ? 'json' : typeof flags.format === 'string' ? flags.format : 'human';
      if (!['human', 'json', 'github', 'markdown'].includes(format)) {
        throw new ConfigError(`unknown --format ${format}: use human, json, github or markdown`);
      }
      let serverVersionNum: number | undefined;
      if (typeof flags['server-version'] === 'string') {
        serverVersionNum = Number(flags['server-version']);
        if (!Number.isInteger(serverVersionNum) || serverVersionNum < 90000) {
          throw new ConfigError(
            `--server-version must be a server_version_num such as 150004 (SHOW server_version_num), not ${flags['server-version']}`,
          );
        }
      }
      const loaded = await loadProject(path.resolve(settings.alembicConfig));
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
    case 'run': {
      const settings = settingsFor(flags, ['databaseUrl']);
      const render = readRenderEnv(process.env);
      const logger = createLogger({ format: settings.logFormat, level: settings.logLevel, redact: scrub });
      const { runGate } = await import('./gate/run.js');
      const { formatHuman } = await import('./report/human.js');
      const result = await runGate({
        settings,
        render,
        logger,
        cwd: process.cwd(),
        signal: controller.signal,
        onReport: (report) => out(formatHuman(report)),
      });
      out(`migration-gate: ${result.summary}`);
      for (const n of result.nextSteps) out(`Next: ${n}`);
      return result.outcome === 'blocked' ? ExitCode.BLOCKED : ExitCode.OK;
    }
    case 'serve': {
      const settings = settingsFor(flags, ['databaseUrl']);
      const logger = createLogger({ format: settings.logFormat, level: settings.logLevel, redact: scrub });
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
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve()));
      await server.close();
      return ExitCode.OK;
    }
    default: {
      const { COMMANDS } = await import('./commands.js');
      const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
      if (handler) return handler({ positionals, flags, signal: controller.signal, out, redact: scrub });
      throw new ConfigError(`unknown command '${command}'; see migration-gate --help`);
    }
  }
}

function report(err: unknown): number {
  const scrub = makeRedactor(process.env);
  if (err instanceof GateError) {
    const label = {
      config: 'configuration error',
      blocked: 'blocked',
      failed: 'failed',
      internal: 'internal error',
    }[err.kind];
    process.stderr.write(scrub(`migration-gate: ${label}: ${err.message}`) + '\n');
    for (const d of err.details) process.stderr.write(scrub(`  ${d}`) + '\n');
    if (process.env.MIGRATION_GATE_DEBUG && err.cause instanceof Error)
      process.stderr.write(scrub(err.cause.stack ?? '') + '\n');
    return exitCodeFor(err.kind);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    scrub(
      `migration-gate: internal error: ${message}. This is a bug in migration-gate: re-run with MIGRATION_GATE_DEBUG=1 and report the output.`,
    ) + '\n',
  );
  if (process.env.MIGRATION_GATE_DEBUG && err instanceof Error)
    process.stderr.write(scrub(err.stack ?? '') + '\n');
  return ExitCode.INTERNAL;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain; then make sure lingering handles (pools, timers) do not keep a deploy waiting.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    const code = report(err);
    process.exitCode = code;
    setTimeout(() => process.exit(code), 50).unref();
  },
);
