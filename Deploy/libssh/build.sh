#!/usr/bin/env bash
# Builds the project's static, patched libssh from Debian's source package.
#
#   Deploy/libssh/build.sh            build, or do nothing when already built from the same inputs
#   Deploy/libssh/build.sh --refresh  ask apt again for Debian's newest revision, rebuild if it changed
#   Deploy/libssh/build.sh --test     also build and run the patch series' regression tests
#
# Output, all under $LIBSSH_BUILD_DIR (default: .build-libssh/ at the top of the repository):
#   prefix/        the installed library and headers that Package.swift links
#   prefix/include/portcullis_libssh_build.h   what was built, for `portcullisd --version`
#   cache/         Debian's source files as downloaded; reused, never downloaded twice
#
# The Debian source comes from deb-src entries derived at run time from this machine's own apt
# sources, in a private sources list and lists directory: the system's apt setup is not touched.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${LIBSSH_BUILD_DIR:-$root/.build-libssh}
refresh=false
run_tests=false
for arg in "$@"; do
    case $arg in
        --refresh) refresh=true ;;
        --test) run_tests=true ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "libssh: $*" >&2; }
die() { echo "libssh: error: $*" >&2; exit 1; }

# shellcheck source=source.conf
. "$here/source.conf"
patch_dir=$here/patches
cache=$out/cache
prefix=$out/prefix
src=$out/src
build=$out/build

# --- What the build depends on: if none of it changed, there is nothing to do. ----------------
patches_hash() {
    (cd "$patch_dir" && cat series $(grep -v '^\s*\(#\|$\)' series)) | sha256sum | cut -c1-12
}
cmake_flags=(
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=OFF
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON
    -DCMAKE_INSTALL_LIBDIR=lib
    -DWITH_GSSAPI=OFF
    -DWITH_EXAMPLES=OFF
    -DWITH_SFTP=OFF
    -DWITH_ZLIB=OFF
    -DWITH_PCAP=OFF
    -DWITH_DEBUG_CALLTRACE=OFF
)
inputs_digest() {
    { echo "$1"; echo "$ORIG_SHA256"; patches_hash; echo "${cmake_flags[*]}"; cat "$0"; } \
        | sha256sum | cut -c1-16
}

# The Debian revision already fetched into the cache, if any.
cached_revision() {
    local dsc
    dsc=$(ls -1 "$cache"/"${SOURCE_PACKAGE}_${UPSTREAM_VERSION}"-*.dsc 2>/dev/null \
        | sed "s/.*_${UPSTREAM_VERSION//./\\.}-\(.*\)\.dsc/\1/" \
        | sort -V | tail -n 1) || true
    echo "$dsc"
}

