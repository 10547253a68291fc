/**
 * A call's two RTP endpoints (audio, video), bound side by side: each is a relay process spawn, and the INVITE
 * waits for their ports. A standby task binds them before it has a call, so that its INVITE waits for nothing.
 */
import type { PortRange } from '../../shared/task-env.ts';
import type { Logger } from '../../shared/log.ts';
import { RtpEndpoint } from './rtp-endpoint.ts';

export interface CallEndpointOptions {
  bindAddress: string;
  relayPath: string;
  mediaPorts?: PortRange;
  logger: Logger;
}

/** Both outcomes, settled: one that bound is kept even when the other failed, so that its owner closes it. */
export interface CallEndpoints {
  audio: PromiseSettledResult<RtpEndpoint>;
  video: PromiseSettledResult<RtpEndpoint>;
}

export async function bindCallEndpoints(options: CallEndpointOptions): Promise<CallEndpoints> {
  const { bindAddress, relayPath, mediaPorts, logger } = options;
  const bind = (kind: 'audio' | 'video') =>
    RtpEndpoint.bind({
      kind,
      bindAddress,
      relay: relayPath,
      ...(mediaPorts ? { portRange: mediaPorts } : {}),
      logger: logger.child({ media: kind }),
    });
  const [audio, video] = await Promise.allSettled([bind('audio'), bind('video')]);
  return { audio, video };
}

/** Closes what bound (a standby task dismissed before its call). */
export function closeCallEndpoints(endpoints: CallEndpoints): void {
  for (const bound of [endpoints.audio, endpoints.video]) if (bound.status === 'fulfilled') bound.value.close();
}
