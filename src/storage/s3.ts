/**
 * `s3://bucket/prefix` dump target for AWS S3 and S3-compatible stores (Cloudflare R2, Backblaze B2, MinIO).
 * Render runs pre-deploy on a throwaway instance, so a dump only counts once it is in object storage.
 *
 * put() streams the dump straight into a multipart upload (s3-multipart.ts: no temp file, memory fixed
 * at partSize x (queueSize + 1)), hashing and counting on the way. User metadata is fixed when the upload
 * starts, so the sha256/size go into a small sidecar object afterwards; a final HEAD and a read of the
 * sidecar then prove the stored length and sha256 match what was streamed. Any failure aborts the
 * multipart upload.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { ConfigError, FailedError } from '../errors.js';
import { DUMP_SUFFIX, parseDumpObjectName } from './naming.js';
import { MultipartWriter, PartsLimitError } from './s3-multipart.js';
import {
  checkNoteName,
  NOTES_DIR,
  type DumpMeta,
  type DumpTarget,
  type PreflightOptions,
  type StoredDump,
  type StoredNote,
  type SweepResult,
} from './target.js';

const MiB = 1024 * 1024;
/** The checksum sidecar beside each dump object. */
const SIDECAR_SUFFIX = '.json';

import { s3ConfigFromEnv, type S3TargetConfig } from './s3-config.js';

export { s3ConfigFromEnv, s3ConfigProblems, type S3Credentials, type S3TargetConfig } from './s3-config.js';

export interface S3TargetOptions {
  /** Multipart part size (default 8 MiB: 10,000 parts allow dumps up to ~78 GiB). */
  partSize?: number;
  /** Parts in flight at once (default 2); memory is about partSize x (queueSize + 1). */
  queueSize?: number;
  /** Use this client instead of building one from the config (tests). */
  client?: S3Client;
}

/**
 * The SDK client's settings for a target. Exported so the benchmark's bare-SDK baseline uploads with
 * exactly the client the gate uses (same endpoint handling, same checksum policy).
 */
export function s3ClientConfig(config: S3TargetConfig): S3ClientConfig {
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // Third-party stores (B2, older MinIO) reject the SDK's default CRC32 trailers; we hash ourselves.
    requestChecksumCalculation: config.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: config.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    requestHandler: { connectionTimeout: 10_000 },
  };
}

/** What `openDumpTarget` calls for `s3:` URLs. */
export function createS3Target(
  url: URL,
  env: NodeJS.ProcessEnv,
  options: S3TargetOptions = {},
): S3DumpTarget {
  return new S3DumpTarget(s3ConfigFromEnv(url, env), options);
}

/** S3 user metadata travels in HTTP headers: printable ASCII only, and 2 KB in all on AWS. */
function metaValue(value: string, max = 256): string {
  return value
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, max);
}

function dumpMetadata(meta: DumpMeta): Record<string, string> {
  const out: Record<string, string> = {
    tool: 'migration-gate',
    'created-at': meta.createdAt.toISOString(),
    'from-revisions': metaValue(meta.fromRevisions.join(',') || 'base', 512),
    'to-revisions': metaValue(meta.toRevisions.join(',') || 'base', 512),
  };
  if (meta.service) out.service = metaValue(meta.service);
  if (meta.commit) out.commit = metaValue(meta.commit, 64);
  if (meta.pgDumpVersion) out['pg-dump-version'] = metaValue(meta.pgDumpVersion);
  if (meta.serverVersion) out['server-version'] = metaValue(meta.serverVersion);
  // Provenance (see provenance.ts): who took the dump, for which history run, and why.
  if (meta.madeBy) out['made-by'] = meta.madeBy;
  if (meta.runId) out['run-id'] = String(meta.runId);
  if (meta.purpose) out.purpose = metaValue(meta.purpose, 300);
  return out;
}

