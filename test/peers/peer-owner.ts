/**
 * The owner that owner-death.test.ts SIGKILLs: it starts one of each long-running peer the tests use, prints
 * `ready`, and waits. Nothing here closes them; whatever outlives this process was not tied to it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startToneSource } from '../media/rtp-source.ts';
import { startBaresip } from '../support/baresip.ts';
import { startDynamoDbLocal } from '../support/dynamodb.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { startKamailio } from '../support/kamailio.ts';
import { LocalServer } from '../support/local-server.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

await Promise.all([
  SippPeer.start({ scenario: 'ring-no-answer.xml', timeoutSeconds: 120 }),
  NginxRtmp.start(),
  startBaresip(),
  startKamailio({ users: [{ username: 'alice', password: 's3cret' }] }),
  startDynamoDbLocal(),
  LocalServer.start(await mkdtemp(join(tmpdir(), 'local-server-'))),
  startToneSource({ audioPort: await freeRtpPort(), seconds: 120 }),
]);
console.log('ready');
setInterval(() => {}, 60_000);
