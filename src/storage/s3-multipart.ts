/**
 * The multipart upload behind S3DumpTarget.put, in place of @aws-sdk/lib-storage's Upload, for two reasons
 * measured in `npm run bench` (s3 section):
 * - Memory: Upload gathers each part with Buffer.concat and keeps the remainder as a view of that buffer,
 *   so every part allocates a fresh 8 MiB buffer and dead ones wait for the garbage collector; peak RSS
 *   wandered between 133 and 151 MB on the same 1 GiB dump. Here queueSize + 1 part buffers are allocated
 *   once and reused: the parts' memory is fixed whatever the dump's size.
 * - CPU: one copy of each byte into its part buffer, no stream in between (Upload reads the body through
 *   its own async generators), one request per part.
 * A dump smaller than one part is stored with a single PutObject, as Upload does.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type ChecksumAlgorithm,
  type CompletedPart,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';

/** S3's limit on parts per upload. */
export const MAX_PARTS = 10_000;

export interface MultipartParams {
  Bucket: string;
  Key: string;
  ContentType: string;
  Metadata: Record<string, string>;
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
}

export class PartsLimitError extends Error {}

export class MultipartWriter {
  /** Set once CreateMultipartUpload answered; what a failed upload must abort. */
  uploadId: string | undefined;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private current: Buffer | undefined;
  private fill = 0;
  private nextPart = 1;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private failure: unknown;
  private created: Promise<string> | undefined;
  /** Cancels in-flight requests when the caller gives up (abort signal, broken dump stream). */
  private readonly requests = new AbortController();

  constructor(
    private readonly client: S3Client,
    private readonly params: MultipartParams,
    private readonly partSize: number,
    private readonly queueSize: number,
    /** undefined = no additional checksum (third-party stores); the SDK's default otherwise. */
    private readonly checksum: ChecksumAlgorithm | undefined,
  ) {}

  /** Copies `chunk` into the current part; waits only when every part buffer is in flight. */
  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.failure !== undefined) throw this.failure;
      if (!this.current) {
        this.current = this.free.pop() ?? (await this.nextBuffer());
        this.fill = 0;
      }
      const n = chunk.copy(this.current, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === this.partSize) this.dispatch();
    }
  }

  /** Uploads what is left and completes the upload (or stores a dump smaller than a part with one PutObject). */
  async finish(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.nextPart === 1) {
      const body = this.current ? this.current.subarray(0, this.fill) : Buffer.alloc(0);
      await this.send(new PutObjectCommand({ ...this.params, Body: body }));
      return;
    }
    if (this.fill > 0) this.dispatch();
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
    const uploadId = await this.create();
    this.parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.params.Bucket,
        Key: this.params.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: this.parts },
      }),
    );
  }

  /** Stops: cancels requests in flight and waits until none is left (so an abort is not overtaken by a part). */
  async stop(): Promise<void> {
    this.failure ??= new Error('upload stopped');
    this.requests.abort();
    await this.settle();
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private async nextBuffer(): Promise<Buffer> {
    // queueSize parts in flight and one filling: the memory bound the README states.
    if (this.allocated <= this.queueSize) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(this.partSize);
    }
    while (this.free.length === 0) {
      await Promise.race(this.inFlight);
      if (this.failure !== undefined) throw this.failure;
    }
    return this.free.pop()!;
  }

  private send<T>(command: { input: unknown } & object): Promise<T> {
    return this.client.send(command as never, { abortSignal: this.requests.signal }) as Promise<T>;
  }

  private create(): Promise<string> {
    this.created ??= this.send<{ UploadId?: string }>(
      new CreateMultipartUploadCommand({
        ...this.params,
        ...(this.checksum ? { ChecksumAlgorithm: this.checksum } : {}),
      }),
    ).then((out) => {
      if (!out.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      this.uploadId = out.UploadId;
      return out.UploadId;
    });
    return this.created;
  }

  private dispatch(): void {
    const buffer = this.current!;
    const length = this.fill;
    const partNumber = this.nextPart++;
    this.current = undefined;
    this.fill = 0;
    const task = (async () => {
      if (partNumber > MAX_PARTS) {
        throw new PartsLimitError(
          `the dump is larger than ${MAX_PARTS} parts of ${this.partSize / 1024 / 1024} MiB`,
        );
      }
      const uploadId = await this.create();
      const out = await this.send<CompletedPart & { ETag?: string }>(
        new UploadPartCommand({
          Bucket: this.params.Bucket,
          Key: this.params.Key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: buffer.subarray(0, length),
          ...(this.checksum ? { ChecksumAlgorithm: this.checksum } : {}),
        }),
      );
      if (!out.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
      this.parts.push({
        PartNumber: partNumber,
        ETag: out.ETag,
        ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
        ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
        ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
        ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
        ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
      });
    })()
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        // The request is over (sent, failed or cancelled): the SDK no longer reads this buffer.
        this.free.push(buffer);
        this.inFlight.delete(task);
      });
    this.inFlight.add(task);
  }
}
