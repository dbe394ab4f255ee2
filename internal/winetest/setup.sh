#!/usr/bin/env bash
# Prepares a Wine prefix that runs linkmesh's GOOS=windows test binaries:
# creates it and installs the ProcessPrng shim built from prng.c (never a
# downloaded DLL). Needs wine64 and gcc-mingw-w64-x86-64-win32 (Debian).
#   WINEPREFIX=/tmp/linkmesh-wine internal/winetest/setup.sh
set -euo pipefail
: "${WINEPREFIX:?set WINEPREFIX to an empty or existing Wine prefix directory}"
export WINEPREFIX WINEDEBUG=${WINEDEBUG:--all}
here=$(cd "$(dirname "$0")" && pwd)
wine=${WINE:-/usr/lib/wine/wine64}
[ -d "$WINEPREFIX/drive_c/windows/system32" ] || "$wine" cmd /c exit
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" "$here/prng.c" "$here/prng.def" -ladvapi32
cp "$out/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
echo "Wine prefix $WINEPREFIX ready: GOOS=windows go test -c -o x.exe ./pkg && $wine x.exe -test.v"
