#!/usr/bin/env bash
# The test command (README: `npm test`): sets the machine up if needed, then
# typechecks and lints every project through Nx, then runs the whole vitest
# suite (unit tests and integration tests with the real parts), and ends
# with one summary line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t typecheck lint --outputStyle=static
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
