#!/usr/bin/env bash
# Builds the linkmesh binary for Linux (static, with its version, commit and
# build date linked in) and the .deb and .rpm packages into dist/.
#   deploy/packaging/build.sh            # amd64
#   GOARCH=arm64 deploy/packaging/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
NFPM_VERSION=v2.48.0
arch=${GOARCH:-amd64}
commit=$(git rev-parse --short=12 HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then commit="$commit-dirty"; fi
date=$(git log -1 --format=%cI HEAD)
# A tag v1.2.3 on HEAD gives 1.2.3; otherwise 0.0.0~git<commits>.<hash>
# (sorts before any release, after the previous dev build).
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
  version=${tag#v}
else
  version="0.0.0~git$(git rev-list --count HEAD).${commit%-dirty}"
fi
mkdir -p dist
rm -f dist/linkmesh_*.deb dist/linkmesh-*.rpm   # one version at a time
bin="dist/linkmesh-linux-$arch"
pkg=github.com/linkmesh/linkmesh/internal/buildinfo
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X $pkg.version=v$version -X $pkg.commit=$commit -X $pkg.date=$date" -o "$bin" .
nfpm() { GOFLAGS= go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@${NFPM_VERSION}" "$@"; }
sed -e "s|\${LINKMESH_BIN}|$bin|" -e "s|\${LINKMESH_ARCH}|$arch|" -e "s|\${LINKMESH_VERSION}|$version|" \
  deploy/packaging/nfpm.yaml >dist/nfpm.yaml
for p in deb rpm; do
  nfpm package --config dist/nfpm.yaml --packager "$p" --target dist/
done
ls -l dist/
