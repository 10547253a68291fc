/**
 * The local server's recordings: the folder its media tasks write to (DATA_DIR/recordings, RECORDING_DIR of
 * each task), one `<recordingId>.mp4` per recorded call, the name made by the server (shared/recording-names.ts).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CallRecord, RecordingLocation, RecordingStore } from '../core/ports.ts';
import { recordingFileName } from '../../shared/recording-names.ts';

export class LocalRecordings implements RecordingStore {
  constructor(readonly dir: string) {}

  /** The file as far as it is written: a live call's recording can be fetched too, up to its last fragment. */
  async locate(record: CallRecord): Promise<RecordingLocation | undefined> {
    const id = record.spec.recordingId;
    if (!id) return undefined;
    const path = join(this.dir, recordingFileName(id));
    const file = await stat(path).catch(() => undefined);
    if (!file?.isFile() || file.size === 0) return undefined;
    return {
      kind: 'file',
      bytes: file.size,
      // No further than the size content-length gives, should the file grow meanwhile.
      open: () => Readable.toWeb(createReadStream(path, { end: file.size - 1 })) as ReadableStream<Uint8Array>,
    };
  }
}
