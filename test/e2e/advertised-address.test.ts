/**
 * PUBLIC_ADDRESS other than BIND_ADDRESS, on the wire: the media task, as a process, must advertise the public
 * address everywhere a peer reads it, while its sockets stay on the bind address.
 */
import { describe, expect, it } from 'vitest';
import { TASK_ENV } from '../../shared/task-env.ts';
import { useCleanup } from '../support/cleanup.ts';
import { MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { SippPeer } from '../support/sipp.ts';

const { owned } = useCleanup();

describe('an advertised address other than the bind address', () => {
  it('INVITE names 127.0.0.2 in Contact, Via (with rport) and c=, and the 486 still reaches the task on 127.0.0.1', async () => {
    // sipp exits 1 unless Contact, Via and c= all say 127.0.0.2 (ereg check_it); its 486 goes to where the INVITE came from.
    const peer = owned(await SippPeer.start({ scenario: 'busy-486-advertised.xml' }));
    const run = owned(
      await MediaTaskProcess.start(testCallSpec({ connection: { sipPort: peer.port } }), {
        [TASK_ENV.bindAddress]: '127.0.0.1',
        [TASK_ENV.publicAddress]: '127.0.0.2',
      }),
    );
    expect(await run.final()).toMatchObject({ type: 'failed', reason: 'sip', sipCode: 486 });
    expect((await peer.finished()).code, await peer.errors()).toBe(0);
    const [invite] = await peer.received('INVITE ');
    expect(invite).toMatch(/^Contact: *<sip:10000@127\.0\.0\.2:\d+>/m);
    expect(invite).toMatch(/^Via: *SIP\/2\.0\/UDP 127\.0\.0\.2:\d+;branch=z9hG4bK[^;\s]+;rport\r?$/m);
    expect(invite).toMatch(/^o=\S+ \d+ \d+ IN IP4 127\.0\.0\.2\r?$/m);
    expect(invite).toMatch(/^c=IN IP4 127\.0\.0\.2\r?$/m);
    expect(invite).not.toMatch(/^(Contact|Via):.*127\.0\.0\.1/m);
  });
});
