#!/usr/bin/env bash
# The test command (README: `npm test`): sets the machine up if needed, then
# typechecks and lints every project through Nx, then runs the whole vitest
# suite (unit tests and integration tests with the real parts).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t typecheck lint --outputStyle=static
npx vitest run "$@"
