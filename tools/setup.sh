#!/usr/bin/env bash
# Installs every build and run dependency of sam2-train-cpp from Debian's
# packages (Debian 12). Idempotent and non-interactive; nothing is downloaded
# from anywhere but the Debian archive.
#
#   sudo tools/setup.sh        # or as root
set -euo pipefail

PACKAGES=(
  # Build
  bazel-bootstrap          # Bazel 4.2.3
  bazel-rules-java         # @rules_java for Bazel's offline start-up
  g++
  clang-format
  # LibTorch (CPU) and an optimised BLAS: without libopenblas0-pthread Debian's
  # torch falls back to the reference BLAS (~40x slower matrix products).
  libtorch-dev
  libopenblas0-pthread
  # OpenBLAS on OpenMP: //jobs binaries load it in preference (RPATH), so that
  # matrix products share LibTorch's OpenMP threads (see jobs/BUILD.bazel).
  # The system-wide libblas.so.3 alternative is left as it is.
  libopenblas0-openmp
  # TCMalloc: the malloc of the //jobs binaries (less memory held, fewer page
  # faults than glibc's; see third_party/BUILD.bazel).
  libtcmalloc-minimal4
  # Libraries
  libabsl-dev
  libprotobuf-dev
  protobuf-compiler
  libgflags-dev
  libgoogle-glog-dev
  libpng-dev
  libturbojpeg0-dev
  zlib1g-dev
  nlohmann-json3-dev
  libopencv-dev            # imgproc: the distance transform of click sampling
  libavformat-dev          # FFmpeg: SA-V frame extraction (jobs/extract_sav_frames)
  libavcodec-dev
  libswscale-dev
  libavutil-dev
  libarchive-dev           # SA-1B tar shards (jobs/preprocess_sa1b)
  libgtest-dev
  libgmock-dev
  # Multi-process jobs
  libopenmpi-dev
  openmpi-bin
  # SLURM (jobs/slurm/): the tests run a one-node SLURM on loopback
  slurm-wlm
  munge
)

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
else
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# OpenBLAS must be the BLAS that LibTorch resolves at run time.
blas="$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')"
case "$blas" in
  *openblas*) echo "setup: BLAS is OpenBLAS ($blas)" ;;
  *) echo "setup: warning: libblas.so.3 is '$blas', not OpenBLAS: matrix products will be slow" >&2 ;;
esac

echo "setup: done. Next: bazel test //...   and   bazel run //jobs:train -- --config=demo"
