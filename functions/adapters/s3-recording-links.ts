/**
 * The recordings on AWS: the task uploads each to the stack's bucket after its call (media-task/aws/
 * recording-upload.ts) and reports the key; the API hands out pre-signed GET links to it, short-lived because an
 * answer is often logged or forwarded, and a new GET of the call makes a new one.
 */
import type { S3Bucket } from '../../shared/aws/s3-bucket.ts';
import type { CallRecord, RecordingLocation, RecordingStore } from '../core/ports.ts';

/** How long a link to a recording works. */
export const RECORDING_LINK_SECONDS = 300;

export class S3RecordingLinks implements RecordingStore {
  constructor(
    private readonly bucket: Pick<S3Bucket, 'presignGet'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async locate(record: CallRecord): Promise<RecordingLocation | undefined> {
    const { recording } = record;
    if (recording?.state !== 'uploaded' || !recording.key) return undefined;
    return { kind: 'link', ...(await this.bucket.presignGet(recording.key, RECORDING_LINK_SECONDS, this.now())) };
  }
}
