#!/usr/bin/env bash
# Builds the probe's container image (deploy/container/Containerfile) from the
# static binary that deploy/packaging/build.sh made, and exports its root file
# system and its config for the lab test (LINKMESH_IMAGE_ROOTFS and
# LINKMESH_IMAGE_CONFIG; `podman run` does not work on our CI machines, so the
# test runs the image's entrypoint in a lab namespace instead).
#   deploy/container/build.sh [tag]      # default linkmesh-probe:dev; writes dist/image/
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-linkmesh-probe:dev}
[ -x dist/linkmesh-linux-amd64 ] || deploy/packaging/build.sh
podman build --quiet -f deploy/container/Containerfile -t "$tag" . >/dev/null
rm -rf dist/image && mkdir -p dist/image/rootfs
podman image inspect --format '{{json .Config}}' "$tag" >dist/image/config.json
cid=$(podman create "$tag")
trap 'podman rm -f "$cid" >/dev/null' EXIT
podman export "$cid" | tar -x -C dist/image/rootfs
podman image save --format oci-archive -o "dist/${tag%%:*}.oci.tar" "$tag"
echo "image $tag: $(du -sh dist/image/rootfs | cut -f1) root file system; $(ls dist/image/rootfs | tr '\n' ' ')"
