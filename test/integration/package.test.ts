/** The published shape: the packed tarball installs into an empty directory and its bin runs. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../helpers/project.js';

test('npm pack, install into an empty directory, npx migration-gate --help', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-pack-'));
  try {
    const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: repoRoot,
    });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('docs/rules/drop-column.md');
    // pg-client install verifies PGDG's index with this key.
    expect(files).toContain('assets/pgdg/apt.postgresql.org.asc');
    expect(files.some((f) => /^(dist\/demo|dist-bench|bench|test)\//.test(f))).toBe(false);
    const app = path.join(dir, 'app');
    await execa('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}');
    await execa(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, info!.filename)],
      {
        cwd: app,
        timeout: 300_000,
      },
    );
    const help = await execa('npx', ['--no-install', 'migration-gate', '--help'], { cwd: app });
    expect(help.stdout).toContain('migration-gate 0.1.0: a pre-deploy gate for Alembic migrations');
    expect(help.stdout).toContain('Exit codes:');
    const version = await execa('npx', ['--no-install', 'migration-gate', '--version'], { cwd: app });
    expect(version.stdout.trim()).toBe('0.1.0');
    // The installed package really parses and classifies (the WASM parsers ship with it).
    const check = await execa(
      'npx',
      [
        '--no-install',
        'migration-gate',
        'check',
        '--config',
        path.join(repoRoot, 'examples/window-builder/alembic.ini'),
        '--from',
        '1a2b3c4d5e6f',
        '--json',
      ],
      { cwd: app, reject: false },
    );
    expect(check.exitCode).toBe(2);
    const report = JSON.parse(check.stdout) as {
      decision: string;
      pending: Array<{ revision: string; verdict: string }>;
    };
    expect(report.decision).toBe('block');
    expect(report.pending.map((p) => [p.revision, p.verdict])).toEqual([
      ['fd4af8236c7d', 'additive'],
      ['7c1e2d9a0b3f', 'destructive'],
    ]);
    // The S3 dump target loads from what the package installs: the SDK's Upload helper is the
    // benchmark's baseline only (a dev dependency), so an install without it must still store dumps.
    const s3 = await execa(
      'node',
      [
        '--input-type=module',
        '-e',
        "const m = await import('migration-gate/dist/storage/s3.js'); console.log(Object.keys(m).sort().join(','));",
      ],
      { cwd: app, reject: false },
    );
    expect(s3.stderr).toBe('');
    expect(s3.stdout).toContain('S3DumpTarget');
    expect(existsSync(path.join(app, 'node_modules/@aws-sdk/lib-storage'))).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
