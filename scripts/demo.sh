#!/usr/bin/env bash
# The main job: install, build, and run real sandboxes that show what they isolate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm demo
