#!/usr/bin/env bash
# Every test: install, build, type-check and lint, then the vitest suite on this
# machine's kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm lint
pnpm test
