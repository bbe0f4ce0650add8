#!/usr/bin/env bash
# The test command (README): typecheck and lint every project through Nx,
# then the whole vitest suite (unit and integration tests with real parts).
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t typecheck lint --outputStyle=static
npx vitest run "$@"
