#!/bin/sh
# Writes wfl-build.json beside a built wfl (default .build/debug): the commit, its date, when
# and by whom it was built, for /version (WFL's fields). Run after `swift build`; without the
# file, /version reports the version alone.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-.build/debug}
mkdir -p "$dir"
# Only characters that need no JSON escaping survive (a user name with a quote is not worth a parser).
clean() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._:+@ -' | cut -c1-200; }
commit=$(clean "$(git rev-parse HEAD 2>/dev/null || true)")
committed=$(clean "$(git log -1 --format=%cI 2>/dev/null || true)")
if [ -n "$commit" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
user=$(clean "${USER:-$(id -un 2>/dev/null || echo unknown)}")
printf '{"commit": "%s", "committed": "%s", "built": "%s", "user": "%s"}\n' "$commit" "$committed" "$built" "$user" \
    > "$dir/wfl-build.json.tmp"
mv "$dir/wfl-build.json.tmp" "$dir/wfl-build.json"
echo "wrote $dir/wfl-build.json (commit ${commit:-unknown})"
