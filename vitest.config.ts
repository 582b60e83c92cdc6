import { defineConfig } from 'vitest/config';

// Tests drive the real kernel (namespaces, cgroups, mounts), so files run one at a
// time: CPU-quota and timing assertions must not compete with each other for the
// machine's two cores.
export default defineConfig({
  resolve: { conditions: ['tsbox-source'] },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['./vitest.global-teardown.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
