import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files that start no process and time nothing against a real peer: tables, request shapes, in-process servers.
 * They run first, in parallel. Every other file (a new one too, until it is listed here) runs after them, one
 * at a time: those start real peers (sipp, nginx-rtmp, ffmpeg) and time what they see, and on 2 cores two such
 * files at once (20 parallel calls beside a CDN fan-out) starve each other.
 */
const UNIT = [
  'test/core/**/*.test.ts',
  'test/console/console-format.test.ts',
  'test/lint/**/*.test.ts',
  'test/webhooks/**/*.test.ts',
  'test/aws/{call-sweeper,ecs-task-launcher,eventbridge-publisher,public-address,s3-bucket,task-reconciler}.test.ts',
  'test/functions/{create-app,dns-host-resolver,gateway-metrics,guarded-post,local-task-inspector,local-task-lines,recorder,recordings,retention-config,sweep-config,sweep-timer}.test.ts',
  'test/hardening/{hostile-peer,hostile-stream,sdp-garbage,sip-parser-fuzz}.test.ts',
  'test/media/{audio-level,cdn-spec-and-backoff,ffmpeg-args,rtp-core,task-metrics}.test.ts',
  'test/sip/{dialog,digest,sdp,session-timer,sip-call-tls,sip-stack}.test.ts',
];

const shared = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'unit', include: UNIT, sequence: { groupOrder: 0 } } },
      {
        test: {
          ...shared,
          name: 'peers',
          include: ['test/**/*.test.ts'],
          // Needs a running LocalStack: `npm run test:localstack` (vitest.localstack.config.ts).
          exclude: [...configDefaults.exclude, 'test/localstack/**', ...UNIT],
          globalSetup: ['test/support/media-task-bundle.ts'],
          // One fork runs these files one after the other (a project cannot set fileParallelism).
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
