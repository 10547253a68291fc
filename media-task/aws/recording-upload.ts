/**
 * On AWS a recording goes to the stack's bucket once its call is over, then off the task's disk (the task is
 * gone soon after). A failed upload is logged and reported in the `recording` event; the call's own final event
 * went out before, so its outcome is the call's, whatever becomes of the file.
 */
import { rm } from 'node:fs/promises';
import type { S3Bucket } from '../../shared/aws/s3-bucket.ts';
import type { Logger } from '../../shared/log.ts';
import { recordingKey } from '../../shared/recording-names.ts';
import type { KeepRecording } from '../pipeline/recorder.ts';

export function uploadRecording(bucket: Pick<S3Bucket, 'put'>, logger: Logger): KeepRecording {
  return async (file, recordingId) => {
    const { bytes } = file;
    if (bytes === 0) return { state: 'failed', bytes, error: file.error ?? 'nothing was recorded' };
    const key = recordingKey(recordingId);
    try {
      await bucket.put(key, file.path, 'video/mp4');
      logger.info('recording uploaded', { key, bytes });
      return { state: 'uploaded', bytes, key, ...(file.error ? { error: file.error } : {}) };
    } catch (error) {
      logger.error('recording not uploaded', { key, bytes, error });
      return { state: 'failed', bytes, error: `the upload failed: ${(error as Error).message}` };
    } finally {
      await rm(file.path, { force: true });
    }
  };
}
