/**
 * The repository root, found from this file's location. The bench runs both from source (ts-jest
 * imports bench/*.ts) and compiled (dist-bench/bench/*.js), which sit at different depths, so a fixed
 * relative URL would be right for only one of them: walk up to the package.json instead.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}
