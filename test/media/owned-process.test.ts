import { describe, expect, it } from 'vitest';
import { OwnedProcess, ProcessStartError } from '../../shared/owned-process.ts';

describe('OwnedProcess tied to its owner (diesWithOwner)', () => {
  it.each(['/nonexistent/ffmpeg', 'no-such-ffmpeg-on-path'])(
    'still fails to start when %s is not there, as a spawn error',
    async (command) => {
      const started = OwnedProcess.start({ name: 'missing', command, args: ['-version'], diesWithOwner: true });
      await expect(started).rejects.toThrow(ProcessStartError);
      await expect(started).rejects.toThrow(/ENOENT/);
    },
  );

  it('runs the command itself, in the same process, with its arguments', async () => {
    const lines: string[] = [];
    const child = await OwnedProcess.start({
      name: 'echo',
      command: 'sh',
      args: ['-c', 'echo "$0 $1"; cat /proc/$$/status | grep PPid', 'a', 'b c'],
      diesWithOwner: true,
      onLine: (line) => lines.push(line),
    });
    expect(await child.exited).toMatchObject({ code: 0 });
    expect(lines[0]).toBe('a b c');
    expect(lines[1]).toBe(`PPid:\t${process.pid}`);
  });
});
