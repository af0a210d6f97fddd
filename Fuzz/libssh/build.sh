#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the patched libssh's server-side parsers (Fuzz/README.md).
#
#   Fuzz/libssh/build.sh      build libssh with ASan + UBSan + libFuzzer coverage, then the harnesses
#
# The library is built from the very source Deploy/libssh/build.sh unpacked and patched
# (.build-libssh/src, whatever the patch series is at the time), with clang, into
# $FUZZ_BUILD_DIR/libssh (default .build-fuzz/libssh); the normal build is not touched. It is
# rebuilt only when the normal build's inputs changed (its stamp) or this script did.
# Harness binaries: $FUZZ_BUILD_DIR/bin/libssh_global_request, $FUZZ_BUILD_DIR/bin/libssh_channel_open.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/.build-fuzz}
# The Swift toolchain's clang (it has libFuzzer, and the Swift harnesses use its runtime), else PATH's.
swift=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
clang=${FUZZ_CC:-$(dirname "$(readlink -f "$swift")")/clang}
[ -x "$clang" ] || clang=$(command -v clang || echo /opt/swift/usr/bin/clang)
say() { echo "fuzz: $*" >&2; }
die() { echo "fuzz: error: $*" >&2; exit 1; }

[ -x "$clang" ] || die "no clang (set FUZZ_CC, or put the Swift toolchain's usr/bin on PATH)"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' \
    | "$clang" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null \
    || die "$clang cannot link -fsanitize=fuzzer (libFuzzer missing from its compiler-rt)"

# The patched source, exactly as the daemon's libssh is built from it (FUZZ_LIBSSH_SRC: another
# unpacked and patched tree, e.g. to try a patch in the making).
if [ -n "${FUZZ_LIBSSH_SRC:-}" ]; then
    src=$FUZZ_LIBSSH_SRC
    [ -f "$src/src/messages.c" ] || die "no libssh source in $src"
    source_id=$(cat "$src"/src/*.c "$src"/include/libssh/*.h | sha256sum)
else
    "$root/Deploy/libssh/build.sh"
    src=$root/.build-libssh/src
    [ -f "$src/src/messages.c" ] && [ -f "$root/.build-libssh/prefix/.stamp" ] \
        || die "no patched libssh source in $src"
    source_id=$(cat "$root/.build-libssh/prefix/.stamp")
fi

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-g -O1 -fno-omit-frame-pointer $sanitize"
lib=$out/libssh
cmake_flags=(
    -DCMAKE_C_COMPILER="$clang"
    -DCMAKE_BUILD_TYPE=Debug
    -DCMAKE_C_FLAGS_DEBUG="$cflags -fsanitize=fuzzer-no-link"
    -DBUILD_SHARED_LIBS=OFF
    -DWITH_GSSAPI=OFF -DWITH_EXAMPLES=OFF -DWITH_SFTP=OFF -DWITH_ZLIB=OFF -DWITH_PCAP=OFF
    -DWITH_DEBUG_CALLTRACE=OFF -DUNIT_TESTING=OFF
)
digest=$({ echo "$src $source_id"; "$clang" --version; echo "${cmake_flags[*]}"; } | sha256sum | cut -c1-16)
if [ -f "$lib/.stamp" ] && [ "$(cat "$lib/.stamp")" = "$digest" ] && [ -f "$lib/build/src/libssh.a" ]; then
    say "libssh (sanitized) up to date"
else
    say "building libssh with $(basename "$clang") $sanitize, fuzzer coverage (a minute or two)"
    rm -rf "$lib"
    mkdir -p "$lib"
    cmake -S "$src" -B "$lib/build" "${cmake_flags[@]}" \
        >"$lib/configure.log" 2>&1 || die "cmake configure failed (see $lib/configure.log)"
    cmake --build "$lib/build" -j "$(nproc)" --target ssh >"$lib/build.log" 2>&1 \
        || die "build failed (see $lib/build.log)"
    echo "$digest" > "$lib/.stamp"
fi

# The harnesses: each is one parser's entry point plus the shared session set-up and checks.
mkdir -p "$out/bin"
linker=()
"$clang" -fuse-ld=lld -x c -o /dev/null - <<<"int main(void){return 0;}" 2>/dev/null && linker=(-fuse-ld=lld)
includes=(-I "$src/include" -I "$lib/build" -I "$lib/build/include")
# Patch 0017 (strict decoding) marks malformed requests instead of dropping them: use its API when there.
features=()
grep -q 'ssh_message_malformed_reason' "$src/include/libssh/server.h" \
    && features+=(-DHAVE_SSH_MESSAGE_MALFORMED_REASON)
for harness in global_request channel_open; do
    "$clang" $cflags -fsanitize=fuzzer -std=gnu11 -Wall -Wextra -Werror \
        "${includes[@]}" "${features[@]}" -DLIBSSH_STATIC \
        "$here/${harness}_fuzzer.c" "$here/harness.c" \
        "$lib/build/src/libssh.a" -lcrypto -lpthread "${linker[@]}" \
        -o "$out/bin/libssh_$harness"
done
say "built $out/bin/libssh_global_request, $out/bin/libssh_channel_open"
