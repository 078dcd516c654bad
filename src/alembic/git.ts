/**
 * Which migration files a branch adds: files added or modified since the merge base with `ref`,
 * plus untracked ones (a migration just generated and not yet committed).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ConfigError } from '../errors.js';
import type { AlembicProject } from './config.js';

async function git(args: string[], cwd: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const r = await execa('git', args, { cwd, reject: false, stripFinalNewline: true });
    return { ok: r.exitCode === 0, stdout: String(r.stdout), stderr: String(r.stderr) };
  } catch (err) {
    throw new ConfigError(`cannot run git: ${(err as Error).message}; install git or drop --since`, [], {
      cause: err,
    });
  }
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function isMigrationPath(rel: string): boolean {
  const name = path.basename(rel);
  return name.endsWith('.py') && !name.startsWith('.') && !name.startsWith('__init__');
}

/**
 * Absolute paths of `.py` files in the version locations added or modified since
 * `git merge-base <ref> HEAD`, plus untracked files there, sorted and deduplicated.
 */
export async function migrationFilesAddedSince(ref: string, project: AlembicProject): Promise<string[]> {
  const cwd = project.projectDir;
  const top = await git(['rev-parse', '--show-toplevel'], cwd);
  if (!top.ok) {
    throw new ConfigError(
      `${cwd} is not inside a git repository (${firstLine(top.stderr)}); run from a git checkout or drop --since`,
    );
  }
  const root = top.stdout.trim();
  const verified = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], cwd);
  if (!verified.ok) {
    throw new ConfigError(
      `git ref '${ref}' not found; fetch it first (e.g. 'git fetch origin main'; in CI check out with fetch-depth: 0)`,
    );
  }
  const base = await git(['merge-base', ref, 'HEAD'], cwd);
  if (!base.ok || base.stdout.trim() === '') {
    throw new ConfigError(
      `no common ancestor between '${ref}' and HEAD (${firstLine(base.stderr) || 'shallow clone?'}); fetch the full history (e.g. 'git fetch --unshallow origin main'; in CI use fetch-depth: 0)`,
    );
  }
  const dirs = project.versionLocations;
  // git prints real paths (symlinks resolved); compare against the real version directories.
  const realDirs = await Promise.all(dirs.map((d) => realpath(d).catch(() => d)));
  // --no-renames: a moved or copied-then-deleted migration must still count as added.
  // -z would be safer for odd names, but git quotes only unusual paths and core.quotePath=false keeps UTF-8.
  const diff = await git(
    [
      '-c',
      'core.quotePath=false',
      'diff',
      '--name-only',
      '--no-renames',
      '--diff-filter=AM',
      base.stdout.trim(),
      '--',
      ...realDirs,
    ],
    cwd,
  );
  if (!diff.ok)
    throw new ConfigError(`git diff failed: ${firstLine(diff.stderr)}; check the repository state`);
  const untracked = await git(
    [
      '-c',
      'core.quotePath=false',
      'ls-files',
      '--others',
      '--exclude-standard',
      '--full-name',
      '--',
      ...realDirs,
    ],
    cwd,
  );
  if (!untracked.ok) {
    throw new ConfigError(`git ls-files failed: ${firstLine(untracked.stderr)}; check the repository state`);
  }
  // Both commands print paths relative to the repository root.
  const out = new Set<string>();
  for (const rel of [...lines(diff.stdout), ...lines(untracked.stdout)]) {
    if (!isMigrationPath(rel)) continue;
    const abs = path.resolve(root, rel);
    const i = realDirs.findIndex((d) =>
      project.recursive ? abs.startsWith(d + path.sep) : path.dirname(abs) === d,
    );
    // Report the path under the configured directory, as loadMigrations names it.
    if (i >= 0) out.add(path.join(dirs[i]!, path.relative(realDirs[i]!, abs)));
  }
  return [...out].sort();
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
