/** Opens the dump target named by a URL (MIGRATION_GATE_DUMP_TARGET). */
import { ConfigError } from '../errors.js';
import { FileDumpTarget } from './file.js';
import { createS3Target } from './s3.js';
import type { DumpTarget } from './target.js';

export function openDumpTarget(url: string): DumpTarget {
  const trimmed = url.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'file':
      return FileDumpTarget.fromUrl(trimmed);
    case 's3':
      return createS3Target(new URL(trimmed), process.env);
    default:
      throw new ConfigError(
        `dump target "${scheme ? `${scheme}:` : trimmed}" is not supported: use file:///dir or s3://bucket/prefix`,
      );
  }
}
