#!/usr/bin/env bash
# Install what the build, the tests and the demo need; cheap (a dpkg-query and a hash) when all is there.
#   - Debian packages (apt-get, only the missing ones; `apt-get update` only when something is missing)
#   - the project venv .venv (Debian's /usr/bin/python3 -m venv, no system site packages) holding the
#     pinned PyPI packages of scripts/requirements.txt; a stamp file records the hash of what it holds.
# Usage: bash scripts/setup.sh        (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake pkg-config                       # build
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev      # ONNX reader: generated from onnx.proto
  libjpeg-dev libpng-dev                                 # tfmq predict: image decoding
  zlib1g-dev libcjson-dev libzip-dev                     # Keras .h5 / .keras import
  libdnnl-dev                                            # fast CPU backend: oneDNN (conv, matmul)
  clang libclang-rt-14-dev                               # sanitizer and fuzz builds
  libonnx-testdata                                       # ONNX operator conformance suite
  dataset-fashion-mnist                                  # bundled model: training, demo, accuracy
  python3 python3-venv python3-numpy                     # scripts; the venv is made from this Python
  python3-torch python3-torchvision python3-onnx         # training + fixture export (PyTorch 1.13)
)
REQUIREMENTS=scripts/requirements.txt
VENV=.venv
STAMP=$VENV/.tfmq-setup-stamp

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

# ---- Debian packages: one dpkg-query for all of them ----
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [ "${st:0:2}" = "ii" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends \
           "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "setup: apt-get failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

# ---- TensorFlow venv .venv-tf (tests/models/tf_fixtures.py, for compare_tf.py) ----
# Separate from .venv: TensorFlow pins numpy/protobuf its own way. Made from Debian's Python,
# rebuilt only when scripts/requirements-tf.txt or the Python changed (own stamp). About 600 MB:
# TFMQ_TF_TESTS=0 skips it (compare_tf.py then exits 77, "skipped").
setup_tf_venv() {
  local req=scripts/requirements-tf.txt venv=.venv-tf
  local stamp=$venv/.tfmq-setup-stamp want
  want=$( { cat "$req"; /usr/bin/python3 -VV; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    return 0
  fi
  mkdir -p .cache
  exec 8>.cache/setup-tf.lock
  flock 8
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    exec 8>&-; return 0
  fi
  if [ -d "$venv" ] && { ! grep -qx 'home = /usr/bin' "$venv/pyvenv.cfg" 2>/dev/null \
                         || ! "$venv/bin/python" -c '' 2>/dev/null; }; then
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv"
    /usr/bin/python3 -m venv "$venv"
  fi
  echo "setup: installing $req into $venv"
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
       "$venv/bin/python" -m pip install -q -r "$req"; then
    # TensorFlow is only the reference of one test (models_vs_tf), which then reports itself
    # skipped with this reason; everything else still installs and runs.
    echo "setup: WARNING: pip install of $req into $venv failed; models_vs_tf will be skipped" >&2
    rm -rf "$venv"
    exec 8>&-; return 0
  fi
  TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c 'import tensorflow, tf_keras, keras, numpy, h5py'
  echo "$want" > "$stamp"
  exec 8>&-
}
if [ "${TFMQ_TF_TESTS:-1}" != "0" ]; then
  setup_tf_venv
fi
# ---- end of the TensorFlow venv ----

# ---- project venv: rebuilt only when the requirement list, this script or the Python changed ----
want=$( { cat "$REQUIREMENTS"; /usr/bin/python3 -VV; } | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

mkdir -p .cache
exec 9>.cache/setup.lock
flock 9          # two `make` targets at once: the second waits, then finds the stamp
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
# A venv made by another Python (e.g. a pyenv one on PATH) or a broken one is made again.
if [ -d "$VENV" ] && { ! grep -qx 'home = /usr/bin' "$VENV/pyvenv.cfg" 2>/dev/null \
                       || ! "$VENV/bin/python" -c '' 2>/dev/null; }; then
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
echo "setup: installing $REQUIREMENTS into $VENV"
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
     "$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS"; then
  echo "setup: pip install failed" >&2
  exit 1
fi
"$VENV/bin/python" -c 'import onnxruntime, numpy, PIL' 
echo "$want" > "$STAMP"
