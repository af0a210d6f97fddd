#!/usr/bin/env bash
# Checks Deploy/libssh/build.sh as a user meets it: a second build with nothing changed does
# nothing and downloads nothing; a tampered checksum pin stops the build with a message saying so.
# Needs a completed build (make libssh) first.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${LIBSSH_BUILD_DIR:-$root/.build-libssh}
passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

# 1. Nothing changed: nothing is rebuilt or downloaded.
stamp_before=$(stat -c %Y "$out/prefix/.stamp")
cache_before=$(ls -l --time-style=+%s.%N "$out/cache")
start=$(date +%s%N)
output=$("$root/Deploy/libssh/build.sh" 2>&1)
status=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $status -eq 0 ] && grep -q "up to date" <<<"$output"; then
    pass "second build is a no-op (${elapsed_ms} ms): $output"
else
    fail "second build did not report up to date (status $status): $output"
fi
if grep -qi "download" <<<"$output" || [ "$cache_before" != "$(ls -l --time-style=+%s.%N "$out/cache")" ]; then
    fail "second build touched the download cache"
else
    pass "second build downloaded nothing"
fi
[ "$stamp_before" = "$(stat -c %Y "$out/prefix/.stamp")" ] && pass "library left as it was" \
    || fail "library was rebuilt"

# 2. A tampered pin: a copy of the build files whose pinned sha256 is wrong, with the real
#    download cache, must refuse to build and say why.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/Deploy" "$work/tree/scripts" "$work/out"
cp -a "$root/Deploy/libssh" "$work/tree/Deploy/"
cp -a "$root/scripts/ensure-packages" "$work/tree/scripts/"
cp -a "$out/cache" "$work/out/"
sed -i 's/^ORIG_SHA256=.*/ORIG_SHA256=0000000000000000000000000000000000000000000000000000000000000000/' \
    "$work/tree/Deploy/libssh/source.conf"
output=$(LIBSSH_BUILD_DIR="$work/out" "$work/tree/Deploy/libssh/build.sh" 2>&1)
status=$?
if [ $status -ne 0 ] && grep -q "checksum mismatch for libssh_.*orig.tar" <<<"$output" \
    && grep -q "refusing to build" <<<"$output"; then
    pass "tampered pin refused: $(grep 'checksum mismatch' <<<"$output")"
else
    fail "tampered pin was not refused (status $status): $output"
fi
[ ! -e "$work/out/prefix" ] && pass "nothing installed after the refusal" || fail "a prefix was installed"

echo "build-script: $passed passed, $failed failed"
[ $failed -eq 0 ]
