/**
 * Operator commands beyond check/run/serve: dumps, rehearse, restore, rollback. Each returns an exit
 * code or throws a typed error; src/cli.ts does the rest.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { loadSettings, readRenderEnv, type SettingKey } from './config/settings.js';
import { ConfigError, ExitCode } from './errors.js';
import { createLogger, createOutput } from './log.js';
import { describeClient, withInstalledClient } from './pgclient/discover.js';

export interface CommandContext {
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
  signal: AbortSignal;
  out: (line: string) => void;
  redact: (text: string) => string;
}

export type Command = (ctx: CommandContext) => Promise<number>;

const dumps: Command = async ({ positionals, flags, out }) => {
  const [sub = 'list', which] = positionals;
  // With the Render API configured, `dumps` also lists Render's exports (a dump target is then optional).
  const loose = withInstalledClient(loadSettings(process.env), process.env, process.cwd());
  const { listRenderExports } = await import('./render/dumps-list.js');
  // Not with --json: its output is one JSON document, of the dump target's dumps.
  const listedRender = sub === 'list' && flags.json !== true && (await listRenderExports(loose, out));
  if (listedRender && !loose.dumpTarget) return ExitCode.OK;
  const settings = withInstalledClient(loadSettings(process.env, ['dumpTarget']), process.env, process.cwd());
  const { openDumpTarget } = await import('./storage/index.js');
  const target = await openDumpTarget(settings.dumpTarget!);
  const all = await target.list();
  if (sub === 'list') {
    const listing = await import('./storage/listing.js');
    if (flags.json === true) {
      out(JSON.stringify(all.map(listing.dumpListing), null, 2));
      return ExitCode.OK;
    }
    if (all.length === 0) {
      out(
        `No safety dumps in ${target.description} yet: \`migration-gate run\` stores one before each migration.`,
      );
      return ExitCode.OK;
    }
    out(`Safety dumps in ${target.description} (newest first):`);
    for (const line of listing.dumpsTable(all, new Date())) out(`  ${line}`);
    return ExitCode.OK;
  }
  if (sub === 'get') {
    if (!which)
      throw new ConfigError(
        'dumps get needs an id, `latest` (before the last deploy) or `newest`: migration-gate dumps get latest --out prod.dump',
      );
    const { selectDump } = await import('./storage/select.js');
    const choice = selectDump(all, which, { where: target.description });
    if (!choice.dump) throw new ConfigError(choice.problem!);
    const dump = choice.dump;
    const file = typeof flags.out === 'string' ? flags.out : dump.id.split('/').pop()!;
    await pipeline(await target.get(dump.id), createWriteStream(file));
    out(
      `Downloaded ${dump.id} (${dump.bytes} bytes) to ${file}. Restore it with: ${settings.pgRestore} --no-owner -d "$DATABASE_URL" ${file}`,
    );
    out(
      `(pg_restore: ${describeClient(settings.pgDump, process.env, process.cwd()).replace('pg_dump', 'pg_restore')}; it must be at least the major version of the pg_dump that wrote the dump.)`,
    );
    return ExitCode.OK;
  }
  throw new ConfigError(
    `unknown dumps subcommand '${sub}': use \`dumps\` (list, --json for scripts) or \`dumps get <id|latest|newest>\``,
  );
};

function outputFormat(flags: CommandContext['flags']): 'text' | 'json' | 'markdown' {
  const format = flags.json ? 'json' : typeof flags.format === 'string' ? flags.format : 'text';
  if (format === 'human') return 'text';
  if (format !== 'text' && format !== 'json' && format !== 'markdown') {
    throw new ConfigError(`unknown --format ${format}: use text, json or markdown`);
  }
  return format;
}

function jobsFlag(flags: CommandContext['flags']): number | undefined {
  if (typeof flags.jobs !== 'string') return undefined;
  const n = Number(flags.jobs);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new ConfigError(`--jobs must be a whole number from 1 to 64, not ${flags.jobs}`);
  return n;
}

function commandSettings(flags: CommandContext['flags'], required: SettingKey[] = []) {
  const env = { ...process.env };
  if (typeof flags.config === 'string') env.ALEMBIC_CONFIG = flags.config;
  // A client installed by `pg-client install` is used unless MIGRATION_GATE_PG_DUMP says otherwise.
  return withInstalledClient(loadSettings(env, required), env, process.cwd());
}

const rehearseCommand: Command = async ({ flags, signal, out, redact }) => {
  const settings = commandSettings(flags);
  const format = outputFormat(flags);
  const logger = createLogger({ format: settings.logFormat, level: settings.logLevel, redact });
  const { rehearse } = await import('./rehearse/rehearse.js');
  const report = await rehearse({
    settings,
    cwd: process.cwd(),
    dump: typeof flags.dump === 'string' ? flags.dump : undefined,
    jobs: jobsFlag(flags),
    keep: flags.keep === true,
    smoke: typeof flags.smoke === 'string' ? flags.smoke : undefined,
    roundtrip: flags.roundtrip === true,
    logger,
    signal,
  });
  const fmt = await import('./rehearse/report.js');
  out(
    format === 'json'
      ? fmt.formatRehearsalJson(report)
      : format === 'markdown'
        ? fmt.formatRehearsalMarkdown(report)
        : fmt.formatRehearsalText(report),
  );
  return report.passed ? ExitCode.OK : ExitCode.BLOCKED;
};

/**
 * restore and rollback talk to the operator line by line (the plan, alembic's output, the result):
 * as they are in text, one JSON entry each with MIGRATION_GATE_LOG_FORMAT=json, like run's output.
 */