is_built() { [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$(inputs_digest "$1")" ]; }

revision=$(cached_revision)
if ! $refresh && [ -n "$revision" ] && is_built "$revision" && ! $run_tests; then
    say "up to date: ${UPSTREAM_VERSION}-${revision}, patches $(patches_hash)"
    exit 0
fi

"$root/scripts/ensure-packages" cmake gcc make libssl-dev dpkg-dev xz-utils patch

# --- Fetch Debian's source through deb-src entries derived from the machine's apt sources. ----
apt_dir=$out/apt
apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=true"
)

derive_deb_src() {
    rm -rf "$apt_dir"
    mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    # One-line format: every active "deb" line becomes "deb-src".
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^[[:space:]]*deb\([[:space:]]\)/deb-src\1/p' > "$apt_dir/sources.list" || true
    # deb822 format: every enabled stanza whose Types include deb gets Types: deb-src.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; ORS = "\n\n"; IGNORECASE = 1 }
             /(^|\n)Enabled:[ \t]*no/ { next }
             /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ {
                 sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
            "$f" > "$apt_dir/sources.list.d/$(basename "$f")"
    done
    grep -qs . "$apt_dir/sources.list" "$apt_dir"/sources.list.d/*.sources \
        || die "no Debian package sources found in /etc/apt to derive deb-src entries from"
    say "reading Debian's source index (private lists in $apt_dir)"
    # A third-party repository without sources must not stop us: what matters is whether
    # the package's source is listed afterwards.
    apt-get "${apt_opts[@]}" -qq update >"$apt_dir/update.log" 2>&1 \
        || say "apt-get update reported errors (see $apt_dir/update.log); continuing"
}

# Debian revisions of the pinned upstream version, newest first.
listed_revisions() {
    apt-cache "${apt_opts[@]}" showsrc "$SOURCE_PACKAGE" 2>/dev/null \
        | sed -n "s/^Version: ${UPSTREAM_VERSION//./\\.}-\(.*\)$/\1/p" \
        | sort -u | sort -rV
}

fetch_source() {
    local revision
    derive_deb_src
    local revisions
    revisions=$(listed_revisions)
    [ -n "$revisions" ] || die "apt lists no source of $SOURCE_PACKAGE $UPSTREAM_VERSION"
    mkdir -p "$cache"
    for revision in $revisions; do
        if [ -f "$cache/${SOURCE_PACKAGE}_${UPSTREAM_VERSION}-${revision}.dsc" ]; then
            say "using cached source ${UPSTREAM_VERSION}-${revision}"
            echo "$revision"; return 0
        fi
        say "downloading source ${UPSTREAM_VERSION}-${revision}"
        if (cd "$cache" && apt-get "${apt_opts[@]}" -qq source --download-only \
                "$SOURCE_PACKAGE=${UPSTREAM_VERSION}-${revision}" >"$apt_dir/source.log" 2>&1); then
            echo "$revision"; return 0
        fi
        say "revision ${UPSTREAM_VERSION}-${revision} is listed but does not download; trying an older one"
        rm -f "$cache/${SOURCE_PACKAGE}_${UPSTREAM_VERSION}-${revision}".*
    done
    die "no listed revision of $SOURCE_PACKAGE $UPSTREAM_VERSION could be downloaded"
}

# --- Verify, unpack, patch, build, install. -----------------------------------------------------
build_library() {
    actual=$(sha256sum "$cache/$ORIG_TARBALL" | cut -d' ' -f1)
    if [ "$actual" != "$ORIG_SHA256" ]; then
        die "checksum mismatch for $ORIG_TARBALL: it has sha256 $actual, but Deploy/libssh/source.conf pins $ORIG_SHA256; refusing to build"
    fi

    rm -rf "$src" "$build" "$prefix"
    dpkg-source --no-check -x "$cache/${SOURCE_PACKAGE}_${UPSTREAM_VERSION}-${revision}.dsc" "$src" \
        >"$out/unpack.log" 2>&1 || die "dpkg-source could not unpack the source (see $out/unpack.log)"
    while read -r name; do
        case $name in ''|'#'*) continue ;; esac
        patch -d "$src" -p1 --forward --batch --quiet < "$patch_dir/$name" \
            || die "patch $name does not apply to ${UPSTREAM_VERSION}-${revision}"
    done < "$patch_dir/series"
    say "applied Debian's patches and $(grep -cv '^\s*\(#\|$\)' "$patch_dir/series") of the project's"

    say "building ${UPSTREAM_VERSION}-${revision} (static, position-independent)"
    cmake -S "$src" -B "$build" "${cmake_flags[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
        >"$out/configure.log" 2>&1 || die "cmake configure failed (see $out/configure.log)"
    cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1 \
        || die "build failed (see $out/build.log)"
    cmake --install "$build" >"$out/install.log" 2>&1 || die "install failed (see $out/install.log)"

    cat > "$prefix/include/portcullis_libssh_build.h" <<EOF
/* Written by Deploy/libssh/build.sh: what this libssh was built from. */
#define PORTCULLIS_LIBSSH_UPSTREAM_VERSION "${UPSTREAM_VERSION}"
#define PORTCULLIS_LIBSSH_DEBIAN_REVISION "${revision}"
#define PORTCULLIS_LIBSSH_PATCHES_HASH "$(patches_hash)"
#define PORTCULLIS_LIBSSH_BUILD "libssh ${UPSTREAM_VERSION}-${revision} + portcullis patches $(patches_hash)"
EOF
    inputs_digest "$revision" > "$prefix/.stamp"
    say "installed into $prefix"
}

if $refresh || [ -z "$revision" ]; then
    revision=$(fetch_source)
fi
if is_built "$revision"; then
    say "up to date: ${UPSTREAM_VERSION}-${revision}, patches $(patches_hash)"
else
    build_library
fi

# --- The patch series' own regression tests, in libssh's cmocka suite. -------------------------
if $run_tests; then
    "$root/scripts/ensure-packages" libcmocka-dev
    tests_build=$out/build-tests
    cmake -S "$src" -B "$tests_build" -DUNIT_TESTING=ON -DCMAKE_BUILD_TYPE=Debug \
        -DWITH_GSSAPI=OFF -DWITH_EXAMPLES=OFF -DWITH_ZLIB=OFF -DWITH_PCAP=OFF \
        >"$out/tests-configure.log" 2>&1 || die "test configure failed (see $out/tests-configure.log)"
    mapfile -t tests < <(grep -v '^\s*\(#\|$\)' "$patch_dir/tests.txt")
    cmake --build "$tests_build" -j "$(nproc)" --target "${tests[@]}" >"$out/tests-build.log" 2>&1 \
        || die "test build failed (see $out/tests-build.log)"
    regex="^($(IFS='|'; echo "${tests[*]}"))\$"
    (cd "$tests_build" && ctest --output-on-failure -R "$regex")
fi
