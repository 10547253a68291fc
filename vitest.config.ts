import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/media-task-bundle.ts'],
    // Needs a running LocalStack: `npm run test:localstack` (vitest.localstack.config.ts).
    exclude: [...configDefaults.exclude, 'test/localstack/**'],
    // Integration suites start real peers (sipp, nginx-rtmp, ffmpeg) and time what they see; on 2 cores two such
    // files at once (20 parallel calls beside a CDN fan-out) starve each other, so files run one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
