/** Opens the dump target named by a URL (MIGRATION_GATE_DUMP_TARGET). */
import { ConfigError } from '../errors.js';
import { FileDumpTarget } from './file.js';
import type { DumpTarget } from './target.js';

/** Async so the S3 SDK (~0.4 s to load) is only loaded when an s3:// target is used. */
export async function openDumpTarget(url: string): Promise<DumpTarget> {
  const trimmed = url.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'file':
      return FileDumpTarget.fromUrl(trimmed);
    case 's3':
      return (await import('./s3.js')).createS3Target(new URL(trimmed), process.env);
    default:
      throw new ConfigError(
        `dump target "${scheme ? `${scheme}:` : trimmed}" is not supported: use file:///dir or s3://bucket/prefix`,
      );
  }
}
