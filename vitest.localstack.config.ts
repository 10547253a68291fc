import { defineConfig } from 'vitest/config';

/** `npm run test:localstack`: the adapters against LocalStack's AWS APIs (docs/aws.md). Not part of `npm test`. */
export default defineConfig({
  test: {
    include: ['test/localstack/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
