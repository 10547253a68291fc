/**
 * Where a call's recording lives, built from its server-made id only (CallSpec.recordingId, a UUID), never from
 * anything a caller wrote: `<id>.mp4` in the local recordings folder and in the task's scratch folder, and
 * `recordings/<id>.mp4` in the stack's bucket, whose IAM grants and lifecycle rule cover that prefix alone.
 */

/** The bucket's folder of recordings: what the task may write, the API may sign, and the lifecycle rule expires. */
export const RECORDINGS_PREFIX = 'recordings/';

const RECORDING_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A key `recordingKey` made: what a task's report may name. */
export const RECORDING_KEY = /^recordings\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.mp4$/;

export class RecordingNameError extends Error {
  override name = 'RecordingNameError';
}

/** `<id>.mp4`; throws for anything but a lower-case UUID, so no path is ever built from other text. */
export function recordingFileName(recordingId: string): string {
  if (!RECORDING_ID.test(recordingId)) throw new RecordingNameError('a recording id is a lower-case UUID');
  return `${recordingId}.mp4`;
}

/** The S3 key of the recording `recordingId`. */
export function recordingKey(recordingId: string): string {
  return RECORDINGS_PREFIX + recordingFileName(recordingId);
}
