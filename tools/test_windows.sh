#!/usr/bin/env bash
# `make test-windows`: the core's tests (unit, integration, doc) built for
# x86_64-pc-windows-gnu with Debian's mingw-w64 and run under Debian's wine
# as cargo's runner. Installs what is missing: the rustup target, the
# packages gcc-mingw-w64-x86-64 and wine64 (apt-get, as root or with sudo),
# a wine prefix under target/, and bcryptprimitives.dll (tools/wine, a shim
# for wine 8.0, which lacks the ProcessPrng that Rust's std imports).
#
# Wine 8.0 refuses the placeholder flags of VirtualAlloc2 (error 87), so the
# reserve-free-map path runs there; the test `the_expected_method_maps_mirrors`
# asserts it and prints which one ran.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target=x86_64-pc-windows-gnu
wine_bin=/usr/lib/wine/wine64

need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x "$wine_bin" ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} (Debian packages)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

export WINEPREFIX="$root/target/wine-prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== wine prefix in target/wine-prefix ($("$wine_bin" --version))"
    "$wine_bin" wineboot --init >/dev/null 2>&1 || true
fi
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$root/tools/wine/processprng.c" -nt "$dll" ]; then
    echo "== shim bcryptprimitives.dll (ProcessPrng) into the wine prefix"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" \
        "$root/tools/wine/processprng.c" "$root/tools/wine/processprng.def" -ladvapi32
fi

echo "== cargo test -p picoring --target $target under $("$wine_bin" --version)"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$wine_bin"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
cd "$root"
# The method test prints the path it took; --nocapture for that one only.
cargo test -q -p picoring --target "$target" --target-dir target/windows --lib \
    -- sys::windows::tests::the_expected_method --nocapture 2>&1 | grep -E "mirror method|test result|panicked|FAILED"
# One test at a time: the fallback tests check that what their lost attempts
# mapped is free again, and another test's mapping can land in a range just
# freed (seen once in a CI run: "an attempt's view ... was left mapped").
cargo test -q -p picoring --target "$target" --target-dir target/windows -- --test-threads=1
