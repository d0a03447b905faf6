#!/bin/sh
# deps.sh — make sure the packages memaudit builds and tests with are installed.
#
# Run by `make deps`, and so by `make demo` and `make check`. On Debian or
# Ubuntu it asks dpkg which packages are missing; with none missing it prints
# nothing and exits 0. As root it installs the missing ones with apt-get; as
# any other user it prints the exact apt-get line to run and exits 1, so that
# the build never fails later with an obscure "cannot find -lunwind".
# Elsewhere (no dpkg) it checks that the compiler finds the headers and says
# which libraries to install if it does not.
#
# Exit status: 0 when everything is there (or was installed), 1 otherwise.

# Each package and what it is for (README.md, "Dependencies", says the same).
#   gcc libc6-dev make   the build itself (Debian's gcc only recommends libc6-dev,
#   pkg-config           so a gcc installed without recommends has no <stdio.h>)
#   libunwind-dev        stack capture in the recorder (libaudit.so)
#   libdw-dev libelf-dev symbols, source lines and inlined frames (symbolizer)
#   libcjson-dev         the JSON report
#   zlib1g-dev           gzip for --format pprof (profile.proto is gzipped)
#   libzstd-dev          compressed traces (MEMAUDIT_COMPRESS): the recorder
#                        dlopens libzstd.so.1, the reader links it
#   libiberty-dev        demangling C++ and Rust names
#   libcmocka-dev        unit tests
#   valgrind             tests cross-check our totals against memcheck
#   libc6-dbg            glibc's debug info (by build id): the tests check glibc's
#                        frames by function, file and line, as users get them
#   g++                  the tests check C++ names (Rust's, with rustc, optional)
PACKAGES="gcc libc6-dev make pkg-config libunwind-dev libdw-dev libelf-dev libcjson-dev zlib1g-dev libzstd-dev libiberty-dev libcmocka-dev valgrind libc6-dbg g++"

# Optional: installed when possible, but a failure (no root, no mirror, no such
# package here) is one line and exit status 0: the tests that need them skip.
#   chromium             the HTML report's browser test (tests/integration/browser.sh)
#   protobuf-compiler    the pprof export's tests (tests/integration/exports.sh):
#   golang-github-google-pprof-dev  protoc decodes it against pprof's own
#   golang-go            profile.proto, and `go tool pprof` reads it
OPTIONAL_PACKAGES="chromium protobuf-compiler golang-github-google-pprof-dev golang-go"

# With --bench (`make bench`), the optional packages are the benchmark's
# instead (the tests' would cost minutes of the bench's 10-minute budget):
#   sqlite3 python3      real programs recorded by bench/run.sh (cc1 comes with gcc)
#   heaptrack            the tool the benchmark compares with
#   time                 GNU time, for the peak RSS columns
#   linux-perf           perf, for the share of a sampled run's CPU time in the recorder
if [ "${1-}" = --bench ]; then
    OPTIONAL_PACKAGES="sqlite3 python3 heaptrack time linux-perf"
fi

# Headers the build includes, one per library, for systems without dpkg.
HEADERS="libunwind.h elfutils/libdw.h gelf.h cjson/cJSON.h zlib.h zstd.h libiberty/demangle.h"
# cmocka.h needs these included before it.
CMOCKA_PRELUDE='#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>'

say() {
    printf 'memaudit: %s\n' "$*" >&2
}

# True when the C compiler finds header $1 (through its own search path, which
# covers multiarch directories such as /usr/include/x86_64-linux-gnu).
have_header() {
    printf '%s\n#include <%s>\n' "$2" "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1
}

# Without dpkg we cannot install anything: check what the build needs and
# name what is missing.
check_without_dpkg() {
    missing=""
    for h in $HEADERS; do
        have_header "$h" "" || missing="$missing $h"
    done
    have_header cmocka.h "$CMOCKA_PRELUDE" || missing="$missing cmocka.h"
    if [ -n "$missing" ]; then
        say "headers not found:$missing"
        say "install the development packages of libunwind, elfutils (libdw, libelf), cJSON, zlib, zstd, libiberty and cmocka"
        exit 1
    fi
    if ! command -v valgrind >/dev/null 2>&1; then
        say "valgrind not found: the build works, but 'make check' needs it"
    fi
    exit 0
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    check_without_dpkg
fi

missing=""
for p in $PACKAGES; do
    installed "$p" || missing="$missing $p"
done
missing=${missing# }
optional=""
for p in $OPTIONAL_PACKAGES; do
    installed "$p" || optional="$optional $p"
done
optional=${optional# }
[ -z "$missing" ] && [ -z "$optional" ] && exit 0

# install_optional: try the optional packages; never fails.
install_optional() {
    [ -z "$optional" ] && return 0
    # $optional is split into words on purpose.
    # shellcheck disable=SC2086
    if ! apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $optional; then
        say "could not install $optional (optional): the tests that need it will be skipped"
    fi
    return 0
}

# LLVM's libunwind (libunwind-14-dev in Debian 12, libunwind-N-dev from LLVM's
# own archive) ships a different libunwind.h and conflicts with libunwind-dev:
# apt would refuse, or offer to remove it. That is the user's call, not ours.
case " $missing " in
*" libunwind-dev "*)
    llvm=$(dpkg-query -W -f='${Package} ${Status}\n' 'libunwind-*-dev' 2>/dev/null |
        grep 'ok installed' | cut -d' ' -f1 | tr '\n' ' ')
    llvm=${llvm% }
    if [ -n "$llvm" ]; then
        say "$llvm (LLVM's libunwind) is installed and conflicts with libunwind-dev, which memaudit needs."
        say "remove it first, as root: apt-get remove -y $llvm"
        exit 1
    fi
    ;;
esac

if [ "$(id -u)" != 0 ]; then
    if [ -z "$missing" ]; then
        say "optional, for the browser and export tests: as root, apt-get install -y $optional"
        exit 0
    fi
    say "missing packages; run as root: apt-get install -y $missing"
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    [ -z "$missing" ] && exit 0
    say "missing packages, and no apt-get to install them with: $missing"
    exit 1
fi

say "installing $missing${optional:+ (optional: $optional)}"
export DEBIAN_FRONTEND=noninteractive
# DPkg::Lock::Timeout: wait for a concurrent apt (unattended-upgrades on a fresh
# machine) instead of failing at once on its lock.
# The package lists may be absent (fresh containers) or stale (superseded
# security updates no longer on the mirror): refresh them before installing.
if ! apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null; then
    say "'apt-get update' failed; is a Debian package mirror reachable?"
    [ -z "$missing" ] && exit 0
    exit 1
fi
if [ -z "$missing" ]; then
    install_optional
    exit 0
fi
# $missing is split into words on purpose.
# shellcheck disable=SC2086
if ! apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $missing; then
    say "'apt-get install -y --no-install-recommends $missing' failed (see apt's message above)"
    exit 1
fi
install_optional
exit 0
