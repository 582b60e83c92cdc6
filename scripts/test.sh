#!/usr/bin/env bash
# Every test: install, build, lint, then the vitest suite on this machine's kernel
# (cgroup v1 here), then the cgroup suites and tsbox containers with limits again
# inside a throwaway VM whose kernel has cgroup v2 only (scripts/cgroup2-vm.sh).
# Ends with one summary line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
pnpm lint || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

pnpm vitest run 2>&1 | tee "$logs/host.log"
host=${PIPESTATUS[0]}

bash scripts/cgroup2-vm.sh \
  'node_modules/.bin/vitest run packages/cgroups packages/core/test/limits.test.ts packages/core/test/isolation.test.ts' \
  2>&1 | tee "$logs/vm.log"
vm=${PIPESTATUS[0]}

# vitest's own summary is "Tests  3 failed | 91 passed (94)"; add up both runs.
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const f of process.argv.slice(1)) {
    const text = fs.readFileSync(f, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
    const line = text.split("\n").reverse().find((l) => /^\s*Tests\s+\d/.test(l));
    if (!line) { console.log(`no vitest summary in ${f}`); failed += 1; continue; }
    passed += Number(/(\d+) passed/.exec(line)?.[1] ?? 0);
    failed += Number(/(\d+) failed/.exec(line)?.[1] ?? 0);
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
' "$logs/host.log" "$logs/vm.log"

[ "$host" = 0 ] && [ "$vm" = 0 ]
