/**
 * Unpacking a .deb without root and without dpkg: a .deb is an `ar` archive whose `data.tar.*`
 * member holds the files. We read the ar container ourselves (a fixed 60-byte header per member),
 * decompress the member in-process (xz through a WebAssembly decoder, gzip through zlib) and let the
 * `tar` package write the files, so this works on any image. `dpkg-deb -x` is the fallback for a
 * compression we cannot decode (zstd on Node < 22.15), when it exists.
 */
import { readFile } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { x as untar } from 'tar';
import { FailedError } from '../errors.js';

export interface ArMember {
  name: string;
  data: Buffer;
}

const AR_MAGIC = '!<arch>\n';

/** The members of an `ar` archive (the common format dpkg writes; GNU `/` long names are not used by .debs). */
export function readAr(buf: Buffer, label: string): ArMember[] {
  if (buf.subarray(0, 8).toString('latin1') !== AR_MAGIC) {
    throw new FailedError(`${label} is not a Debian package (no ar header)`);
  }
  const members: ArMember[] = [];
  let off = 8;
  while (off + 60 <= buf.length) {
    const header = buf.subarray(off, off + 60).toString('latin1');
    if (header.slice(58, 60) !== '`\n') throw new FailedError(`${label} has a corrupt ar member header`);
    const name = header.slice(0, 16).trim().replace(/\/$/, '');
    const size = Number(header.slice(48, 58).trim());
    if (!Number.isInteger(size) || size < 0 || off + 60 + size > buf.length) {
      throw new FailedError(`${label} has a truncated ar member (${name})`);
    }
    members.push({ name, data: buf.subarray(off + 60, off + 60 + size) });
    // Members are padded to an even offset.
    off += 60 + size + (size % 2);
  }
  return members;
}

async function xzStream(data: Buffer): Promise<Readable> {
  type XzCtor = new (s: WebReadableStream<Uint8Array>) => WebReadableStream<Uint8Array>;
  // A CommonJS webpack bundle: from ESM its exports sit on `default`.
  const mod = (await import('xz-decompress')) as unknown as {
    XzReadableStream?: XzCtor;
    default?: { XzReadableStream?: XzCtor };
  };
  const XzReadableStream = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  if (!XzReadableStream) throw new FailedError('the xz decoder (xz-decompress) did not load');
  const web = Readable.toWeb(Readable.from([data])) as WebReadableStream<Uint8Array>;
  return Readable.fromWeb(new XzReadableStream(web));
}

function decompressor(name: string): (() => Transform) | undefined {
  if (name.endsWith('.gz')) return () => zlib.createGunzip();
  const z = zlib as unknown as { createZstdDecompress?: () => Transform };
  if (name.endsWith('.zst') && z.createZstdDecompress) return () => z.createZstdDecompress!();
  if (name === 'data.tar') return undefined;
  return undefined;
}

/** Unpack the package's files (its data.tar member) into `dir`, which must exist. */
export async function extractDeb(file: string, dir: string, label: string): Promise<void> {
  try {
    await unpack(file, dir, label);
  } catch (err) {
    if (err instanceof FailedError) throw err;
    throw new FailedError(
      `could not unpack ${label} (${err instanceof Error ? err.message : String(err)}): the package is damaged or in a format migration-gate does not read; nothing was installed`,
    );
  }
}

async function unpack(file: string, dir: string, label: string): Promise<void> {
  const members = readAr(await readFile(file), label);
  const data = members.find((m) => m.name.startsWith('data.tar'));
  if (!data) throw new FailedError(`${label} has no data.tar member: not a binary package`);
  // Never let an archive write outside `dir` or give files to another user.
  const sink = () => untar({ cwd: dir, preserveOwner: false, strict: true });
  if (data.name === 'data.tar.xz') return pipeline(await xzStream(data.data), sink());
  if (data.name === 'data.tar') return pipeline(Readable.from([data.data]), sink());
  const make = decompressor(data.name);
  if (make) return pipeline(Readable.from([data.data]), make(), sink());
  return dpkgDebFallback(file, dir, label, data.name);
}

async function dpkgDebFallback(file: string, dir: string, label: string, member: string): Promise<void> {
  const r = await execa('dpkg-deb', ['-x', file, dir], { reject: false, stdin: 'ignore' });
  if (r.exitCode === 0) return;
  const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  throw new FailedError(
    missing
      ? `${label} stores its files as ${member}, which this Node.js cannot decompress and dpkg-deb is not installed: run on Node.js 22.15+ or an image with dpkg`
      : `dpkg-deb could not unpack ${label}: ${String(r.stderr).trim().split('\n').at(-1) ?? ''}`,
  );
}
