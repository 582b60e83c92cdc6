// Bridge network set-up + teardown per container through netlink, against the same
// steps done with the `ip` binary, in one process (issue 5's numbers). The logic
// lives with the package it measures: packages/netns/scripts/bench-attach.mjs.
// Runs: BENCH_RUNS (default 50).
process.argv[2] = process.env.BENCH_RUNS ?? '50';
await import('../packages/netns/scripts/bench-attach.mjs');
