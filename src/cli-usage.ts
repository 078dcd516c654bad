/**
 * What the command line accepts: every command with its own flags and help text, and the parser that
 * checks an argument list against them. Pure and dependency-free, so `--help` and a typo are answered
 * before anything else loads (no settings, no database).
 */
import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';
import { closest } from './suggest.js';

interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder for the value in the help (string flags). */
  arg?: string;
  help: string;
}

interface CommandSpec {
  /** Positional arguments, as shown in the usage line. */
  args?: string;
  summary: string;
  /** More lines under the usage, when the summary is not enough. */
  details?: string[];
  flags: Record<string, FlagSpec>;
}

const config: FlagSpec = {
  type: 'string',
  short: 'c',
  arg: 'PATH',
  help: 'alembic.ini (default: $ALEMBIC_CONFIG or ./alembic.ini)',
};
const yes: FlagSpec = { type: 'boolean', help: 'do it (without --yes: print the plan only)' };

export const COMMAND_SPECS: Record<string, CommandSpec> = {
  check: {
    summary: 'Classify pending migrations (no database needed). For CI on every pull request.',
    details: [
      'Baseline (what the migrations are judged against; the report names it):',
      '  (no flags)       each migration against its parent, with data in its tables (lint)',
      "  --since-ref REF  the files added since a git ref (e.g. origin/main) as one deploy on top of REF's",
      "                   migrations (needs the ref's history: fetch-depth: 0)",
      '  --from REV       the set pending from REV (to --to REV, default the heads), as run does',
    ],
    flags: {
      config,
      from: { type: 'string', arg: 'REV', help: 'judge what is pending from this revision' },
      to: { type: 'string', arg: 'REV', help: 'target (default: the heads)' },
      'since-ref': { type: 'string', arg: 'REF', help: 'only the migration files added since a git ref' },
      'server-version': {
        type: 'string',
        arg: 'N',
        help: 'PostgreSQL server_version_num for version-dependent rules (e.g. 150004)',
      },
      format: {
        type: 'string',
        arg: 'F',
        help: 'human (default), json, github (workflow annotations), markdown (PR comment)',
      },
      json: { type: 'boolean', help: 'same as --format json' },
    },
  },
  run: {
    summary:
      "The pre-deploy gate (Render's preDeployCommand): lock, classify, block or dump + upgrade, record.",
    details: ['Configured by environment variables: see `migration-gate settings`.'],
    flags: { config },
  },
  serve: {
    summary: 'Status page (/status), Prometheus metrics (/metrics) and /healthz for on-call.',
    details: ['Configured by environment variables (DATABASE_URL, MIGRATION_GATE_STATUS_TOKEN, PORT, ...).'],
    flags: {},
  },
  dumps: {
    args: '[get <id|latest|newest>]',
    summary:
      'List stored safety dumps (newest first: who made each, its revisions); `dumps get <id|latest|newest>` downloads one.',
    details: ['latest: the dump taken before the last deploy that migrated; newest: the newest of any kind.'],
    flags: {
      out: { type: 'string', arg: 'FILE', help: '`dumps get`: where to write the dump' },
      json: {
        type: 'boolean',
        help: 'the list as JSON (id, createdAt, madeBy, runId, revisions, bytes, sha256, ...)',
      },
    },
  },
  rehearse: {
    summary:
      'Replay production on a scratch database and run the pending upgrade there, one revision at a time.',
    details: [
      'Reports time, locks and row counts. Scratch server: REHEARSAL_DATABASE_URL, else a throwaway',
      'local cluster (initdb/pg_ctl).',
    ],
    flags: {
      config,
      dump: {
        type: 'string',
        arg: 'ID|latest|newest|FILE',
        help: 'source (default: a fresh pg_dump of DATABASE_URL; latest: the dump taken before the last deploy)',
      },
      jobs: {
        type: 'string',
        arg: 'N',
        help: 'restore with N parallel pg_restore jobs (default: a fresh dump streams into pg_restore; a --dump file uses one job per CPU)',
      },
      smoke: {
        type: 'string',
        arg: '"CMD"',
        help: 'run CMD with DATABASE_URL pointing at the scratch database; its exit decides',
      },
      roundtrip: {
        type: 'boolean',
        help: 'upgrade, downgrade, upgrade; compare schemas to catch incomplete downgrades',
      },
      keep: { type: 'boolean', help: 'keep the scratch database and print how to connect' },
      json: { type: 'boolean', help: 'the report as JSON' },
      format: { type: 'string', arg: 'F', help: 'text (default), json or markdown' },
    },
  },
  restore: {
    summary: 'Restore a safety dump into DATABASE_URL (takes a fresh dump first).',
    details: [
      "--pitr: Render's point-in-time recovery to just before a run's upgrade, into a NEW instance",
      '(billed; the last 10 minutes cannot be recovered); needs RENDER_API_KEY.',
    ],
    flags: {
      config,
      dump: {
        type: 'string',
        arg: 'ID|latest|newest|FILE',
        help: 'which dump to put back (required without --pitr); latest: the one taken before the last deploy that migrated',
      },
      pitr: {
        type: 'boolean',
        help: "ask Render to recover to just before the run's upgrade (a new instance)",
      },
      run: {
        type: 'string',
        arg: 'N',
        help: 'with --pitr: which run (default: the latest that recorded a point)',
      },
      yes,
    },
  },
  rollback: {
    summary: 'alembic downgrade to the revision before the last successful run, after showing what it drops.',
    details: ['Destructive downgrades need MIGRATION_GATE_ALLOW like upgrades.'],
    flags: { config, yes },
  },
  'pg-client': {
    args: 'install',
    summary:
      "Fetch the PostgreSQL client of the server's major version from the PostgreSQL apt repository (PGDG).",
    details: [
      'Into .migration-gate/pg/N/, verified and without root; run it in Render’s buildCommand.',
      'run, restore, rehearse and dumps get then use it.',
    ],
    flags: {
      major: { type: 'string', arg: 'N', help: "the client's major version (default: the server's)" },
    },
  },
  settings: {
    summary:
      'Every environment variable the gate reads: its value (secrets hidden), where it came from, whether it is valid.',
    flags: {
      format: {
        type: 'string',
        arg: 'F',
        help: "text (default) or markdown (the README's table: default, example, meaning)",
      },
    },
  },
};