function sayIn(
  settings: { logFormat: 'text' | 'json' },
  out: (line: string) => void,
  redact: (text: string) => string,
): (line: string) => void {
  if (settings.logFormat !== 'json') return out;
  return createOutput({ format: 'json', level: 'info', redact }).say;
}

/** The step lines ("step dump: 3.1s") of restore and rollback: log lines on stderr, as in run. */
function progressIn(
  settings: { logFormat: 'text' | 'json' },
  redact: (text: string) => string,
): (line: string) => void {
  const { logger } = createOutput({ format: settings.logFormat, level: 'info', redact });
  return (line) => logger.info(line);
}

function runFlag(raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1)
    throw new ConfigError(`--run must be a run number such as 12 (see /status), not ${String(raw)}`);
  return n;
}

const restoreCommand: Command = async ({ flags, signal, out, redact }) => {
  if (flags.pitr === true) {
    // Render's point-in-time recovery into a new instance (src/render/pitr-restore.ts).
    const { pitrRestore } = await import('./render/pitr-restore.js');
    const settings = commandSettings(flags, ['databaseUrl']);
    await pitrRestore({ settings, runId: runFlag(flags.run), yes: flags.yes === true, say: out, signal });
    return ExitCode.OK;
  }
  if (typeof flags.dump !== 'string') {
    throw new ConfigError(
      'restore needs --dump <id|latest|newest|FILE>: which safety dump to put back (latest: the one taken before the last deploy; list them with `migration-gate dumps`)',
    );
  }
  const settings = commandSettings(flags, ['databaseUrl']);
  const { restoreDump } = await import('./rollback/restore.js');
  await restoreDump({
    settings,
    render: readRenderEnv(process.env),
    dump: flags.dump,
    yes: flags.yes === true,
    say: sayIn(settings, out, redact),
    progress: progressIn(settings, redact),
    cwd: process.cwd(),
    signal,
  });
  return ExitCode.OK;
};

const rollbackCommand: Command = async ({ flags, signal, out, redact }) => {
  const settings = commandSettings(flags, ['databaseUrl']);
  const { rollback } = await import('./rollback/rollback.js');
  await rollback({
    settings,
    render: readRenderEnv(process.env),
    cwd: process.cwd(),
    yes: flags.yes === true,
    say: sayIn(settings, out, redact),
    progress: progressIn(settings, redact),
    signal,
  });
  return ExitCode.OK;
};

const pgClient: Command = async (ctx) => (await import('./pgclient/command.js')).pgClientCommand(ctx);

export const COMMANDS: Record<string, Command> = {
  dumps,
  'pg-client': pgClient,
  rehearse: rehearseCommand,
  restore: restoreCommand,
  rollback: rollbackCommand,
};
