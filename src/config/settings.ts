/**
 * Every setting in one table: the validator, `--help` and the README's settings table come from it.
 * Values are read from the environment (CLI flags are merged in as env-style overrides first), parsed
 * and checked all at once so one message lists every problem.
 */
import { ConfigError } from '../errors.js';
import { PERCENT_ENCODE_HINT, passwordLooksUnencoded } from '../db/url-hint.js';
import { s3ConfigProblems } from '../storage/s3-config.js';
import { redact } from '../redact.js';
import { didYouMean } from '../suggest.js';

type Parser<T> = (raw: string) => T; // throws Error(message) on a bad value

interface SettingSpec<T> {
  env: string;
  default: T;
  /** Shown in the README when the default is not a plain value. */
  defaultText?: string;
  example: string;
  help: string;
  parse: Parser<T>;
  /** Secrets are never echoed back in errors, logs or status. */
  secret?: boolean;
  /**
   * How `migration-gate settings` shows a secret's value: `url` hides the password in a URL, `masked`
   * keeps the first and last four characters (an access key id), anything else shows only "set".
   */
  display?: 'url' | 'masked';
}

function str(): Parser<string> {
  return (raw) => raw;
}
function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw) => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) throw new Error(`must be one of ${values.join(', ')}`);
    return v;
  };
}
function bool(): Parser<boolean> {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    throw new Error('must be true or false');
  };
}
/** Digits only: `Number()` would also take ` 10 `, `0x10`, `1e3` and `0b11`, none of which an operator means. */
const WHOLE = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw) => {
    const v = WHOLE.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw new Error(`must be a whole number from ${min} to ${max} (digits only)`);
    return v;
  };
}
/** Seconds, fractional allowed, returned as milliseconds. */
function seconds(min: number, max: number): Parser<number> {
  return (raw) => {
    const v = DECIMAL.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(v) || v < min || v > max)
      throw new Error(
        `must be a number of seconds from ${min} to ${max} (digits and an optional decimal point)`,
      );
    return Math.round(v * 1000);
  };
}
const PG_UNITS_MS: Record<string, number> = {
  '': 1,
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
/** PostgreSQL keeps lock_timeout and statement_timeout in milliseconds as a 32-bit int. */
const PG_TIMEOUT_MAX_MS = 2_147_483_647;
/**
 * A PostgreSQL duration as SET accepts it: `5s`, `500ms`, `2min`, `0` (off), within what the server
 * takes (0 to 2147483647 ms, about 24 days) so a typo is refused before the dump, not by PostgreSQL
 * halfway through the run.
 */
function pgDuration(): Parser<string> {
  return (raw) => {
    const m = /^([0-9]+)(us|ms|s|min|h|d)?$/.exec(raw);
    const ms = m ? Number(m[1]) * PG_UNITS_MS[m[2] ?? '']! : NaN;
    if (!m || !Number.isFinite(ms) || ms > PG_TIMEOUT_MAX_MS) {
      throw new Error(
        'must be a PostgreSQL duration from 0 (off) to 2147483647ms (about 24 days), digits then one of us, ms, s, min, h, d, without spaces: e.g. 5s, 500ms, 2min',
      );
    }
    return raw;
  };
}
function list(): Parser<string[]> {
  return (raw) =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
}
function identifier(): Parser<string> {
  return (raw) => {
    const v = raw.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(v))
      throw new Error('must be a plain SQL identifier (letters, digits, _)');
    return v;
  };
}
function url(schemes: string[]): Parser<string> {
  return (raw) => {
    let u: URL;
    try {
      u = new URL(raw.trim());
    } catch {
      throw new Error(`must be a URL (${schemes.map((s) => s + '//...').join(' or ')})`);
    }
    if (!schemes.includes(u.protocol))
      throw new Error(`must start with ${schemes.map((s) => s + '//').join(' or ')}`);
    return raw.trim();
  };
}

/** A URL that does not parse because its password has a `/`, `?` or `#`: say so (never the value). */
function withPasswordHint(parse: Parser<string>): Parser<string> {
  return (raw) => {
    try {
      return parse(raw);
    } catch (err) {
      if (passwordLooksUnencoded(raw.trim().replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '')))
        throw new Error(`is not a valid URL: ${PERCENT_ENCODE_HINT}`, { cause: err });
      throw err;
    }
  };
}