const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  help: { type: 'boolean', short: 'h', help: 'this help (after a command: that command’s help)' },
  version: { type: 'boolean', short: 'v', help: 'the version' },
};

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const left = (name: string, f: FlagSpec) =>
    `--${name}${f.arg ? ' ' + f.arg : ''}${f.short ? `, -${f.short}` : ''}`;
  const width = Math.max(0, ...Object.entries(flags).map(([n, f]) => left(n, f).length));
  return Object.entries(flags).map(([n, f]) => `  ${left(n, f).padEnd(width)}  ${f.help}`);
}

/** The help of one command alone. */
export function commandHelp(name: string): string {
  const spec = COMMAND_SPECS[name]!;
  const flags = Object.keys(spec.flags).length
    ? ['', 'Options:', ...flagLines({ ...spec.flags, help: GLOBAL_FLAGS.help! })]
    : ['', 'Options:', ...flagLines({ help: GLOBAL_FLAGS.help! })];
  return [
    `Usage: migration-gate ${name}${spec.args ? ' ' + spec.args : ''}${Object.keys(spec.flags).length ? ' [options]' : ''}`,
    '',
    spec.summary,
    ...(spec.details ?? []),
    ...flags,
  ].join('\n');
}

/** The overview: every command's summary, the global options, the exit codes. */
export function generalHelp(version: string, exitCodes: string): string {
  const width = Math.max(...Object.keys(COMMAND_SPECS).map((n) => n.length));
  return [
    `migration-gate ${version}: a pre-deploy gate for Alembic migrations on PostgreSQL.`,
    '',
    'Usage: migration-gate <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMAND_SPECS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    'migration-gate <command> --help prints the options of that command.',
    '',
    'Options:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'Exit codes:',
    exitCodes,
    '',
    'Docs: README.md; one page per classification rule in docs/rules/.',
  ].join('\n');
}

export type Flags = Record<string, string | boolean | undefined>;

export type Parsed =
  | { kind: 'help'; command?: string }
  | { kind: 'version' }
  | { kind: 'command'; command: string; positionals: string[]; flags: Flags };

function allFlags(): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = { ...GLOBAL_FLAGS };
  for (const spec of Object.values(COMMAND_SPECS)) Object.assign(out, spec.flags);
  return out;
}

function unknownCommand(command: string): ConfigError {
  const match = closest(command, Object.keys(COMMAND_SPECS));
  return new ConfigError(
    `unknown command '${command}'${match ? `: did you mean ${match}?` : ''} (all commands: migration-gate --help)`,
  );
}

function unknownFlag(raw: string, name: string, command: string): ConfigError {
  const own = Object.keys(COMMAND_SPECS[command]!.flags);
  const match = closest(name, [...own, 'help']);
  const elsewhere = Object.entries(COMMAND_SPECS)
    .filter(([, c]) => name in c.flags)
    .map(([n]) => n);
  const hint = match
    ? `: did you mean --${match}?`
    : elsewhere.length
      ? `: it is an option of ${elsewhere.join(', ')}`
      : '';
  return new ConfigError(
    `unknown option '${raw}' for ${command}${hint} (its options: migration-gate ${command} --help)`,
  );
}

/**
 * Reads the argument list. `--help` (or `help <command>`) anywhere wins over everything else, so it
 * never runs a command; otherwise each option must be one of the command's own, with a value when it
 * takes one.
 */
export function parseCommandLine(argv: string[]): Parsed {
  const options = allFlags();
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options,
  });
  const [first = '', ...rest] = positionals;
  if (values.help === true || first === 'help') {
    const command = first === 'help' ? rest[0] : first || undefined;
    if (command !== undefined && !(command in COMMAND_SPECS)) throw unknownCommand(command);
    return { kind: 'help', command };
  }
  if (values.version === true) return { kind: 'version' };
  if (first === '') return { kind: 'help' };
  if (!Object.hasOwn(COMMAND_SPECS, first)) throw unknownCommand(first);
  const own = COMMAND_SPECS[first]!.flags;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = Object.hasOwn(own, t.name) ? own[t.name] : undefined;
    if (!spec) throw unknownFlag(t.rawName, t.name, first);
    if (spec.type === 'string' && typeof t.value !== 'string')
      throw new ConfigError(
        `${t.rawName} needs a value (--${t.name} ${spec.arg ?? 'VALUE'}); see migration-gate ${first} --help`,
      );
    if (spec.type === 'boolean' && t.inlineValue)
      throw new ConfigError(`${t.rawName} takes no value; see migration-gate ${first} --help`);
  }
  return { kind: 'command', command: first, positionals: rest, flags: values as Flags };
}
