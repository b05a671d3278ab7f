#!/usr/bin/env bash
# Create (idempotently) the venv used by the EZKL comparison harness.
#
#   bash scripts/ezkl/setup.sh            # -> target/ezkl-venv
#   target/ezkl-venv/bin/python scripts/ezkl/run_ezkl.py --help
#
# Env: EZKL_PYTHON=/path/to/python3 to choose the interpreter (>= 3.9 with venv);
#      EZKL_VENV=/path to put the venv elsewhere.
# Exit codes: 0 ok, 1 install failed, 2 no usable python3, 3 venv module missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${EZKL_VENV:-$ROOT/target/ezkl-venv}"
REQ="$HERE/requirements.txt"

# 1. pick an interpreter: $EZKL_PYTHON, /usr/bin/python3, then python3 on PATH
PY=""
for cand in "${EZKL_PYTHON:-}" /usr/bin/python3 "$(command -v python3 || true)"; do
  [ -n "$cand" ] && [ -x "$cand" ] || continue
  if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "error: no python3 >= 3.9 found (set EZKL_PYTHON). Install: apt-get install -y python3 python3-venv" >&2
  exit 2
fi
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# 2. the venv module (Debian splits ensurepip into pythonX.Y-venv)
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $PY ($pyver) has no working venv/ensurepip module." >&2
  echo "install with: apt-get update && apt-get install -y python3-venv   (or python$pyver-venv)" >&2
  exit 3
fi

# 3. the venv (recreated if broken)
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "venv $VENV is broken; recreating" >&2
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV with $PY ($pyver)"
  if ! "$PY" -m venv "$VENV"; then
    echo "error: '$PY -m venv $VENV' failed; install python3-venv (apt-get install -y python3-venv)" >&2
    rm -rf "$VENV"
    exit 3
  fi
fi

# 4. packages, skipped when requirements.txt is unchanged and imports work
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
check='import ezkl, onnx, numpy, psutil; assert ezkl.__version__ == "23.0.5", ezkl.__version__'
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "$check" >/dev/null 2>&1; then
  echo "target/ezkl-venv up to date"
else
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"; then
    echo "error: pip install -r $REQ failed (needs the Python package registry; pins are tested on CPython 3.11, this is $pyver)" >&2
    rm -f "$stamp"
    exit 1
  fi
  if ! "$VENV/bin/python" -c "$check"; then
    echo "error: packages installed but 'import ezkl' check failed" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
"$VENV/bin/python" -c 'import sys, ezkl, onnx, numpy, psutil; print("ezkl venv ok: python", sys.version.split()[0], "ezkl", ezkl.__version__, "onnx", onnx.__version__, "numpy", numpy.__version__, "psutil", psutil.__version__)'
