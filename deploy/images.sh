#!/usr/bin/env bash
# Builds Weft's container images FROM scratch: static binaries
# (CGO_ENABLED=0) into deploy/build/bin, then one small build context per
# image under deploy/build/context and `docker build` with deploy/docker/*.
# No base image is pulled. Images: weft/peer, weft/orderer, weft/setup,
# weft/basic and weft/restgateway, tagged $WEFT_IMAGE_TAG (default latest).
#
# Usage: deploy/images.sh   (or make docker), from any folder.
# WEFT_BUILD_DIR moves deploy/build (binaries and contexts) elsewhere; GO
# names the go command.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
TAG=${WEFT_IMAGE_TAG:-latest}
out=${WEFT_BUILD_DIR:-deploy/build}

command -v docker >/dev/null || { echo "deploy/images.sh: docker is not installed" >&2; exit 1; }

pkgs=(./cmd/peer ./cmd/orderer ./cmd/weft ./cmd/weft-setup ./samples/basic)
images=(peer orderer setup basic)
if [ -d cmd/restgateway ]; then
  pkgs+=(./cmd/restgateway)
  images+=(restgateway)
else
  echo "deploy/images.sh: no ./cmd/restgateway in this tree: not building weft/restgateway" >&2
fi

mkdir -p "$out/bin"
export CGO_ENABLED=0
"$GO" build -trimpath -ldflags='-s -w' -o "$out/bin/" "${pkgs[@]}"

for img in "${images[@]}"; do
  ctx=$out/context/$img
  rm -rf "$ctx"
  mkdir -p "$ctx/data" "$ctx/tmp"
  case $img in
    peer)        cp "$out/bin/peer" sampleconfig/core.yaml "$ctx/" ;;
    orderer)     cp "$out/bin/orderer" sampleconfig/orderer.yaml "$ctx/" ;;
    setup)       cp "$out/bin/weft" "$out/bin/weft-setup" "$ctx/" ;;
    restgateway) cp "$out/bin/restgateway" sampleconfig/restgateway.yaml "$ctx/" ;;
    *)           cp "$out/bin/$img" "$ctx/" ;;
  esac
  echo "building weft/$img:$TAG"
  # The engine's legacy builder warns on every build that it is deprecated;
  # show its output only when the build fails.
  if ! log=$(docker build -q -t "weft/$img:$TAG" -f "deploy/docker/$img.Dockerfile" "$ctx" 2>&1); then
    echo "$log" >&2
    echo "deploy/images.sh: building weft/$img failed" >&2
    exit 1
  fi
done

# Rebuilding leaves the previous images untagged; remove those of Weft only.
docker image prune -f --filter label=weft.image >/dev/null
