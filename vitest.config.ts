import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs a running LocalStack: `npm run test:localstack` (vitest.localstack.config.ts).
    exclude: [...configDefaults.exclude, 'test/localstack/**'],
    // Integration suites start real peers (sipp, nginx-rtmp, ffmpeg); on 2 cores they must not all run at once.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