function spec<T>(s: SettingSpec<T>): SettingSpec<T> {
  return s;
}

export const SETTINGS = {
  databaseUrl: spec<string | undefined>({
    env: 'DATABASE_URL',
    default: undefined,
    defaultText: '(required for run, serve, restore, rollback)',
    example: 'postgresql://app:***@db.internal:5432/app',
    help: 'The database to gate. postgres://, postgresql:// and SQLAlchemy URLs (postgresql+psycopg2://) are accepted; sslmode is honoured.',
    parse: withPasswordHint(
      url(['postgres:', 'postgresql:', 'postgresql+psycopg2:', 'postgresql+psycopg:', 'postgresql+asyncpg:']),
    ),
    secret: true,
    display: 'url',
  }),
  alembicConfig: spec<string>({
    env: 'ALEMBIC_CONFIG',
    default: 'alembic.ini',
    example: 'backend/alembic.ini',
    help: "Alembic's own variable: the alembic.ini to read (relative to the working directory).",
    parse: str(),
  }),
  alembic: spec<string>({
    env: 'MIGRATION_GATE_ALEMBIC',
    default: 'alembic',
    example: '.venv/bin/alembic or python -m alembic',
    help: 'The command that runs Alembic (split on spaces; no shell).',
    parse: str(),
  }),
  dumpTarget: spec<string | undefined>({
    env: 'MIGRATION_GATE_DUMP_TARGET',
    default: undefined,
    defaultText: '(required when a dump is taken)',
    example: 's3://my-bucket/dumps or file:///var/backups/db',
    help: 'Where the safety dump goes: file:///dir or s3://bucket/prefix (any S3-compatible store).',
    parse: url(['file:', 's3:']),
  }),
  dumpPolicy: spec<'pending' | 'always' | 'never'>({
    env: 'MIGRATION_GATE_DUMP_POLICY',
    default: 'pending',
    example: 'always',
    help: 'pending: dump before running migrations; always: also dump when nothing is pending; never: no dump (recorded in history).',
    parse: oneOf('pending', 'always', 'never'),
  }),
  acceptEphemeralDump: spec<boolean>({
    env: 'MIGRATION_GATE_ACCEPT_EPHEMERAL_DUMP',
    default: false,
    example: 'true',
    help: "On Render (RENDER=true), accept a file:// dump target although the pre-deploy instance's disk is discarded.",
    parse: bool(),
  }),
  allow: spec<string[]>({
    env: 'MIGRATION_GATE_ALLOW',
    default: [],
    defaultText: '(empty)',
    example: '7c1e2d9a0b3f',
    help: 'Override: comma-separated revisions the gate may run although they are destructive or unknown. `all` allows everything (emergencies; loud and recorded).',
    parse: list(),
  }),
  allowReason: spec<string | undefined>({
    env: 'MIGRATION_GATE_ALLOW_REASON',
    default: undefined,
    defaultText: '(required with MIGRATION_GATE_ALLOW)',
    example: 'users.name unused since v42 (PR #381)',
    help: 'Why the override is safe; recorded in history and shown on /status.',
    parse: str(),
  }),
  versionTable: spec<string>({
    env: 'MIGRATION_GATE_VERSION_TABLE',
    default: 'alembic_version',
    example: 'alembic_version',
    help: "Alembic's version table (version_table in env.py).",
    parse: identifier(),
  }),
  versionTableSchema: spec<string | undefined>({
    env: 'MIGRATION_GATE_VERSION_TABLE_SCHEMA',
    default: undefined,
    defaultText: '(search_path)',
    example: 'public',
    help: 'Schema of the version table (version_table_schema in env.py).',
    parse: identifier(),
  }),
  historySchema: spec<string>({
    env: 'MIGRATION_GATE_HISTORY_SCHEMA',
    default: 'migration_gate',
    example: 'migration_gate',
    help: "Schema of the gate's history table (created if missing).",
    parse: identifier(),
  }),
  connectTimeoutMs: spec<number>({
    env: 'MIGRATION_GATE_CONNECT_TIMEOUT',
    default: 10_000,
    defaultText: '10',
    example: '5',
    help: 'Seconds to wait for a database connection.',
    parse: seconds(0.1, 300),
  }),
  lockWaitMs: spec<number>({
    env: 'MIGRATION_GATE_LOCK_WAIT',
    default: 120_000,
    defaultText: '120',
    example: '300',
    help: "Seconds to wait for another deploy's gate to finish before failing.",
    parse: seconds(0, 1800),
  }),
  dumpLockWaitMs: spec<number>({
    env: 'MIGRATION_GATE_DUMP_LOCK_WAIT',
    default: 60_000,
    defaultText: '60',
    example: '300',
    help: "Seconds pg_dump waits for a table's lock (pg_dump --lock-wait-timeout) before the safety dump fails naming the session that holds it; a table locked ACCESS EXCLUSIVE otherwise stalls the dump.",
    parse: seconds(1, 1800),
  }),
  lockTimeout: spec<string>({
    env: 'MIGRATION_GATE_LOCK_TIMEOUT',
    default: '5s',
    example: '10s',
    help: 'lock_timeout for the migration session (through PGOPTIONS): a migration waiting on a lock fails fast.',
    parse: pgDuration(),
  }),
  statementTimeout: spec<string>({
    env: 'MIGRATION_GATE_STATEMENT_TIMEOUT',
    default: '20min',
    example: '5min',
    help: "statement_timeout for the migration session (through PGOPTIONS); keep it under Render's 30 min pre-deploy limit.",
    parse: pgDuration(),
  }),
  lockRetries: spec<number>({
    env: 'MIGRATION_GATE_LOCK_RETRIES',
    default: 3,
    example: '5',
    help: 'How often a migration that failed on lock_timeout is retried (its transaction rolled back, so a retry is safe).',
    parse: int(0, 20),
  }),
  retryBackoffMs: spec<number>({
    env: 'MIGRATION_GATE_RETRY_BACKOFF',
    default: 5_000,
    defaultText: '5',
    example: '10',
    help: 'Seconds before the first retry; doubles each time.',
    parse: seconds(0, 600),
  }),
  lockingBlockRows: spec<number>({
    env: 'MIGRATION_GATE_LOCKING_BLOCK_ROWS',
    default: 1_000_000,
    example: '100000',
    help: 'A locking finding (non-concurrent index, validated constraint, table rewrite) blocks when its table has more estimated rows than this; below it is a warning.',
    parse: int(0),
  }),
  loadThreads: spec<'auto' | 'off'>({
    env: 'MIGRATION_GATE_LOAD_THREADS',
    default: 'auto',
    example: 'off',
    help: 'check and run on a long history (4,000 migration files or more) with 2 or more CPUs: auto reads and parses it in two threads (about 20-40% faster, up to 20 MB more memory); off uses one.',
    parse: oneOf('auto', 'off'),
  }),
  codeRollback: spec<'allow' | 'block'>({
    env: 'MIGRATION_GATE_CODE_ROLLBACK',
    default: 'allow',
    example: 'block',
    help: 'When the database is ahead of the code because a later deploy migrated it (a code rollback): allow runs nothing and exits 0; block fails the deploy.',
    parse: oneOf('allow', 'block'),
  }),
  pgDump: spec<string>({
    env: 'MIGRATION_GATE_PG_DUMP',
    default: 'pg_dump',
    example: '/usr/lib/postgresql/16/bin/pg_dump',
    help: 'pg_dump to use; its major version must be at least the server’s.',
    parse: str(),
  }),
  pgRestore: spec<string>({
    env: 'MIGRATION_GATE_PG_RESTORE',
    default: 'pg_restore',
    example: '/usr/lib/postgresql/16/bin/pg_restore',
    help: 'pg_restore to use (verifies dumps, restores them).',
    parse: str(),
  }),
  dumpKeepLast: spec<number | undefined>({
    env: 'MIGRATION_GATE_DUMP_KEEP_LAST',
    default: undefined,
    defaultText: '(keep all)',
    example: '10',
    help: 'Retention: keep the newest N dumps (pruned only after a new dump is verified).',
    parse: int(1),
  }),
  dumpKeepDays: spec<number | undefined>({
    env: 'MIGRATION_GATE_DUMP_KEEP_DAYS',
    default: undefined,
    defaultText: '(keep all)',
    example: '30',
    help: 'Retention: keep dumps younger than D days.',
    parse: int(1),
  }),
  previewPolicy: spec<'run' | 'skip' | 'block'>({
    env: 'MIGRATION_GATE_PREVIEW_POLICY',
    default: 'run',
    example: 'skip',
    help: 'When IS_PULL_REQUEST=true (a Render preview environment): run the gate as usual, skip it (exit 0), or block destructive migrations even with an override.',
    parse: oneOf('run', 'skip', 'block'),
  }),
  logFormat: spec<'text' | 'json'>({
    env: 'MIGRATION_GATE_LOG_FORMAT',
    default: 'text',
    example: 'json',
    help: "text: readable lines (Render's log view); json: one JSON object per line, reports and Alembic's output included (log drains).",
    parse: oneOf('text', 'json'),
  }),
  logLevel: spec<'debug' | 'info' | 'warn' | 'error'>({
    env: 'MIGRATION_GATE_LOG_LEVEL',
    default: 'info',
    example: 'debug',
    help: 'Log level.',
    parse: oneOf('debug', 'info', 'warn', 'error'),
  }),
  statusToken: spec<string | undefined>({
    env: 'MIGRATION_GATE_STATUS_TOKEN',
    default: undefined,
    defaultText: '(none: warning)',
    example: '(generated by Render)',
    help: 'Token for /status and /metrics: sent as a bearer header (curl, Prometheus) or typed into the sign-in form in a browser.',
    parse: str(),
    secret: true,
  }),
  statusRequireToken: spec<boolean>({
    env: 'MIGRATION_GATE_STATUS_REQUIRE_TOKEN',
    default: false,
    // serve applies the Render default itself: only an explicit value overrides it.
    defaultText: 'true on Render (RENDER=true), else false',
    example: 'false',
    help: 'Refuse to start `serve` without MIGRATION_GATE_STATUS_TOKEN; set false explicitly to run an open status service on Render (e.g. a private service).',
    parse: bool(),
  }),
  port: spec<number>({
    env: 'PORT',
    default: 8080,
    example: '10000',
    help: '`serve`: the port to listen on (Render sets PORT).',
    parse: int(0, 65535),
  }),
  host: spec<string>({
    env: 'MIGRATION_GATE_HOST',
    default: '0.0.0.0',
    example: '127.0.0.1',
    help: '`serve`: the address to listen on.',
    parse: str(),
  }),
  statusUrl: spec<string | undefined>({
    env: 'MIGRATION_GATE_STATUS_URL',
    default: undefined,
    defaultText: '(none)',
    example: 'https://gate-status.onrender.com/status',
    help: 'Public URL of the status page, linked from notifications.',
    parse: url(['http:', 'https:']),
  }),
  webhookUrl: spec<string | undefined>({
    env: 'MIGRATION_GATE_WEBHOOK_URL',
    default: undefined,
    defaultText: '(none)',
    example: 'https://hooks.slack.com/services/...',
    help: 'Webhook notified at the end of run (a failure never changes the exit code).',
    parse: url(['http:', 'https:']),
    secret: true,
  }),
  webhookFormat: spec<'slack' | 'json'>({
    env: 'MIGRATION_GATE_WEBHOOK_FORMAT',
    default: 'slack',
    example: 'json',
    help: 'Webhook payload: slack (text + blocks) or json.',
    parse: oneOf('slack', 'json'),
  }),
  webhookEvents: spec<string[]>({
    env: 'MIGRATION_GATE_WEBHOOK_EVENTS',
    default: ['blocked', 'failed'],
    defaultText: 'blocked,failed',
    example: 'blocked,failed,succeeded',
    help: 'Which run outcomes notify the webhook.',
    parse: (raw) => {
      const v = list()(raw);
      const bad = v.filter((e) => !['blocked', 'failed', 'succeeded'].includes(e));
      if (bad.length) throw new Error(`unknown event ${bad.join(', ')}; use blocked, failed, succeeded`);
      return v;
    },
  }),
  pushgatewayUrl: spec<string | undefined>({
    env: 'MIGRATION_GATE_PUSHGATEWAY_URL',
    default: undefined,
    defaultText: '(none)',
    example: 'http://pushgateway:9091',
    help: "Prometheus Pushgateway that receives the run's metrics at the end of run.",
    parse: url(['http:', 'https:']),
  }),
  rehearsalDatabaseUrl: spec<string | undefined>({
    env: 'REHEARSAL_DATABASE_URL',
    default: undefined,
    defaultText: '(a throwaway local cluster)',
    example: 'postgresql://admin:***@scratch-db:5432/postgres',
    help: '`rehearse`: a server where the gate may create and drop a scratch database.',
    parse: url(['postgres:', 'postgresql:', 'postgresql+psycopg2:']),
    secret: true,
    display: 'url',
  }),
  rehearseBeforeRun: spec<boolean>({
    env: 'MIGRATION_GATE_REHEARSE_BEFORE_RUN',
    default: false,
    example: 'true',
    help: '`run`: rehearse the pending migrations on REHEARSAL_DATABASE_URL first; a failed rehearsal blocks the deploy.',
    parse: bool(),
  }),
  pgdgUrl: spec<string>({
    env: 'MIGRATION_GATE_PGDG_URL',
    default: 'https://apt.postgresql.org/pub/repos/apt',
    example: 'https://mirror.example.com/pgdg',
    help: '`pg-client install`: the PostgreSQL apt repository (PGDG) or a mirror of it.',
    parse: url(['http:', 'https:']),
  }),
  pgdgKey: spec<string | undefined>({
    env: 'MIGRATION_GATE_PGDG_KEY',
    default: undefined,
    defaultText: '(the PGDG key shipped with migration-gate)',
    example: '/etc/keys/mirror.asc',
    help: "`pg-client install`: a file with the armored public key trusted to sign the repository's InRelease, replacing the shipped PGDG key.",
    parse: str(),
  }),
  dumpMethod: spec<'pg_dump' | 'render-export' | 'auto'>({
    env: 'MIGRATION_GATE_DUMP_METHOD',
    default: 'pg_dump',
    example: 'auto',
    help: "How the safety dump is taken: pg_dump; render-export (Render's own export through its API, copied to the dump target when one is set); auto: pg_dump when the client matches the server, else the export.",
    parse: oneOf('pg_dump', 'render-export', 'auto'),
  }),
  renderApiUrl: spec<string>({
    env: 'RENDER_API_URL',
    default: 'https://api.render.com/v1',
    example: 'http://127.0.0.1:9000/v1',
    help: "Render's REST API (exports, point-in-time recovery, maintenance).",
    parse: url(['http:', 'https:']),
  }),
  renderApiKey: spec<string | undefined>({
    env: 'RENDER_API_KEY',
    default: undefined,
    defaultText: '(none: Render API features off)',
    example: 'rnd_...',
    help: 'A Render API key (Account Settings -> API Keys): enables the render-export dump method, recovery status in history and `restore --pitr`.',
    parse: str(),
    secret: true,
  }),
  renderPostgresId: spec<string | undefined>({
    env: 'MIGRATION_GATE_RENDER_POSTGRES_ID',
    default: undefined,
    defaultText: "(from DATABASE_URL's host dpg-<id>-a)",
    example: 'dpg-cq1abc2def3ghi4jkl5m',
    help: "The Render Postgres id (dpg-...) the API calls are about, when DATABASE_URL's host does not show it.",
    parse: (raw) => {
      const v = raw.trim();
      if (!/^dpg-[a-z0-9]+$/.test(v))
        throw new Error(
          'must be a Render Postgres id such as dpg-cq1abc2def3ghi4jkl5m (without the -a suffix)',
        );
      return v;
    },
  }),
  renderExportTimeoutMs: spec<number>({
    env: 'MIGRATION_GATE_RENDER_EXPORT_TIMEOUT',
    default: 900_000,
    defaultText: '900',
    example: '600',
    help: "Seconds to wait for Render's export to be ready (and copied); keep it well under the 30-minute pre-deploy limit so the migration still has time.",
    parse: seconds(30, 1500),
  }),
  requirePitr: spec<boolean>({
    env: 'MIGRATION_GATE_REQUIRE_PITR',
    default: false,
    example: 'true',
    help: '`run` (with RENDER_API_KEY): block the migration unless Render reports point-in-time recovery AVAILABLE. With MIGRATION_GATE_DUMP_POLICY=never this makes PITR the required safety net instead of a dump.',
    parse: bool(),
  }),
  maintenancePolicy: spec<'warn' | 'block'>({
    env: 'MIGRATION_GATE_MAINTENANCE_POLICY',
    default: 'warn',
    example: 'block',
    help: '`run` (with RENDER_API_KEY): scheduled or in-progress Render maintenance on the database is a warning, or blocks the migration.',
    parse: oneOf('warn', 'block'),
  }),
  debug: spec<boolean>({
    env: 'MIGRATION_GATE_DEBUG',
    default: false,
    example: '1',
    help: 'Print the stack trace with an internal error (for a bug report).',
    parse: bool(),
  }),
  path: spec<string | undefined>({
    env: 'PATH',
    default: undefined,
    defaultText: "(the system's)",
    example: '/usr/lib/postgresql/16/bin:/usr/bin',
    help: 'Where pg_dump, pg_restore, alembic and (for rehearse) initdb and pg_ctl are looked up.',
    parse: str(),
  }),
  pgOptions: spec<string | undefined>({
    env: 'PGOPTIONS',
    default: undefined,
    defaultText: '(none)',
    example: '-c search_path=app',
    help: "libpq's own variable: passed on to alembic with the gate's lock_timeout and statement_timeout added.",
    parse: str(),
  }),

  // The S3 dump target's settings. Their values are checked together (a key id needs its secret, a KMS
  // key needs aws:kms) by s3ConfigProblems, so each parser here only reads.
  s3Endpoint: spec<string | undefined>({
    env: 'MIGRATION_GATE_S3_ENDPOINT',
    default: undefined,
    defaultText: '(AWS)',
    example: 'https://<account>.r2.cloudflarestorage.com',
    help: 'Endpoint of an S3-compatible store (R2, B2, MinIO). AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL are read after it.',
    parse: str(),
  }),
  awsEndpointUrlS3: spec<string | undefined>({
    env: 'AWS_ENDPOINT_URL_S3',
    default: undefined,
    defaultText: '(none)',
    example: 'http://minio:9000',
    help: "The AWS SDK's S3 endpoint variable; used when MIGRATION_GATE_S3_ENDPOINT is unset.",
    parse: str(),
  }),
  awsEndpointUrl: spec<string | undefined>({
    env: 'AWS_ENDPOINT_URL',
    default: undefined,
    defaultText: '(none)',
    example: 'http://minio:9000',
    help: "The AWS SDK's endpoint for every service; used when neither of the above is set.",
    parse: str(),
  }),
  s3ForcePathStyle: spec<string | undefined>({
    env: 'MIGRATION_GATE_S3_FORCE_PATH_STYLE',
    default: undefined,
    defaultText: '(true with a custom endpoint)',
    example: 'false',
    help: 'true: bucket in the path (most S3-compatible stores); false: bucket in the host name.',
    parse: str(),
  }),
  s3Sse: spec<string | undefined>({
    env: 'MIGRATION_GATE_S3_SSE',
    default: undefined,
    defaultText: "(the bucket's default)",
    example: 'aws:kms',
    help: 'Server-side encryption of the dump: AES256, aws:kms or aws:kms:dsse (aws:kms needs kms:GenerateDataKey and kms:Decrypt).',
    parse: str(),
  }),
  s3KmsKeyId: spec<string | undefined>({
    env: 'MIGRATION_GATE_S3_KMS_KEY_ID',
    default: undefined,
    defaultText: "(the account's aws/s3 key)",
    example: 'arn:aws:kms:eu-central-1:123456789012:key/...',
    help: 'KMS key for MIGRATION_GATE_S3_SSE=aws:kms.',
    parse: str(),
  }),
  awsAccessKeyId: spec<string | undefined>({
    env: 'AWS_ACCESS_KEY_ID',
    default: undefined,
    defaultText: "(the SDK's default chain)",
    example: 'AKIA...',
    help: 'Access key for the S3 target (set with AWS_SECRET_ACCESS_KEY, sync: false on Render).',
    parse: str(),
    secret: true,
    display: 'masked',
  }),
  awsSecretAccessKey: spec<string | undefined>({
    env: 'AWS_SECRET_ACCESS_KEY',
    default: undefined,
    defaultText: "(the SDK's default chain)",
    example: '(secret)',
    help: 'Secret for AWS_ACCESS_KEY_ID; never shown, only whether it is set.',
    parse: str(),
    secret: true,
  }),
  awsSessionToken: spec<string | undefined>({
    env: 'AWS_SESSION_TOKEN',
    default: undefined,
    defaultText: '(none)',
    example: '(secret)',
    help: 'Session token for temporary credentials (with both keys above).',
    parse: str(),
    secret: true,
  }),
  awsRegion: spec<string | undefined>({
    env: 'AWS_REGION',
    default: undefined,
    defaultText: 'us-east-1',
    example: 'eu-central-1',
    help: "The bucket's region (auto for R2). AWS_DEFAULT_REGION is read when it is unset.",
    parse: str(),
  }),
  awsDefaultRegion: spec<string | undefined>({
    env: 'AWS_DEFAULT_REGION',
    default: undefined,
    defaultText: '(none)',
    example: 'eu-central-1',
    help: 'Fallback for AWS_REGION (the AWS CLI’s name for it).',
    parse: str(),
  }),

  // Set by Render, read-only for the gate: whether it runs on Render and what it records with a run.
  render: spec<string | undefined>({
    env: 'RENDER',
    default: undefined,
    defaultText: '(set by Render)',
    example: 'true',
    help: 'true on Render: file:// dump targets are refused (the instance disk is discarded) unless accepted explicitly.',
    parse: str(),
  }),
  renderGitCommit: spec<string | undefined>({
    env: 'RENDER_GIT_COMMIT',
    default: undefined,
    defaultText: '(set by Render)',
    example: '3f9c2e1...',
    help: 'The commit being deployed; recorded with the run and shown on /status.',
    parse: str(),
  }),
  renderServiceName: spec<string | undefined>({
    env: 'RENDER_SERVICE_NAME',
    default: undefined,
    defaultText: '(set by Render)',
    example: 'window-builder',
    help: 'The service being deployed; recorded with the run.',
    parse: str(),
  }),
  renderServiceId: spec<string | undefined>({
    env: 'RENDER_SERVICE_ID',
    default: undefined,
    defaultText: '(set by Render)',
    example: 'srv-abc123',
    help: 'The service id; recorded with the run.',
    parse: str(),
  }),
  isPullRequest: spec<string | undefined>({
    env: 'IS_PULL_REQUEST',
    default: undefined,
    defaultText: '(set by Render)',
    example: 'true',
    help: 'true in a preview environment: MIGRATION_GATE_PREVIEW_POLICY applies; recorded with the run.',
    parse: str(),
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = { [K in SettingKey]: ReturnType<(typeof SETTINGS)[K]['parse']> };

/** Render's own variables, recorded with each run when present; none is required. */
export interface RenderEnv {
  onRender: boolean;
  commit?: string;
  service?: string;
  serviceId?: string;
  isPullRequest?: boolean;
}

export function readRenderEnv(env: NodeJS.ProcessEnv): RenderEnv {
  const nonEmpty = (v: string | undefined) => (v && v.trim() ? v.trim() : undefined);
  return {
    onRender: env.RENDER === 'true',
    commit: nonEmpty(env.RENDER_GIT_COMMIT),
    service: nonEmpty(env.RENDER_SERVICE_NAME),
    serviceId: nonEmpty(env.RENDER_SERVICE_ID),
    isPullRequest: env.IS_PULL_REQUEST === undefined ? undefined : env.IS_PULL_REQUEST === 'true',
  };
}

/**
 * Parse all settings. `required` names settings this command cannot do without. Every problem is
 * collected and thrown as one ConfigError. Secret values never appear in the messages.
 */
export function loadSettings(env: NodeJS.ProcessEnv, required: SettingKey[] = []): Settings {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(SETTINGS) as Array<[SettingKey, SettingSpec<unknown>]>) {
    const raw = env[s.env];
    if (raw === undefined || raw === '') {
      out[key] = s.default;
      if (required.includes(key) && s.default === undefined) problems.push(`${s.env} is not set: ${s.help}`);
      continue;
    }
    try {
      out[key] = s.parse(raw);
    } catch (err) {
      const shown = s.secret
        ? '(value hidden)'
        : JSON.stringify(raw.length > 80 ? raw.slice(0, 80) + '…' : raw);
      problems.push(`${s.env}=${shown} ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const settings = out as Settings;
  if (settings.dumpTarget?.toLowerCase().startsWith('s3:')) problems.push(...s3ConfigProblems(env));
  if (settings.allow.length > 0 && !settings.allowReason?.trim()) {
    problems.push(
      'MIGRATION_GATE_ALLOW is set without MIGRATION_GATE_ALLOW_REASON: say why the override is safe (it is recorded with the run)',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `${problems.length} configuration problem${problems.length > 1 ? 's' : ''}: fix the settings below and re-run`,
      problems.map((p) => `- ${p}`),
    );
  }
  return settings;
}

/** Markdown table of every setting, for the README (kept in sync by a unit test). */
export function settingsMarkdownTable(): string {
  const rows = Object.values(SETTINGS).map((s: SettingSpec<unknown>) => {
    const def = defaultText(s);
    return `| \`${s.env}\` | ${def} | \`${s.example}\` | ${s.help} |`;
  });
  return ['| Variable | Default | Example | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * Prefixes the project's own tests, benchmarks and demo use for their knobs: never read by the
 * installed gate, so not settings, and not typos either.
 */
const DEVELOPMENT_PREFIXES = ['MIGRATION_GATE_TEST_', 'MIGRATION_GATE_BENCH_', 'MIGRATION_GATE_DEMO_'];

/**
 * One warning per MIGRATION_GATE_* variable that is not a setting (a typo such as
 * MIGRATION_GATE_DUMP_TARGT is silently ignored otherwise), with the closest setting's name.
 */
export function unknownSettingWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = Object.values(SETTINGS).map((s: SettingSpec<unknown>) => s.env);
  return Object.keys(env)
    .filter((name) => name.startsWith('MIGRATION_GATE_') && !known.includes(name))
    .filter((name) => !DEVELOPMENT_PREFIXES.some((p) => name.startsWith(p)))
    .sort()
    .map(
      (name) =>
        `${name} is not a migration-gate setting and is ignored${didYouMean(name, known)} (list them with \`migration-gate settings\`)`,
    );
}

export interface SettingRow {
  name: string;
  /** What is shown: the value (secrets hidden or masked) or the default. */
  shown: string;
  source: 'env' | 'default';
  /** Why the value is refused; undefined when it is valid. */
  problem?: string;
}

function defaultText(s: SettingSpec<unknown>): string {
  return (
    s.defaultText ??
    (Array.isArray(s.default)
      ? s.default.join(',') || '(empty)'
      : s.default === undefined
        ? '(none)'
        : String(s.default))
  );
}

function shownValue(s: SettingSpec<unknown>, raw: string): string {
  if (!s.secret) return JSON.stringify(raw.length > 80 ? raw.slice(0, 80) + '…' : raw);
  if (s.display === 'url') return redact(raw, []);
  if (s.display === 'masked' && raw.length >= 12) return `${raw.slice(0, 4)}…${raw.slice(-4)}`;
  return '(set)';
}

/** Every setting with its current value, where the value came from, and whether it is valid. */
export function describeSettings(env: NodeJS.ProcessEnv): SettingRow[] {
  // S3 values are checked together (see s3ConfigProblems); each problem names its variable first.
  const s3Problems = s3ConfigProblems(env);
  return Object.values(SETTINGS).map((s: SettingSpec<unknown>) => {
    const raw = env[s.env];
    if (raw === undefined || raw === '') return { name: s.env, shown: defaultText(s), source: 'default' };
    let problem: string | undefined;
    try {
      s.parse(raw);
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
    problem ??= s3Problems.find((p) => p.startsWith(`${s.env} `));
    return { name: s.env, shown: shownValue(s, raw), source: 'env', problem };
  });
}

/** The `migration-gate settings` report: one line per setting, then the warnings. */
export function formatSettingsReport(env: NodeJS.ProcessEnv): string {
  const rows = describeSettings(env);
  const width = Math.max(...rows.map((r) => r.name.length));
  const valueWidth = Math.min(48, Math.max(...rows.map((r) => r.shown.length)));
  const lines = rows.map((r) => {
    const status = r.problem ? `INVALID: ${r.problem}` : 'ok';
    return `${r.name.padEnd(width)}  ${r.source.padEnd(7)}  ${r.shown.padEnd(valueWidth)}  ${status}`;
  });
  const invalid = rows.filter((r) => r.problem).length;
  const warnings = unknownSettingWarnings(env);
  return [
    `${'Variable'.padEnd(width)}  Source   ${'Value (secrets hidden)'.padEnd(valueWidth)}  Valid`,
    ...lines,
    '',
    invalid === 0
      ? 'Every value set is valid.'
      : `${invalid} invalid value${invalid > 1 ? 's' : ''}: run and serve refuse to start until fixed.`,
    ...warnings.map((w) => `Warning: ${w}`),
    'Meaning and examples of each: migration-gate settings --format markdown, or the README.',
  ].join('\n');
}
