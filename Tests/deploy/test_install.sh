#!/usr/bin/env bash
# `make install` and `make uninstall` into throwaway roots (issue 13, items 3 and 4), and what they
# install: the man pages and completions.
#
#   1. make install DESTDIR=... with PREFIX=/usr and with PREFIX=/usr/local: exactly the expected
#      files, each with its mode; the unit names this install's binaries; the installed
#      portcullisd --version runs; a second install keeps a config the administrator changed, and
#      the fail2ban jail they enabled, and replaces a logrotate file an earlier install wrote;
#      make uninstall leaves only the config (and keys.d) and the edited jail; every directory
#      variable is honoured; a path with & % | in it reaches the unit and the config as written;
#      a relative or blank directory, or one with quotes, \ or $, is refused by name before
#      anything is written; scripts/install knows every earlier version of the files it keeps.
#   2. Every man page lints clean: groff -ww, man --warnings, mandoc -Tlint (each installed if
#      missing); no output at all.
#   3. portcullis.yaml(5) documents every setting the daemon accepts, in the right section: the
#      names are found by asking the daemon's loader (policyctl validate --json on a probe config
#      holding every lower-case string literal of Sources/ as a field at each level: what it does
#      not call unknown is a setting), not from a copied list; its examples pass policyctl
#      validate; the generated pages carry the tools' version.
#   4. The completions parse (bash -n, zsh -n, fish -n) and bash offers policyctl's subcommands
#      (as `policyctl --help` lists them) after `policyctl `.
# Needs a release build (make test-install builds it). Exit status: 0 all passed, 1 a check failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
work="$(mktemp -d /tmp/portcullis-install-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

scripts/ensure-packages groff-base man-db mandoc zsh fish >/dev/null || { echo "cannot install the lint tools" >&2; exit 1; }

# The starter config and the unit are other files of issue 13 (Deploy/portcullis.yaml,
# Deploy/systemd/portcullisd.service); until they exist, stand-ins exercise the same paths.
starter="$root/Deploy/portcullis.yaml"
if [ ! -f "$starter" ]; then
    starter="$work/starter.yaml"
    printf 'host_keys: [/etc/portcullis/ssh_host_ed25519_key]\nsocket_root: /srv/portcullis\nkeys_dir: /etc/portcullis/keys.d\n' >"$starter"
    echo "note: no Deploy/portcullis.yaml yet: a stand-in starter config is installed"
fi
unit="$root/Deploy/systemd/portcullisd.service"
if [ ! -f "$unit" ]; then
    unit="$work/portcullisd.service"
    printf '[Service]\nExecStart=/usr/sbin/portcullisd --config /etc/portcullis/portcullis.yaml\nExecReload=/usr/bin/policyctl --config /etc/portcullis/portcullis.yaml reload\n' >"$unit"
    echo "note: no Deploy/systemd/portcullisd.service yet: a stand-in unit is installed"
fi
export PORTCULLIS_STARTER_CONFIG="$starter" PORTCULLIS_UNIT="$unit"

# The files an install puts under DESTDIR, with their modes, for PREFIX $1 and SYSCONFDIR $2.
expected() {
    local p=$1 etc=$2
    {
        echo "755 ${p#/}/sbin/portcullisd"
        echo "755 ${p#/}/bin/policyctl"
        echo "644 ${p#/}/share/man/man8/portcullisd.8"
        echo "644 ${p#/}/share/man/man8/policyctl.8"
        echo "644 ${p#/}/share/man/man5/portcullis.yaml.5"
        for tool in portcullisd policyctl; do
            echo "644 ${p#/}/share/bash-completion/completions/$tool"
            echo "644 ${p#/}/share/zsh/vendor-completions/_$tool"
            echo "644 ${p#/}/share/fish/vendor_completions.d/$tool.fish"
        done
        echo "644 ${p#/}/lib/systemd/system/portcullisd.service"
        echo "644 ${etc#/}/logrotate.d/portcullis"
        echo "644 ${etc#/}/fail2ban/filter.d/portcullis.conf"
        echo "644 ${etc#/}/fail2ban/jail.d/portcullis.conf"
        echo "644 ${etc#/}/portcullis/portcullis.yaml"
    } | sort -k2
}
installed() { (cd "$1" && find . -type f -printf '%m %P\n' | sort -k2); }

