#!/bin/sh
# Builds the engine at a revision without the issue-27 publish calls (default d6a6a8d, the parent of
# the channels commit) into .tmp/channels-base/dist, for bench/channels.ts's "base" variant.
set -e
rev=${BENCH_CHANNELS_REV:-d6a6a8d}
dir=.tmp/channels-base
rm -rf "$dir"
mkdir -p "$dir"
git archive "$rev" src | tar -x -C "$dir"
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.json",
  "compilerOptions": { "noEmit": false, "outDir": "dist", "rootDir": "src", "declaration": false, "sourceMap": false },
  "include": ["src"],
  "exclude": ["src/demo.ts"]
}
JSON
npx tsc -p "$dir/tsconfig.json"
