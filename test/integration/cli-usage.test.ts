/**
 * The built CLI's front door: per-command help that never reaches the database, "did you mean"
 * for mistyped commands, options and MIGRATION_GATE_* variables, the `settings` report, and
 * out-of-range settings refused before anything runs.
 *
 * "Never touches the database" is measured, not assumed: DATABASE_URL points at a loopback TCP
 * listener that counts the connections it receives.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { exampleDir, repoRoot } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const COMMANDS = [
  'check',
  'run',
  'serve',
  'dumps',
  'rehearse',
  'restore',
  'rollback',
  'pg-client',
  'settings',
];

let listener: net.Server;
let connections = 0;
let trapUrl = '';

beforeAll(async () => {
  listener = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  trapUrl = `postgresql://gate:pw-not-for-you@127.0.0.1:${port}/prod`;
});
afterAll(() => new Promise<void>((resolve) => listener.close(() => resolve())));
beforeEach(() => {
  connections = 0;
});

function gate(args: string[], env: Record<string, string> = {}) {
  return execa('node', [cli, ...args], {
    cwd: repoRoot,
    reject: false,
    timeout: 30_000,
    env: {
      DATABASE_URL: trapUrl,
      REHEARSAL_DATABASE_URL: trapUrl,
      MIGRATION_GATE_DUMP_TARGET: 'file:///nonexistent/dumps',
      MIGRATION_GATE_LOG_FORMAT: 'text',
      ...env,
    },
  });
}

describe('help', () => {
  test.each(COMMANDS)(
    '%s --help prints the help of that command alone and never connects',
    async (command) => {
      const res = await gate([command, '--help']);
      expect(res.exitCode).toBe(0);
      expect(res.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: migration-gate ${command}\\b`));
      for (const other of COMMANDS.filter((c) => c !== command))
        expect(res.stdout).not.toContain(`Usage: migration-gate ${other}`);
      expect(res.stdout).toContain('--help');
      expect(res.stderr).toBe('');
      expect(connections).toBe(0);
    },
  );

  test('--help wins wherever it stands, and `help <command>` is the same', async () => {
    const a = await gate(['restore', '--dump', 'latest', '--yes', '--help']);
    const b = await gate(['help', 'restore']);
    const c = await gate(['-h', 'restore']);
    for (const r of [a, b, c]) {
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('Usage: migration-gate restore');
      expect(r.stdout).toContain('--dump ID|latest|newest|FILE');
    }
    expect(connections).toBe(0);
  });

  test('check --help lists exactly the options check accepts', async () => {
    const res = await gate(['check', '--help']);
    const options = [...res.stdout.split('\nOptions:\n')[1]!.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
    expect(options).toEqual([
      'config',
      'from',
      'to',
      'since-ref',
      'server-version',
      'format',
      'json',
      'help',
    ]);
  });

  test('the overview names every command and points at per-command help', async () => {
    const res = await gate(['--help']);
    expect(res.exitCode).toBe(0);
    for (const c of COMMANDS) expect(res.stdout).toMatch(new RegExp(`^ {2}${c} `, 'm'));
    expect(res.stdout).toContain('migration-gate <command> --help prints the options of that command.');
    expect(res.stdout).toContain('Exit codes:');
  });
});

describe('did you mean', () => {
  test('an unknown command', async () => {
    const res = await gate(['rollbak', '--yes']);
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toBe(
      "migration-gate: configuration error: unknown command 'rollbak': did you mean rollback? (all commands: migration-gate --help)",
    );
    expect(connections).toBe(0);
  });

  test("an unknown option, and another command's option", async () => {
    const typo = await gate(['check', '--cofnig', 'x.ini']);
    expect(typo.exitCode).toBe(3);
    expect(typo.stderr).toContain(
      "unknown option '--cofnig' for check: did you mean --config? (its options: migration-gate check --help)",
    );
    const misplaced = await gate(['run', '--yes']);
    expect(misplaced.exitCode).toBe(3);
    expect(misplaced.stderr).toContain(
      "unknown option '--yes' for run: it is an option of restore, rollback",
    );
    expect(connections).toBe(0);
  });

  test('a mistyped MIGRATION_GATE_* variable is a warning in settings, run and serve', async () => {
    const typo = { MIGRATION_GATE_DUMP_TARGT: 's3://bucket/prefix' };
    const warning =
      'MIGRATION_GATE_DUMP_TARGT is not a migration-gate setting and is ignored; did you mean MIGRATION_GATE_DUMP_TARGET?';

    const settings = await gate(['settings'], typo);
    expect(settings.exitCode).toBe(0);
    expect(settings.stdout).toContain(`Warning: ${warning}`);

    // run: the warning comes first, then the run fails on the (refusing) database as usual.
    const run = await gate(['run', '--config', path.join(exampleDir, 'alembic.ini')], typo);
    expect(run.stderr).toContain(warning);
    expect(run.stderr.indexOf(warning)).toBeLessThan(run.stderr.indexOf('cannot connect'));

    const serve = execa('node', [cli, 'serve'], {
      cwd: repoRoot,
      reject: false,
      env: { DATABASE_URL: trapUrl, PORT: '0', MIGRATION_GATE_LOG_FORMAT: 'text', ...typo },
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve printed no warning: ${stderr}`)), 20_000);
      serve.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes(warning)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    serve.kill('SIGTERM');
    await serve;
    expect(stderr).toContain(warning);
  });
});

describe('settings', () => {
  test('lists every variable with its source, hides secrets, and exits 3 when one is invalid', async () => {
    const res = await gate(['settings'], {
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      MIGRATION_GATE_LOCK_RETRIES: '0x10',
      IS_PULL_REQUEST: 'true',
    });
    expect(res.exitCode).toBe(3);
    expect(res.stdout).toMatch(/^AWS_ACCESS_KEY_ID +env +AKIA…MPLE +ok$/m);
    expect(res.stdout).toMatch(/^AWS_SECRET_ACCESS_KEY +env +\(set\) +ok$/m);
    expect(res.stdout).toMatch(/^DATABASE_URL +env +postgresql:\/\/gate:\*\*\*@127\.0\.0\.1:\d+\/prod +ok$/m);
    expect(res.stdout).toMatch(/^IS_PULL_REQUEST +env +"true" +ok$/m);
    expect(res.stdout).toMatch(/^AWS_REGION +default +us-east-1 +ok$/m);
    expect(res.stdout).toMatch(
      /^MIGRATION_GATE_LOCK_RETRIES +env +"0x10" +INVALID: must be a whole number from 0 to 20/m,
    );
    for (const secret of ['pw-not-for-you', 'wJalrXUtnFEMI', 'IOSFODNN7'])
      expect(res.stdout).not.toContain(secret);
    expect(connections).toBe(0);
  });

  test('--format markdown prints the README table', async () => {
    const res = await gate(['settings', '--format', 'markdown']);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe('| Variable | Default | Example | Meaning |');
  });
});

describe('settings out of range are refused at start, before any dump', () => {
  test.each([
    ['MIGRATION_GATE_LOCK_TIMEOUT', '9999999999999s', 'from 0 (off) to 2147483647ms'],
    ['MIGRATION_GATE_LOCK_RETRIES', '0x10', 'from 0 to 20'],
    ['MIGRATION_GATE_LOCK_WAIT', '1 20', 'from 0 to 1800'],
  ])('%s=%s', async (name, value, range) => {
    const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-range-'));
    try {
      const res = await gate(['run', '--config', path.join(exampleDir, 'alembic.ini')], {
        MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
        [name]: value,
      });
      expect(res.exitCode).toBe(3);
      expect(res.stderr).toContain(
        'configuration error: 1 configuration problem: fix the settings below and re-run',
      );
      expect(res.stderr).toContain(`${name}=${JSON.stringify(value)} must be`);
      expect(res.stderr).toContain(range);
      expect(readdirSync(dumps)).toEqual([]);
      expect(connections).toBe(0);
    } finally {
      rmSync(dumps, { recursive: true, force: true });
    }
  });
});