for case in "/usr /etc" "/usr/local /usr/local/etc"; do
    read -r prefix etc <<<"$case"
    dest="$work/root${prefix//\//-}"
    if ! out=$(make -s install DESTDIR="$dest" PREFIX="$prefix" 2>&1); then
        fail "make install PREFIX=$prefix failed:"$'\n'"$out"; continue
    fi
    if diff <(expected "$prefix" "$etc") <(installed "$dest") >"$work/diff"; then
        pass "PREFIX=$prefix: exactly the expected files and modes"
    else
        fail "PREFIX=$prefix: files or modes differ (< expected, > installed):"$'\n'"$(cat "$work/diff")"
    fi
    [ "$(stat -c %a "$dest$etc/portcullis/keys.d" 2>/dev/null)" = 755 ] \
        && pass "PREFIX=$prefix: $etc/portcullis/keys.d is a directory, mode 0755" \
        || fail "PREFIX=$prefix: no $etc/portcullis/keys.d with mode 0755"
    grep -q "Nothing was started and no user was created" <<<"$out" \
        && pass "PREFIX=$prefix: says what it did not do and what to do next" \
        || fail "PREFIX=$prefix: no next steps printed:"$'\n'"$out"
    service="$dest$prefix/lib/systemd/system/portcullisd.service"
    if grep -q "$prefix/sbin/portcullisd " "$service" && grep -q "$prefix/bin/policyctl " "$service" \
        && { [ "$prefix" = /usr ] || ! grep -Eq '(^|[= ])/usr/s?bin/' "$service"; }; then
        pass "PREFIX=$prefix: the unit runs $prefix/sbin/portcullisd and $prefix/bin/policyctl"
    else
        fail "PREFIX=$prefix: the unit does not name this install's binaries:"$'\n'"$(grep -n 'Exec' "$service")"
    fi
    if version=$("$dest$prefix/sbin/portcullisd" --version 2>&1) && [ -n "$version" ]; then
        pass "PREFIX=$prefix: the installed portcullisd --version says $version"
    else
        fail "PREFIX=$prefix: the installed portcullisd --version failed: $version"
    fi
    config="$dest$etc/portcullis/portcullis.yaml"
    cmp -s "$config" <(sed "s|/etc/portcullis/|$etc/portcullis/|g" "$PORTCULLIS_STARTER_CONFIG") \
        && pass "PREFIX=$prefix: the starter config installed, its paths under $etc" \
        || fail "PREFIX=$prefix: the installed config is not the starter with $etc paths"
    echo "# changed by the administrator" >>"$config"
    cp "$config" "$work/changed.yaml"
    chmod 0750 "$dest$etc/portcullis/keys.d"
    # As the install's last words say: the jail turned on.
    jail="$dest$etc/fail2ban/jail.d/portcullis.conf"
    sed -i 's/^enabled  = false$/enabled  = true/' "$jail"
    cp "$jail" "$work/jail.conf"
    # The logrotate file an earlier install wrote (create 0600 root root), never edited.
    logrotate="$dest$etc/logrotate.d/portcullis"
    git show 90510b1:Deploy/logrotate/portcullis >"$logrotate" 2>/dev/null || cp Deploy/logrotate/portcullis "$logrotate"
    out=$(make -s install DESTDIR="$dest" PREFIX="$prefix" 2>&1) || fail "second make install failed: $out"
    if cmp -s "$config" "$work/changed.yaml" && grep -q "kept $config" <<<"$out" \
        && [ "$(stat -c %a "$dest$etc/portcullis/keys.d")" = 750 ]; then
        pass "PREFIX=$prefix: a second install keeps the changed config (and says so) and keys.d's mode"
    else
        fail "PREFIX=$prefix: a second install did not keep the changed config (or did not say so):"$'\n'"$out"
    fi
    if grep -qx "enabled  = true" "$jail" && cmp -s "$jail" "$work/jail.conf" && grep -q "^kept $jail: it was changed" <<<"$out"; then
        pass "PREFIX=$prefix: a second install keeps the jail the administrator enabled (and says so)"
    else
        fail "PREFIX=$prefix: a second install did not keep the edited jail.d/portcullis.conf:"$'\n'"$out"
    fi
    if cmp -s "$logrotate" Deploy/logrotate/portcullis && grep -q "^installed $logrotate (updated: it was as an earlier install wrote it)" <<<"$out"; then
        pass "PREFIX=$prefix: a second install replaces the logrotate file an earlier install wrote (and says so)"
    else
        fail "PREFIX=$prefix: the earlier install's logrotate.d/portcullis was not replaced:"$'\n'"$out"
    fi
    echo "name: alex" >"$dest$etc/portcullis/keys.d/alex.yaml"
    out=$(make -s uninstall DESTDIR="$dest" PREFIX="$prefix" 2>&1) || fail "make uninstall failed: $out"
    left=$(installed "$dest" | cut -d' ' -f2)
    if [ "$left" = "$(printf '%s\n' "${etc#/}/portcullis/keys.d/alex.yaml" "${etc#/}/portcullis/portcullis.yaml" \
                                    "${etc#/}/fail2ban/jail.d/portcullis.conf" | sort)" ] \
        && cmp -s "$config" "$work/changed.yaml" && cmp -s "$jail" "$work/jail.conf" && grep -q "^kept $jail" <<<"$out"; then
        pass "PREFIX=$prefix: make uninstall leaves only the config, keys.d and the edited jail (and says so)"
    else
        fail "PREFIX=$prefix: make uninstall left:"$'\n'"$left"$'\n'"$out"
    fi
done

# Overridden directories: each lands where it is told, and the unit follows SBINDIR and BINDIR.
dest="$work/root-custom"
if make -s install DESTDIR="$dest" PREFIX=/opt/pc SBINDIR=/opt/pc/s BINDIR=/opt/pc/b MANDIR=/opt/pc/m \
    DATADIR=/opt/pc/d SYSCONFDIR=/opt/pc/conf SYSTEMDUNITDIR=/opt/pc/units >/dev/null 2>&1 \
    && [ -x "$dest/opt/pc/s/portcullisd" ] && [ -x "$dest/opt/pc/b/policyctl" ] \
    && [ -f "$dest/opt/pc/m/man5/portcullis.yaml.5" ] && [ -f "$dest/opt/pc/d/zsh/vendor-completions/_policyctl" ] \
    && [ -f "$dest/opt/pc/conf/fail2ban/jail.d/portcullis.conf" ] \
    && grep -q "ExecStart=/opt/pc/s/portcullisd --config /opt/pc/conf/portcullis/portcullis.yaml" "$dest/opt/pc/units/portcullisd.service" \
    && grep -q "/opt/pc/b/policyctl" "$dest/opt/pc/units/portcullisd.service"; then
    pass "SBINDIR, BINDIR, MANDIR, DATADIR, SYSCONFDIR, SYSTEMDUNITDIR are honoured"
else
    fail "an overridden directory was not honoured: $(cd "$dest" 2>/dev/null && find . -type f | sort | tr '\n' ' ')"
fi

# Characters sed or systemd would read as more than a character reach the files as written:
# & | (sed's "the match" and the delimiter) literally, % doubled in the unit (systemd's specifiers);
# systemd itself (systemd-analyze verify) reads back the path as written.
dest="$work/root-odd"
odd='/opt/r&d%1|z'
unit_odd="$dest$odd/lib/systemd/system/portcullisd.service"
if DESTDIR="$dest" PREFIX="$odd" scripts/install >"$work/odd.out" 2>&1 \
    && grep -qxF 'ExecStart=/opt/r&d%%1|z/sbin/portcullisd --config /opt/r&d%%1|z/etc/portcullis/portcullis.yaml' "$unit_odd" \
    && grep -qF "keys_dir: $odd/etc/portcullis/keys.d" "$dest$odd/etc/portcullis/portcullis.yaml"; then
    pass "a PREFIX with & % | in it reaches the unit (% as %%) and the config as written"
else
    fail "PREFIX=$odd was not written as it is:"$'\n'"$(cat "$work/odd.out"; grep -h 'ExecStart\|keys_dir' "$unit_odd" "$dest$odd/etc/portcullis/portcullis.yaml" 2>&1)"
fi
if command -v systemd-analyze >/dev/null; then
    cp "$unit_odd" "$work/odd-test.service"
    said=$(systemd-analyze verify "$work/odd-test.service" 2>&1)
    grep -qF "Command $odd/sbin/portcullisd is not executable" <<<"$said" \
        && pass "systemd reads the unit's ExecStart as $odd/sbin/portcullisd" \
        || fail "systemd-analyze verify does not read ExecStart as $odd/sbin/portcullisd:"$'\n'"$said"
fi

# scripts/install replaces (or uninstalls) a logrotate or jail file only if it is as some install
# wrote it: every earlier version of those files must be listed in it.
if git rev-parse --git-dir >/dev/null 2>&1; then
    missing=""
    for source in Deploy/logrotate/portcullis Deploy/fail2ban/jail.d/portcullis.conf; do
        for commit in $(git log --format=%H -- "$source"); do
            git show "$commit:$source" >"$work/version" 2>/dev/null || continue  # the commit removed it
            cmp -s "$work/version" "$source" && continue
            sum=$(sha256sum <"$work/version" | cut -d' ' -f1)
            grep -q "^    $sum" scripts/install || missing+=" $source@${commit:0:7}"
        done
    done
    [ -z "$missing" ] && pass "scripts/install lists every earlier version of logrotate.d and jail.d's files" \
        || fail "scripts/install's earlier_versions lacks:$missing (add each version's sha256)"
fi

# Bad directories are refused by name before anything is written.
for bad in "DESTDIR=relative/root" "PREFIX=/usr/my dir" "MANDIR=usr/share/man"; do
    name=${bad%%=*}
    if out=$(cd "$work" && make -s -C "$root" install DESTDIR="$work/refused" "$bad" 2>&1); then
        fail "make install $bad was accepted"
    elif grep -q "scripts/install: $name=" <<<"$out" && [ ! -e "$work/refused" ] && [ ! -e "$root/relative" ]; then
        pass "make install $bad is refused, naming $name, and writes nothing"
    else
        fail "make install $bad: not refused by name, or something was written:"$'\n'"$out"
    fi
done

# What a unit's command line or the starter config's YAML list cannot hold as written (scripts/install
# directly: make's own quoting would fail first on a quote).
for bad in "BINDIR=/opt/it's" 'SBINDIR=/opt/"s"' 'PREFIX=/opt/a\b' 'PREFIX=/opt/$HOME' 'SYSCONFDIR=/etc/a,b' 'PREFIX=/opt/[x]'; do
    name=${bad%%=*}
    named=$name
    [ "$bad" = 'PREFIX=/opt/[x]' ] && named=SYSCONFDIR  # PREFIX/etc is SYSCONFDIR's default
    if out=$(env DESTDIR="$work/refused" "$bad" scripts/install 2>&1); then
        fail "scripts/install with $bad was accepted"
    elif grep -q "scripts/install: $named=.* not supported" <<<"$out" && [ ! -e "$work/refused" ]; then
        pass "scripts/install with $bad is refused, naming $named, and writes nothing"
    else
        fail "scripts/install with $bad: not refused by name, or something was written:"$'\n'"$out"
    fi
done

# 2. Lint: every page, every linter, not a word of output.
pages=(.build-docs/man/portcullisd.8 .build-docs/man/policyctl.8 Deploy/man/portcullis.yaml.5)
for page in "${pages[@]}"; do
    groff_out=$(groff -ww -z -man "$page" 2>&1)
    # As lintian runs it (its groff-message tag).
    man_out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    mandoc_out=$(mandoc -Tlint -Wstyle "$page" 2>&1)
    if [ -z "$groff_out$man_out$mandoc_out" ]; then
        pass "$page: groff -ww, man --warnings and mandoc -Tlint report nothing"
    else
        fail "$page lint:"$'\n'"$groff_out$man_out$mandoc_out"
    fi
done

version=$(.build/release/portcullisd --version | awk '{ print $2 }')
for page in .build-docs/man/portcullisd.8 .build-docs/man/policyctl.8; do
    grep -q "^\.TH [A-Z]* 8 \"[0-9-]*\" \"Portcullis $version\"" "$page" \
        && pass "$page: headed Portcullis $version" || fail "$page: header is $(sed -n '/^\.TH/p' "$page")"
done

# 3. Every setting the daemon accepts is documented in portcullis.yaml(5), in its section.
if python3 Tests/deploy/settings_documented.py .build/release/policyctl Deploy/man/portcullis.yaml.5; then
    pass "portcullis.yaml(5) documents every setting the daemon accepts"
else
    fail "portcullis.yaml(5) and the daemon's settings differ (above)"
fi

# The page's examples are a configuration the daemon accepts.
if python3 Tests/deploy/man_example_valid.py .build/release/policyctl Deploy/man/portcullis.yaml.5; then
    pass "the examples of portcullis.yaml(5) pass policyctl validate"
else
    fail "the examples of portcullis.yaml(5) are not a valid configuration (above)"
fi

# 4. Completions.
for tool in portcullisd policyctl; do
    bash -n ".build-docs/completions/bash/$tool" && zsh -n ".build-docs/completions/zsh/_$tool" \
        && fish -n ".build-docs/completions/fish/$tool.fish" \
        && pass "$tool: bash, zsh and fish completions parse" || fail "$tool: a completion script does not parse"
done
subcommands=$(COLUMNS=1000 .build/release/policyctl --help | sed -n '/^SUBCOMMANDS:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | grep -vx help | sort)
offered=$(bash -c 'source "$1"; COMP_WORDS=(policyctl ""); COMP_CWORD=1; COMP_LINE="policyctl "; COMP_POINT=${#COMP_LINE}
                   _policyctl policyctl "" policyctl; printf "%s\n" "${COMPREPLY[@]}"' _ .build-docs/completions/bash/policyctl | sort)
missing=$(comm -23 <(echo "$subcommands") <(echo "$offered"))
if [ "$(echo "$subcommands" | wc -l)" -ge 10 ] && [ -z "$missing" ]; then
    pass "bash completes 'policyctl ' to every subcommand ($(echo $subcommands | tr ' ' ','))"
else
    fail "bash completion of 'policyctl ' lacks: ${missing:-(no subcommands found)}; offered: $(echo $offered)"
fi
offered=$(bash -c 'source "$1"; COMP_WORDS=(policyctl audit ""); COMP_CWORD=2; COMP_LINE="policyctl audit "; COMP_POINT=${#COMP_LINE}
                   _policyctl policyctl "" audit; printf "%s\n" "${COMPREPLY[@]}"' _ .build-docs/completions/bash/policyctl)
grep -qx verify <<<"$offered" && pass "bash completes 'policyctl audit ' to its subcommands (verify among them)" \
    || fail "bash completion of 'policyctl audit ' lacks verify: $(echo $offered)"

if [ "$failures" -eq 0 ]; then echo "Tests/deploy/test_install.sh: all passed"; else echo "Tests/deploy/test_install.sh: $failures failed" >&2; exit 1; fi
