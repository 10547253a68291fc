import { createLogger, silentLogger, type Logger } from '../../shared/log.ts';
import { startSipCall, type SipCall, type SipCallEvents, type SipCallOptions } from '../../media-task/sip/sip-call.ts';
import type { SippPeer } from '../support/sipp.ts';

/** Logs SIP traffic when SIP_DEBUG=1; silent otherwise. */
export const testLogger: Logger = process.env.SIP_DEBUG
  ? createLogger({ test: 'sip' }, { level: 'debug' })
  : silentLogger;

/** A call over UDP to `peer` (a sipp UAS, or anything listening on 127.0.0.1:`port`), as the task would place it. */
export function callTo(peer: Pick<SippPeer, 'port'>, overrides: Partial<SipCallOptions> = {}): SipCall {
  return startSipCall({
    transport: 'udp',
    target: { user: 'service', host: '127.0.0.1', port: peer.port },
    from: { user: 'gateway', domain: '127.0.0.1' },
    register: false,
    bindAddress: '127.0.0.1',
    publicAddress: '127.0.0.1',
    local: { address: '127.0.0.1', audio: { port: 40000, direction: 'sendrecv' } },
    inviteTimeoutMs: 15_000,
    logger: testLogger,
    ...overrides,
  });
}

/** The next `event` of `call`, or a rejection naming what arrived instead (failed/ended) or the timeout. */
export function next<K extends keyof SipCallEvents>(
  call: SipCall,
  event: K,
  timeoutMs = 20_000,
): Promise<SipCallEvents[K]> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = () => {
      clearTimeout(timer);
      offs.forEach((off) => off());
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    offs.push(
      call.on(event, (...args) => {
        done();
        resolve(args);
      }),
    );
    for (const other of ['failed', 'ended'] as const) {
      if (other === event) continue;
      offs.push(
        call.on(other, (body) => {
          done();
          reject(new Error(`${other} instead of ${String(event)}: ${JSON.stringify(body)}`));
        }),
      );
    }
  });
}
