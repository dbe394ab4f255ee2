#!/usr/bin/env bash
# Builds linkmesh.exe for windows/amd64 (with its version, commit and build
# date linked in) and the installer dist/linkmesh-VERSION-x64.msi from
# deploy/windows/linkmesh.wxs with msitools' wixl (Debian: apt-get install
# wixl msitools). Prints the MSI's path last.
#   LINKMESH_MSI_VERSION=1.2.3  the MSI's version instead of the one from git
#   LINKMESH_DIST=DIR           where to write (default dist/)
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=$(git rev-parse --short=12 HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then commit="$commit-dirty"; fi
date=$(git log -1 --format=%cI HEAD)
# An MSI version is three numbers (255.255.65535 at most): a tag v1.2.3 on
# HEAD gives 1.2.3; otherwise 0.0.<commits> (so a later build upgrades an
# earlier one), and the binary says which commit.
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
  version=${tag#v}
  msiversion=$version
else
  n=$(git rev-list --count HEAD)
  version="0.0.0-git$n.${commit%-dirty}"
  msiversion="0.0.$((n % 65536))"
fi
msiversion=${LINKMESH_MSI_VERSION:-$msiversion}
dist=${LINKMESH_DIST:-dist}
mkdir -p "$dist"
rm -f "$dist"/linkmesh-*-x64.msi   # one version at a time
exe=$dist/linkmesh-windows-amd64.exe
pkg=github.com/linkmesh/linkmesh/internal/buildinfo
CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X $pkg.version=v$version -X $pkg.commit=$commit -X $pkg.date=$date" -o "$exe" .
msi="$dist/linkmesh-$msiversion-x64.msi"
# wixl takes source files relative to the current directory only.
wixl --arch x64 -D "Version=$msiversion" -D "Commit=$commit" -D "Exe=$(realpath --relative-to=. "$exe")" -o "$msi" deploy/windows/linkmesh.wxs
# wixl 0.101 (Debian 12) writes Execute="rollback" as an immediate action
# (fixed in msitools 0.102): set the rollback action's type by hand —
# 18 (an installed exe) + 64 (ignore its exit code) + 256 (rollback) +
# 1024 (in the script) + 2048 (as LocalSystem) = 3410.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
msiinfo export "$msi" CustomAction >"$tmp/CustomAction.idt"
awk -F'\t' 'BEGIN{OFS="\t"} $1=="LinkmeshServiceInstallRollback"{$2=3410; found=1} {print} END{exit !found}' \
  "$tmp/CustomAction.idt" >"$tmp/ca.idt"
mv "$tmp/ca.idt" "$tmp/CustomAction.idt"
msibuild "$msi" -i "$tmp/CustomAction.idt"
type=$(msiinfo export "$msi" CustomAction | awk -F'\t' '$1=="LinkmeshServiceInstallRollback"{print $2}')
[ "$type" = 3410 ] || { echo "build-msi: the rollback action's type is $type, not 3410" >&2; exit 1; }
ls -l "$exe" "$msi"
echo "$msi"
