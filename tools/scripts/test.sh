#!/usr/bin/env bash
# The test command (README: `npm test`): sets the machine up if needed, then
# typechecks and lints the workspace, then runs the whole vitest
# suite (unit tests and integration tests with the real parts), and ends
# with one summary line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
# The generated gRPC code first (Nx's generate target), then the whole
# workspace as one TypeScript program and one ESLint run: Nx's per-project
# typecheck and lint targets (kept for `nx affected` while developing) start
# 80 processes that each load much the same program, 307 s against 61 s on a
# fresh clone of this 2-core machine.
npx nx run-many -t generate --outputStyle=static
npm run --silent typecheck
npm run --silent lint
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || true
exit $status
