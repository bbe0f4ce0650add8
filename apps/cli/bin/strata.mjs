#!/usr/bin/env node
// The `strata` command for `node apps/cli/bin/strata.mjs …`: ./strata.cjs,
// which ./strata starts directly.
import './strata.cjs';
