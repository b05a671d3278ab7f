#!/usr/bin/env bash
# Create (idempotently) the Python environment used by the scripts in scripts/.
#
#   bash scripts/setup_python.sh
#   target/pyenv/bin/python scripts/make_op_models.py
#
# torch / torchvision / onnx / numpy come from Debian packages (system python3);
# onnxruntime and scikit-learn are pip-installed into target/pyenv, pinned in
# scripts/requirements.txt. A second venv, target/pyenv-quant (pinned in
# scripts/requirements-quant.txt: onnx 1.15 + onnxruntime), runs
# scripts/make_qdq_models.py, because onnxruntime's quantization tool needs a
# newer onnx than Debian's 1.12.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
VENV="$ROOT/target/pyenv"
REQ="$ROOT/scripts/requirements.txt"
QVENV="$ROOT/target/pyenv-quant"
QREQ="$ROOT/scripts/requirements-quant.txt"
APT_PKGS="python3-torch python3-torchvision python3-onnx python3-numpy python3-venv python3-pip"

if [ ! -x "$PY" ]; then
  echo "error: $PY not found. Install: apt-get install -y $APT_PKGS" >&2
  exit 1
fi
missing=""
for mod in torch torchvision onnx numpy venv; do
  if ! "$PY" -c "import $mod" >/dev/null 2>&1; then missing="$missing $mod"; fi
done
if [ -n "$missing" ]; then
  echo "error: system python3 lacks:$missing" >&2
  echo "install with: apt-get update && apt-get install -y $APT_PKGS" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV"
  "$PY" -m venv --system-site-packages "$VENV"
fi

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$VENV/bin/python" -c "import onnxruntime, sklearn" >/dev/null 2>&1; then
  echo "target/pyenv up to date"
else
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
  echo "$want" > "$stamp"
fi
if [ ! -x "$QVENV/bin/python" ]; then
  echo "creating venv $QVENV"
  "$PY" -m venv --system-site-packages "$QVENV"
fi
qstamp="$QVENV/.requirements.sha256"
qwant="$(sha256sum "$QREQ" | cut -d' ' -f1)"
if [ -f "$qstamp" ] && [ "$(cat "$qstamp")" = "$qwant" ] \
   && "$QVENV/bin/python" -c "import onnxruntime.quantization" >/dev/null 2>&1; then
  echo "target/pyenv-quant up to date"
else
  "$QVENV/bin/python" -m pip install --disable-pip-version-check -q -r "$QREQ"
  echo "$qwant" > "$qstamp"
fi
"$QVENV/bin/python" -c "import onnx, onnxruntime; print('pyenv-quant: onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"

"$VENV/bin/python" - <<'PYEOF'
import numpy, onnx, onnxruntime, sklearn, torch, torchvision
print("python", __import__("sys").version.split()[0], "numpy", numpy.__version__,
      "torch", torch.__version__, "torchvision", torchvision.__version__,
      "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__,
      "sklearn", sklearn.__version__)
PYEOF
