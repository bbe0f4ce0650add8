#!/usr/bin/env bash
# Creates the boilerplate of a workspace project: project.json (name, tags,
# targets), tsconfig.json and vitest.config.ts. Usage: new-project.sh DIR TAG
set -euo pipefail
dir=$1 tag=$2
name=$(basename "$dir")
mkdir -p "$dir/src"
[ -f "$dir/project.json" ] || cat > "$dir/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "../../node_modules/nx/schemas/project-schema.json",
  "sourceRoot": "$dir/src",
  "projectType": "$( [ "$tag" = type:app ] && echo application || echo library )",
  "tags": ["$tag"],
  "targets": {
    "typecheck": {},
    "lint": {},
    "test": {}
  }
}
JSON
[ -f "$dir/tsconfig.json" ] || cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "include": ["src/**/*.ts", "bin/**/*.ts"]
}
JSON
[ -f "$dir/vitest.config.ts" ] || cat > "$dir/vitest.config.ts" <<TS
import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: '$name',
    include: ['src/**/*.spec.ts'],
  },
});
TS