type Failure =
  | { kind: 'no-bucket' | 'auth' | 'network' | 'no-key' | 'other'; code: string; message: string }
  | { kind: 'region'; code: string; message: string; region?: string };

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'InvalidSecurity',
]);

/** The system error code of a network failure, wherever the SDK put it (code, cause, or only the text). */
function networkCode(error: unknown): string | undefined {
  for (
    let e = error as { code?: string; name?: string; message?: string; cause?: unknown } | undefined,
      depth = 0;
    e && depth < 4;
    e = e.cause as typeof e, depth++
  ) {
    if (e.code && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError') return 'TimeoutError';
    // Errors from another realm reach us wrapped as text ("AWS SDK error wrapper for Error: connect ECONNREFUSED").
    const inText = /\b(E[A-Z_]{3,})\b/.exec(e.message ?? '')?.[1];
    if (inText && NETWORK_CODES.has(inText)) return inText;
    if (/socket hang up/i.test(e.message ?? '')) return 'ECONNRESET';
  }
  return undefined;
}

function classify(error: unknown, op: 'bucket' | 'object'): Failure {
  const e = (error ?? {}) as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string> };
  };
  const status = e.$metadata?.httpStatusCode;
  const code =
    e.Code ??
    (e.name && e.name !== 'Error' && e.name !== 'Unknown' ? e.name : undefined) ??
    e.code ??
    String(status ?? 'unknown');
  const message = e.message ?? String(error);
  if (code === 'NoSuchBucket' || (op === 'bucket' && (code === 'NotFound' || status === 404))) {
    return { kind: 'no-bucket', code: 'NoSuchBucket', message };
  }
  if (code === 'NoSuchKey' || (op === 'object' && (code === 'NotFound' || status === 404))) {
    return { kind: 'no-key', code: 'NoSuchKey', message };
  }
  if (AUTH_CODES.has(code) || status === 403)
    return { kind: 'auth', code: status === 403 && !AUTH_CODES.has(code) ? '403 Forbidden' : code, message };
  if (status === 301 || code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed') {
    const region = e.$response?.headers?.['x-amz-bucket-region'];
    return { kind: 'region', code, message, ...(region ? { region } : {}) };
  }
  const netCode = networkCode(error);
  if (netCode) return { kind: 'network', code: netCode, message };
  return { kind: 'other', code, message };
}

export class S3DumpTarget implements DumpTarget {
  readonly description: string;
  readonly config: S3TargetConfig;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(config: S3TargetConfig, options: S3TargetOptions = {}) {
    this.config = config;
    this.description = `s3://${config.bucket}${config.prefix ? `/${config.prefix}` : ''}`;
    // 8 MiB parts keep the gate under ~150 MB RSS; S3's 10,000-part limit then allows ~78 GiB dumps.
    this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB);
    this.queueSize = Math.max(1, options.queueSize ?? 2);
    this.client = options.client ?? new S3Client(s3ClientConfig(config));
  }

  /** Full object key for a dump id (the id is relative to the prefix). */
  keyFor(id: string): string {
    if (!id || id.startsWith('/') || id.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new ConfigError(
        `invalid dump id ${JSON.stringify(id)}; use an id shown by \`migration-gate dumps list\``,
      );
    }
    return this.config.prefix ? `${this.config.prefix}/${id}` : id;
  }

  private idFor(key: string): string {
    return this.config.prefix ? key.slice(this.config.prefix.length + 1) : key;
  }

  private locationOf(key: string): string {
    return `s3://${this.config.bucket}/${key}`;
  }

  private endpointText(): string {
    if (!this.config.endpoint) return `S3 in ${this.config.region}`;
    try {
      const u = new URL(this.config.endpoint);
      return `${u.protocol}//${u.host}`;
    } catch {
      return 'the configured endpoint';
    }
  }

  /** Never let a secret reach a message, whatever the store echoes back. */
  private redact(text: string): string {
    let out = text;
    for (const secret of [this.config.credentials?.secretAccessKey, this.config.credentials?.sessionToken]) {
      if (secret) out = out.split(secret).join('***');
    }
    return out.replace(/\s+/g, ' ').slice(0, 300);
  }

  private explain(failure: Failure, context: { bytes?: number; during: string }): string {
    switch (failure.kind) {
      case 'no-bucket':
        return `the bucket does not exist (NoSuchBucket); create it or fix MIGRATION_GATE_DUMP_TARGET`;
      case 'auth':
        return (
          `access denied / invalid credentials (${failure.code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY` +
          (failure.code === 'AccessDenied'
            ? ' and that the key may read, write, list and delete in this bucket'
            : '')
        );
      case 'region':
        return failure.region
          ? `the bucket is in region ${failure.region} (${failure.code}); set AWS_REGION=${failure.region}`
          : `the bucket is in another region (${failure.code}); set AWS_REGION to the bucket's region`;
      case 'network':
        return context.bytes !== undefined && context.bytes > 0
          ? `connection lost after ${context.bytes} bytes (${failure.code}); check the network and ${this.endpointText()}, then re-run`
          : `cannot reach ${this.endpointText()} (${failure.code}); check MIGRATION_GATE_S3_ENDPOINT / AWS_REGION and the network`;
      case 'no-key':
        return `no such dump (NoSuchKey); run \`migration-gate dumps list\` to see the stored dumps`;
      default:
        return `the store refused ${context.during} (${failure.code}: ${this.redact(failure.message)})`;
    }
  }

  private fail(verb: string, error: unknown, op: 'bucket' | 'object', bytes?: number): FailedError {
    if (error instanceof FailedError || error instanceof ConfigError) return error;
    const failure = classify(error, op);
    const text = this.explain(failure, { ...(bytes !== undefined ? { bytes } : {}), during: 'the request' });
    return new FailedError(`S3 ${verb} ${this.description} failed: ${text}`, [], { cause: error });
  }

  async preflight(options: PreflightOptions = {}): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (error) {
      throw this.fail('check of', error, 'bucket');
    }
    if (!options.writeProbe) return;
    // HeadBucket only proves the bucket is visible; a key may still lack write or delete permission,
    // which would otherwise surface only after pg_dump has read the whole database.
    const key = this.keyFor(`.migration-gate-probe-${process.pid}-${Date.now()}`);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: 'migration-gate write probe' }),
      );
    } catch (error) {
      throw this.fail('write probe to', error, 'object');
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (error) {
      throw this.fail('delete probe in', error, 'object');
    }
  }

  async put(name: string, body: Readable, meta: DumpMeta, signal?: AbortSignal): Promise<StoredDump> {
    const key = this.keyFor(name);
    const hash = createHash('sha256');
    let bytes = 0;
    let sourceError: Error | undefined;
    let aborted = false;
    // Only errors of the dump stream itself count as "the dump broke"; our own stop below does not.
    body.once('error', (error) => {
      sourceError ??= error;
    });
    const metadata = dumpMetadata(meta);
    const writer = new MultipartWriter(
      this.client,
      {
        Bucket: this.config.bucket,
        Key: key,
        ContentType: 'application/octet-stream',
        Metadata: metadata,
        ...this.sseParams(),
      },
      this.partSize,
      this.queueSize,
      // What Upload did: AWS gets the SDK's default CRC32 part checksums, third-party stores none.
      this.config.endpoint ? undefined : 'CRC32',
    );
    const interrupted = new Error('interrupted');
    const onAbort = () => {
      aborted = true;
      // Ends the read loop below even when the dump stream has gone quiet.
      body.destroy();
      void writer.stop();
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      try {
        for await (const chunk of body) {
          if (aborted) throw interrupted;
          const buf = chunk as Buffer;
          hash.update(buf);
          bytes += buf.length;
          await writer.write(buf);
        }
        if (aborted) throw interrupted;
        await writer.finish();
      } catch (error) {
        // Stops pg_dump's side too (the caller sees its sink fail), and no part may land after the abort.
        body.destroy();
        await writer.stop();
        const notAborted = await this.abortLeftoverUploads(key, writer.uploadId);
        if (aborted) {
          throw new FailedError(
            `S3 upload to ${this.description} failed: interrupted after ${bytes} bytes; ${notAborted ?? 'the partial upload was aborted'}`,
            [],
            { cause: error },
          );
        }
        if (sourceError && (error === sourceError || classify(error, 'object').kind === 'other')) {
          throw new FailedError(
            `S3 upload to ${this.description} failed: the dump stream broke after ${bytes} bytes (${this.redact(sourceError.message)}); nothing was stored, fix the dump and re-run`,
            [],
            { cause: sourceError },
          );
        }
        if (error instanceof PartsLimitError) {
          throw new FailedError(
            `S3 upload to ${this.description} failed: ${error.message}; nothing was stored (S3 allows 10,000 parts per object). Dump to a file:// target on a disk large enough, then copy it to the bucket with a tool that picks its own part size`,
            [],
            { cause: error },
          );
        }
        throw this.fail('upload to', error, 'object', bytes);
      }
      if (sourceError) {
        // The upload finished on a stream that ended in error: never keep such an object.
        await this.deleteQuietly(key);
        throw new FailedError(
          `S3 upload to ${this.description} failed: the dump stream broke after ${bytes} bytes (${this.redact(sourceError.message)}); the object was deleted`,
        );
      }

      const sha256 = hash.digest('hex');
      try {
        await this.putChecksum(key, { ...metadata, sha256, size: String(bytes) });
      } catch (error) {
        await this.deleteQuietly(key);
        throw this.fail('upload to', error, 'object');
      }
      return await this.verifyStored(key, name, bytes, sha256, meta.createdAt);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private sseParams(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    return {
      ...(this.config.sse ? { ServerSideEncryption: this.config.sse as ServerSideEncryption } : {}),
      ...(this.config.kmsKeyId ? { SSEKMSKeyId: this.config.kmsKeyId } : {}),
    };
  }

  /**
   * Metadata is fixed when an upload starts, but the sha256 is known only at its end. It goes into a
   * small sidecar object (`<key>.json`) rather than a server-side copy of the whole dump onto itself,
   * which would cost as much as the upload again.
   */
  private async putChecksum(key: string, metadata: Record<string, string>): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.config.bucket,
        Key: key + SIDECAR_SUFFIX,
        Body: JSON.stringify(metadata),
        ContentType: 'application/json',
        ...this.sseParams(),
      }),
    );
  }

  /** The sidecar's metadata, or undefined when it is missing or unreadable. */
  private async readChecksum(key: string): Promise<Record<string, string> | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: key + SIDECAR_SUFFIX }),
      );
      const text = await out.Body?.transformToString('utf8');
      return text ? (JSON.parse(text) as Record<string, string>) : undefined;
    } catch {
      return undefined;
    }
  }

  private async verifyStored(
    key: string,
    id: string,
    bytes: number,
    sha256: string,
    createdAt: Date,
  ): Promise<StoredDump> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (error) {
      await this.deleteQuietly(key);
      throw this.fail('upload to', error, 'object', bytes);
    }
    const problems: string[] = [];
    if (head.ContentLength !== bytes)
      problems.push(`the store holds ${head.ContentLength ?? 'unknown'} bytes but ${bytes} were streamed`);
    const stored = await this.readChecksum(key);
    if (stored?.sha256 !== sha256)
      problems.push(`the stored sha256 is ${stored?.sha256 ?? 'missing'}, expected ${sha256}`);
    if (problems.length > 0) {
      await this.deleteQuietly(key);
      throw new FailedError(
        `S3 upload to ${this.description} failed verification: ${problems.join('; ')}; the object was deleted, re-run to take a new dump`,
      );
    }
    return {
      id,
      location: this.locationOf(key),
      bytes,
      sha256,
      createdAt,
      meta: { ...head.Metadata, ...stored },
    };
  }

  private async deleteQuietly(key: string): Promise<void> {
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }))
      .catch(() => undefined);
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key + SIDECAR_SUFFIX }))
      .catch(() => undefined);
  }

  /**
   * Safety net after a failed upload: no multipart upload for this key may be left billing parts.
   * Returns undefined when every abort went through, else the sentence saying which one did not.
   */
  private async abortLeftoverUploads(key: string, knownUploadId?: string): Promise<string | undefined> {
    const ids = new Set<string>(knownUploadId ? [knownUploadId] : []);
    try {
      const out = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.config.bucket, Prefix: key }),
      );
      for (const u of out.Uploads ?? []) if (u.Key === key && u.UploadId) ids.add(u.UploadId);
    } catch {
      // Listing needs s3:ListBucketMultipartUploads, which a narrow key may lack; the known id still gets aborted.
    }
    let failed: string | undefined;
    for (const UploadId of ids) {
      failed = (await this.abortUpload(key, UploadId)) ?? failed;
    }
    return failed;
  }

  /** One AbortMultipartUpload; undefined when done, else the sentence for the log. */
  private async abortUpload(key: string, UploadId: string): Promise<string | undefined> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId }),
      );
      return undefined;
    } catch (error) {
      const failure = classify(error, 'object');
      const code = failure.code;
      // Already gone (aborted or completed meanwhile; some stores answer 404 NoSuchKey) is what we wanted.
      if (code === 'NoSuchUpload' || failure.kind === 'no-key') return undefined;
      return `could not abort the incomplete upload ${this.locationOf(key)}; the bucket's lifecycle rule will remove it (abort failed: ${this.redact(code)}; if the bucket has no AbortIncompleteMultipartUpload rule, add one)`;
    }
  }

  /**
   * Multipart uploads of dumps under the gate's prefix that a killed run left open (started before
   * `olderThan`, the lock's start), aborted so their parts stop costing storage.
   */
  async sweep(olderThan: Date): Promise<SweepResult> {
    const result: SweepResult = { removed: [], failed: [] };
    const root = this.config.prefix ? `${this.config.prefix}/` : '';
    const stale: { key: string; uploadId: string }[] = [];
    try {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.config.bucket,
            Prefix: root,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
        for (const u of page.Uploads ?? []) {
          // Only keys the gate names: a shared bucket's other uploads are not ours to end.
          if (!u.Key?.endsWith(DUMP_SUFFIX) || !u.UploadId) continue;
          if (u.Initiated && u.Initiated.getTime() >= olderThan.getTime()) continue;
          stale.push({ key: u.Key, uploadId: u.UploadId });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (error) {
      const failure = classify(error, 'bucket');
      result.failed.push({
        item: this.description,
        message: `could not list incomplete uploads in ${this.description} (${this.redact(failure.code)}): uploads left by a killed run stay until the bucket's lifecycle rule removes them; grant s3:ListBucketMultipartUploads and s3:AbortMultipartUpload to let the gate abort them`,
      });
      return result;
    }
    for (const { key, uploadId } of stale) {
      const failed = await this.abortUpload(key, uploadId);
      if (failed) result.failed.push({ item: this.locationOf(key), message: failed });
      else result.removed.push(this.locationOf(key));
    }
    return result;
  }

  async list(): Promise<StoredDump[]> {
    const root = this.config.prefix ? `${this.config.prefix}/` : '';
    const found: { key: string; size: number; modified?: Date }[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: root, ContinuationToken: token }),
        );
        for (const obj of page.Contents ?? []) {
          if (obj.Key?.endsWith(DUMP_SUFFIX))
            found.push({
              key: obj.Key,
              size: obj.Size ?? 0,
              ...(obj.LastModified ? { modified: obj.LastModified } : {}),
            });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.fail('listing of', error, 'bucket');
    }

    // Metadata (sha256, versions) needs a HEAD per object; retention keeps the count small.
    const dumps: StoredDump[] = [];
    const queue = [...found];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        let metadata: Record<string, string> = (await this.readChecksum(item.key)) ?? {};
        if (!metadata.sha256) {
          try {
            const head = await this.client.send(
              new HeadObjectCommand({ Bucket: this.config.bucket, Key: item.key }),
            );
            metadata = { ...head.Metadata };
          } catch {
            // Deleted meanwhile or not readable: still listed from the name and listing alone.
          }
        }
        const id = this.idFor(item.key);
        const parsed = parseDumpObjectName(id);
        const fromMeta = metadata['created-at'] ? new Date(metadata['created-at']) : undefined;
        const createdAt =
          fromMeta && !Number.isNaN(fromMeta.getTime())
            ? fromMeta
            : (parsed?.createdAt ?? item.modified ?? new Date(0));
        const meta: Record<string, string> = { ...metadata };
        if (parsed) {
          meta.service ??= parsed.service;
          meta['from-revisions'] ??= parsed.fromRevisions.join(',') || 'base';
          meta['to-revisions'] ??= parsed.toRevisions.join(',') || 'base';
          if (parsed.commit) meta.commit ??= parsed.commit;
        }
        dumps.push({
          id,
          location: this.locationOf(item.key),
          bytes: item.size,
          ...(metadata.sha256 ? { sha256: metadata.sha256 } : {}),
          createdAt,
          meta,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, found.length) }, worker));
    return dumps.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));
  }

  async get(id: string): Promise<Readable> {
    const key = this.keyFor(id);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      if (out.Body instanceof Readable) return out.Body;
      // Non-Node runtimes hand back a web stream; normalise so callers always get a Readable.
      const pass = new PassThrough();
      if (out.Body) Readable.fromWeb(out.Body.transformToWebStream() as never).pipe(pass);
      else pass.end();
      return pass;
    } catch (error) {
      throw this.fail(`download of ${id} from`, error, 'object');
    }
  }

  async remove(id: string): Promise<void> {
    const key = this.keyFor(id);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (error) {
      throw this.fail(`delete of ${id} from`, error, 'object');
    }
  }

  private noteKey(name: string): string {
    checkNoteName(name);
    return this.keyFor(`${NOTES_DIR}/${name}`);
  }

  async writeNote(name: string, text: string, signal?: AbortSignal): Promise<string> {
    const key = this.noteKey(name);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: key,
          Body: text,
          ContentType: 'application/json',
        }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (error) {
      throw this.fail(`write of the note ${name} to`, error, 'object');
    }
    return this.locationOf(key);
  }

  async readNotes(limit: number): Promise<StoredNote[]> {
    const prefix = `${this.keyFor(NOTES_DIR)}/`;
    let keys: string[];
    try {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, MaxKeys: 1000 }),
      );
      keys = (page.Contents ?? [])
        .map((o) => o.Key ?? '')
        .filter((k) => k.endsWith('.json'))
        .sort()
        .slice(0, limit);
    } catch (error) {
      throw this.fail('listing of notes in', error, 'bucket');
    }
    const notes: StoredNote[] = [];
    for (const key of keys) {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
        const text = (await out.Body?.transformToString('utf8')) ?? '';
        notes.push({ name: key.slice(prefix.length), location: this.locationOf(key), text });
      } catch (error) {
        if (classify(error, 'object').kind === 'no-key') continue; // removed meanwhile
        throw this.fail(`read of the note ${key} from`, error, 'object');
      }
    }
    return notes;
  }

  async removeNote(name: string): Promise<void> {
    const key = this.noteKey(name);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (error) {
      throw this.fail(`delete of the note ${name} from`, error, 'object');
    }
  }
}
