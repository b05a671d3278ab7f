#!/usr/bin/env python3
"""Run EZKL's full proving pipeline on one ONNX model and one input; measure it.

    target/ezkl-venv/bin/python scripts/ezkl/run_ezkl.py \
        --model models/digits_mlp.onnx --input models/digits/sample0_flat.npy \
        --workdir target/ezkl-runs/digits_mlp --out target/ezkl-runs/digits_mlp/result.json

Pipeline: gen_settings -> calibrate_settings -> compile_circuit -> gen_srs (local,
cached per logrows) -> gen_witness -> setup -> prove -> verify.  Every step runs in
its own child process (this script re-invoked with --step), so wall time and peak
RSS (the child's VmHWM; os.wait4 rusage as fallback) are per step, and a per-step
timeout kills the child's whole process group.  The SRS is generated locally with
ezkl.gen_srs, never downloaded.  The result schema is in scripts/ezkl/README.md.

Exit codes: 0 ok and verified, 1 a step failed (result.json has status
"failed"), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback

SCHEMA = "tachikoma.ezkl-bench/1"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Artifacts inside --workdir (deleted at the start of every run so nothing stale is reused).
ART = {
    "model": "model.onnx",
    "input": "input.json",
    "calib": "calibration.json",
    "settings": "settings.json",
    "compiled": "network.ezkl",
    "witness": "witness.json",
    "pk": "pk.key",
    "vk": "vk.key",
    "proof": "proof.json",
}
STEPS_DIR = "steps"


class StepFailed(Exception):
    def __init__(self, step: str, error: str, detail: dict | None = None):
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error
        self.detail = detail or {}


# --------------------------------------------------------------------------- child side


def _rss_kib_self(field: str = "VmRSS") -> int:
    """VmRSS (current) or VmHWM (peak) of this process in KiB, from /proc; 0 if unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def child_main(step: str, args_path: str, result_path: str) -> int:
    """Run one EZKL call; write {"ok", "seconds", "result" | "error"} to result_path."""
    with open(args_path) as f:
        a = json.load(f)
    out: dict = {"step": step, "ok": False}
    try:
        import ezkl  # imported here so that the import is outside the timed region

        out["rss_before_call_kib"] = _rss_kib_self()
        t0 = time.perf_counter()
        res = _run_step(ezkl, step, a)
        out["seconds"] = time.perf_counter() - t0
        out["ok"] = True
        out["result"] = res
    except BaseException as e:  # noqa: BLE001 - report everything to the parent
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    out["vm_hwm_kib"] = _rss_kib_self("VmHWM")  # this process's peak RSS (its own mm only)
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, result_path)
    return 0 if out["ok"] else 1


def _run_step(ezkl, step: str, a: dict):
    if step == "gen_settings":
        ra = ezkl.PyRunArgs()
        ra.input_visibility = a["input_visibility"]
        ra.output_visibility = a["output_visibility"]
        ra.param_visibility = a["param_visibility"]
        ok = ezkl.gen_settings(a["model"], a["settings"], py_run_args=ra)
        _expect_true(ok, "gen_settings")
        return {}
    if step == "calibrate_settings":
        kw = {"target": a["target"]}
        if a.get("max_logrows") is not None:
            kw["max_logrows"] = a["max_logrows"]
        ok = ezkl.calibrate_settings(a["data"], a["model"], a["settings"], **kw)
        _expect_true(ok, "calibrate_settings")
        return {}
    if step == "compile_circuit":
        _expect_true(ezkl.compile_circuit(a["model"], a["compiled"], a["settings"]), "compile_circuit")
        return {}
    if step == "gen_srs":
        ezkl.gen_srs(a["srs_tmp"], a["logrows"])  # returns None
        if not os.path.exists(a["srs_tmp"]):
            raise RuntimeError("gen_srs wrote no file")
        return {}
    if step == "gen_witness":
        w = ezkl.gen_witness(a["input"], a["compiled"], a["witness"])
        if not isinstance(w, dict):
            raise RuntimeError(f"gen_witness returned {type(w).__name__}")
        return {}
    if step == "setup":
        _expect_true(ezkl.setup(a["compiled"], a["vk"], a["pk"], a["srs"]), "setup")
        return {}
    if step == "prove":
        p = ezkl.prove(a["witness"], a["compiled"], a["pk"], a["proof"], a["srs"])
        if not isinstance(p, dict) or "proof" not in p:
            raise RuntimeError(f"prove returned {type(p).__name__}")
        return {}
    if step == "verify":
        ok = ezkl.verify(a["proof"], a["settings"], a["vk"], a["srs"])
        return {"verified": bool(ok)}
    raise ValueError(f"unknown step {step!r}")


def _expect_true(ok, what: str) -> None:
    if ok is not True:
        raise RuntimeError(f"{what} returned {ok!r}")


# --------------------------------------------------------------------------- parent side


class Runner:
    def __init__(self, workdir: str, timeout: float, record: dict, verbose: bool):
        self.workdir = workdir
        self.timeout = timeout
        self.record = record  # result["steps"], filled as steps complete
        self.verbose = verbose
        os.makedirs(os.path.join(workdir, STEPS_DIR), exist_ok=True)

    def run(self, step: str, args: dict, timeout: float | None = None) -> dict:
        """Run one step in a child process; return its result dict, raise StepFailed."""
        timeout = self.timeout if timeout is None else timeout
        sd = os.path.join(self.workdir, STEPS_DIR)
        args_path = os.path.join(sd, f"{step}.args.json")
        res_path = os.path.join(sd, f"{step}.result.json")
        log_path = os.path.join(sd, f"{step}.log")
        for p in (res_path, log_path):
            if os.path.exists(p):
                os.remove(p)
        with open(args_path, "w") as f:
            json.dump(args, f, indent=1)
        cmd = [sys.executable, os.path.abspath(__file__), "--step", step,
               "--step-args", args_path, "--step-result", res_path]
        entry = {"load_avg_before": list(os.getloadavg())}
        if self.verbose:
            print(f"[ezkl] {step} ...", file=sys.stderr, flush=True)
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=self.workdir)
            status, ru, timed_out = _wait_with_timeout(proc, timeout)
            wall = time.perf_counter() - t0
        entry["process_seconds"] = round(wall, 4)
        # ru_maxrss of a fork+exec child also counts the parent's RSS at fork time (Linux
        # carries the old mm's high-water mark over exec), so the child's own VmHWM
        # (reported below) is the per-step figure; rusage is the fallback on crash/timeout.
        entry["peak_rss_rusage_mib"] = round(ru.ru_maxrss / 1024.0, 1)  # Linux: KiB
        entry["peak_rss_mib"] = entry["peak_rss_rusage_mib"]
        entry["peak_rss_source"] = "rusage"
        entry["cpu_user_s"] = round(ru.ru_utime, 3)
        entry["cpu_sys_s"] = round(ru.ru_stime, 3)
        entry["log"] = os.path.relpath(log_path, self.workdir)
        self.record[step] = entry
        if timed_out:
            raise StepFailed(step, f"timed out after {timeout:.0f} s (child killed)", entry)
        child = None
        if os.path.exists(res_path):
            with open(res_path) as f:
                child = json.load(f)
        if child is None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                why = f"child killed by signal {sig} ({signal.Signals(sig).name})"
                if sig == signal.SIGKILL:
                    why += " - possibly out of memory"
            else:
                why = f"child exited with code {os.waitstatus_to_exitcode(status)} without a result"
            raise StepFailed(step, why + "; log tail: " + _tail(log_path), entry)
        if "seconds" in child:
            entry["seconds"] = round(child["seconds"], 4)
        if child.get("vm_hwm_kib"):
            entry["peak_rss_mib"] = round(child["vm_hwm_kib"] / 1024.0, 1)
            entry["peak_rss_source"] = "VmHWM"
        if "rss_before_call_kib" in child:
            entry["rss_before_call_mib"] = round(child["rss_before_call_kib"] / 1024.0, 1)
        if not child.get("ok"):
            entry["traceback"] = child.get("traceback", "")
            raise StepFailed(step, child.get("error", "unknown error"), entry)
        return child.get("result") or {}


def _wait_with_timeout(proc: subprocess.Popen, timeout: float):
    """Reap proc with os.wait4 (per-child rusage); kill its process group on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    timed_out = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                if sig == signal.SIGTERM:
                    t_end = time.monotonic() + 5
                    while time.monotonic() < t_end:
                        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                        if pid == proc.pid:
                            proc.returncode = os.waitstatus_to_exitcode(status)
                            return status, ru, True
                        time.sleep(0.05)
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping/warning
    # the child may have left grandchildren in its group; make sure none linger
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return status, ru, timed_out


def _tail(path: str, n: int = 1500) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _size(path: str):
    return os.path.getsize(path) if os.path.exists(path) else None


# ---- model / data preparation (in the parent; light)


def prepare_model(src: str, dst: str):
    """Copy the model, filling in ONNX-default attributes EZKL insists on.

    EZKL 23 rejects Conv (and pooling) nodes without explicit `strides`; ONNX
    defaults are all-ones strides/dilations and zero pads.  Returns (input
    shapes, list of patches made).
    """
    import onnx

    m = onnx.load(src)
    init_names = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in init_names]
    shapes = []
    for i in inputs:
        dims = []
        for d in i.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else None)
        shapes.append({"name": i.name, "shape": dims})
    patches = []
    for node in m.graph.node:
        if node.op_type not in ("Conv", "AveragePool", "MaxPool", "ConvTranspose"):
            continue
        attrs = {a.name: a for a in node.attribute}
        ks = None
        if "kernel_shape" in attrs:
            ks = list(attrs["kernel_shape"].ints)
        elif node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = next((t for t in m.graph.initializer if t.name == node.input[1]), None)
            if w is not None:
                ks = list(w.dims[2:])
        if ks is None:
            continue
        nd = len(ks)
        want = {"strides": [1] * nd}
        if node.op_type in ("Conv", "ConvTranspose", "MaxPool"):
            want["dilations"] = [1] * nd
        if "auto_pad" not in attrs or attrs["auto_pad"].s in (b"", b"NOTSET"):
            want["pads"] = [0] * (2 * nd)
        for k, v in want.items():
            if k not in attrs:
                node.attribute.append(onnx.helper.make_attribute(k, v))
                patches.append(f"{node.op_type} {node.name or '?'}: added {k}={v}")
    if patches:
        onnx.save(m, dst)
    else:
        shutil.copyfile(src, dst)
    return shapes, patches


def load_input(path: str, want_shape, index: int | None):
    """Load one sample; a batch [N, ...] is sliced at `index` when the model wants batch 1."""
    import numpy as np

    x = np.load(path)
    want_n = None
    if want_shape and all(isinstance(d, int) and d > 0 for d in want_shape):
        want_n = int(np.prod(want_shape))
    if want_n is not None and x.size != want_n:
        if x.ndim >= 1 and x.shape[0] > 1 and x.size // x.shape[0] == want_n:
            i = 0 if index is None else index
            if not 0 <= i < x.shape[0]:
                raise ValueError(f"--index {i} out of range for {path} with shape {list(x.shape)}")
            x = x[i:i + 1]
        else:
            raise ValueError(f"{path} has shape {list(x.shape)} ({x.size} values); the model input "
                             f"{want_shape} needs {want_n}")
    elif index not in (None, 0) and x.shape[0] == 1:
        raise ValueError(f"--index {index} given but {path} holds a single sample")
    return x


def load_calibration(path: str, want_shape, max_samples: int):
    import numpy as np

    x = np.load(path)
    n_per = int(np.prod(want_shape)) if want_shape and all(isinstance(d, int) and d > 0 for d in want_shape) else None
    if n_per is None or x.size % n_per != 0:
        raise ValueError(f"calibration data {path} shape {list(x.shape)} is not a multiple of the model input {want_shape}")
    n = x.size // n_per
    x = x.reshape(n, n_per)[:max_samples]
    return x


def write_ezkl_data(path: str, arr) -> None:
    """EZKL data JSON: {"input_data": [flat list]}; several samples are concatenated."""
    import numpy as np

    flat = np.asarray(arr, dtype=np.float64).reshape(-1).tolist()
    with open(path, "w") as f:
        json.dump({"input_data": [flat]}, f)


# ---- SRS cache


def ensure_srs(runner: Runner, srs_dir: str, logrows: int, timeout: float) -> dict:
    os.makedirs(srs_dir, exist_ok=True)
    path = os.path.join(srs_dir, f"kzg{logrows}.srs")
    min_size = 1 << (logrows + 7)  # 2^k G1 points in two bases at 64 bytes, plus a small header/G2
    info = {"path": os.path.abspath(path), "logrows": logrows, "generated_locally": True}
    with open(os.path.join(srs_dir, f"kzg{logrows}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one generator per k across concurrent runs
        if os.path.exists(path) and os.path.getsize(path) >= min_size:
            info["cached"] = True
        else:
            tmp = f"{path}.tmp.{os.getpid()}"
            try:
                runner.run("gen_srs", {"srs_tmp": tmp, "logrows": logrows}, timeout)
                if os.path.getsize(tmp) < min_size:
                    raise StepFailed("gen_srs", f"SRS file {tmp} is only {os.path.getsize(tmp)} bytes")
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            info["cached"] = False
    info["bytes"] = os.path.getsize(path)
    return info


# ---- main pipeline


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="ONNX model (one input)")
    ap.add_argument("--input", help=".npy input: one sample, or a batch sliced with --index")
    ap.add_argument("--workdir", help="directory for settings, keys, witness, proof (cleared of old artifacts)")
    ap.add_argument("--out", help="result JSON path")
    ap.add_argument("--srs-dir", default=os.path.join(ROOT, "target", "ezkl-srs"),
                    help="cache of locally generated SRS files, kzg<k>.srs (default target/ezkl-srs)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per-step timeout in seconds (default 1800)")
    ap.add_argument("--index", type=int, default=None, help="sample index when --input/--expected hold a batch")
    ap.add_argument("--calib", default=None, help=".npy calibration batch (default: the input itself)")
    ap.add_argument("--calib-samples", type=int, default=16, help="use at most this many calibration samples (default 16)")
    ap.add_argument("--target", default="resources", choices=["resources", "accuracy"], help="calibration target")
    ap.add_argument("--max-logrows", type=int, default=None, help="cap on logrows during calibration")
    ap.add_argument("--input-visibility", default="public")
    ap.add_argument("--output-visibility", default="public")
    ap.add_argument("--param-visibility", default="fixed", help="fixed = weights baked into the verifying key")
    ap.add_argument("--expected", default=None, help="optional .npy reference output (float) to compare against")
    ap.add_argument("--cleanup", action="store_true", help="delete pk/witness/compiled circuit after the run (sizes are kept)")
    ap.add_argument("-q", "--quiet", action="store_true")
    # internal: child mode
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--step-args", help=argparse.SUPPRESS)
    ap.add_argument("--step-result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.step is None:
        missing = [f"--{n}" for n in ("model", "input", "workdir", "out") if getattr(a, n) is None]
        if missing:
            ap.error("missing " + ", ".join(missing))
    return a


def write_json(path: str, obj: dict) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.step is not None:
        return child_main(a.step, a.step_args, a.step_result)

    t_start = time.perf_counter()
    out_path = os.path.abspath(a.out)
    workdir = os.path.abspath(a.workdir)
    result: dict = {
        "schema": SCHEMA,
        "status": "running",
        "started_unix": int(time.time()),
        "ezkl_version": None,
        "model": {"path": os.path.abspath(a.model)},
        "input": {"path": os.path.abspath(a.input), "index": a.index},
        "steps": {},
    }
    step = "prepare"
    try:
        import numpy as np

        try:
            import ezkl  # only for its version; the work happens in child processes
            result["ezkl_version"] = getattr(ezkl, "__version__", None)
        except ImportError as e:
            raise StepFailed("prepare", f"cannot import ezkl ({e}); run scripts/ezkl/setup.sh and use target/ezkl-venv/bin/python")
        result["env"] = env_info()

        os.makedirs(workdir, exist_ok=True)
        for name in list(ART.values()):
            p = os.path.join(workdir, name)
            if os.path.exists(p):
                os.remove(p)
        shutil.rmtree(os.path.join(workdir, STEPS_DIR), ignore_errors=True)
        P = {k: os.path.join(workdir, v) for k, v in ART.items()}
        if not os.path.exists(a.model):
            raise StepFailed("prepare", f"model not found: {a.model}")
        if not os.path.exists(a.input):
            raise StepFailed("prepare", f"input not found: {a.input}")

        shapes, patches = prepare_model(a.model, P["model"])
        if len(shapes) != 1:
            raise StepFailed("prepare", f"model has {len(shapes)} inputs; only single-input models are supported")
        want_shape = shapes[0]["shape"]
        result["model"].update({"sha256": _sha256(a.model), "input_name": shapes[0]["name"],
                                "input_shape": want_shape, "patched_attributes": patches})
        x = load_input(a.input, want_shape, a.index)
        write_ezkl_data(P["input"], x)
        result["input"]["shape"] = list(x.shape)
        if a.calib:
            c = load_calibration(a.calib, want_shape, a.calib_samples)
            result["calibration"] = {"path": os.path.abspath(a.calib), "samples": int(c.shape[0])}
        else:
            c = x
            result["calibration"] = {"path": None, "samples": 1, "note": "calibrated on the input itself"}
        result["calibration"]["target"] = a.target
        write_ezkl_data(P["calib"], c)

        runner = Runner(workdir, a.timeout, result["steps"], not a.quiet)

        step = "gen_settings"
        runner.run(step, {"model": P["model"], "settings": P["settings"],
                          "input_visibility": a.input_visibility, "output_visibility": a.output_visibility,
                          "param_visibility": a.param_visibility})
        step = "calibrate_settings"
        runner.run(step, {"data": P["calib"], "model": P["model"], "settings": P["settings"],
                          "target": a.target, "max_logrows": a.max_logrows})
        step = "compile_circuit"
        runner.run(step, {"model": P["model"], "compiled": P["compiled"], "settings": P["settings"]})

        step = "read_settings"
        with open(P["settings"]) as f:
            s = json.load(f)
        ra = s.get("run_args", {})
        k = int(ra["logrows"])
        result["settings"] = {
            "logrows": k,
            "num_rows": s.get("num_rows"),
            "total_assignments": s.get("total_assignments"),
            "total_const_size": s.get("total_const_size"),
            "input_scale": ra.get("input_scale"),
            "param_scale": ra.get("param_scale"),
            "scale_rebase_multiplier": ra.get("scale_rebase_multiplier"),
            "model_input_scales": s.get("model_input_scales"),
            "model_output_scales": s.get("model_output_scales"),
            "lookup_range": ra.get("lookup_range"),
            "num_inner_cols": ra.get("num_inner_cols"),
            "decomp_base": ra.get("decomp_base"),
            "decomp_legs": ra.get("decomp_legs"),
            "input_visibility": ra.get("input_visibility"),
            "output_visibility": ra.get("output_visibility"),
            "param_visibility": ra.get("param_visibility"),
            "check_mode": s.get("check_mode", ra.get("check_mode")),
            "required_lookups": s.get("required_lookups"),
            "required_range_checks": s.get("required_range_checks"),
            "num_dynamic_lookups": s.get("num_dynamic_lookups"),
            "num_shuffles": s.get("num_shuffles"),
        }
        result["logrows"] = k
        result["num_rows"] = s.get("num_rows")

        step = "gen_srs"
        result["srs"] = ensure_srs(runner, os.path.abspath(a.srs_dir), k, a.timeout)
        srs = result["srs"]["path"]
        if result["srs"]["cached"]:
            result["steps"]["gen_srs"] = {"cached": True, "seconds": 0.0}

        step = "gen_witness"
        runner.run(step, {"input": P["input"], "compiled": P["compiled"], "witness": P["witness"]})
        result["output"] = read_output(P["witness"], s)
        if a.expected:
            result["output"]["vs_expected"] = compare_expected(a.expected, a.index, result["output"]["values"])

        step = "setup"
        runner.run(step, {"compiled": P["compiled"], "vk": P["vk"], "pk": P["pk"], "srs": srs})
        step = "prove"
        runner.run(step, {"witness": P["witness"], "compiled": P["compiled"], "pk": P["pk"],
                          "proof": P["proof"], "srs": srs})
        step = "verify"
        v = runner.run(step, {"proof": P["proof"], "settings": P["settings"], "vk": P["vk"], "srs": srs})
        result["verified"] = bool(v.get("verified"))

        with open(P["proof"]) as f:
            proof = json.load(f)
        result["sizes"] = {
            "pk_bytes": _size(P["pk"]),
            "vk_bytes": _size(P["vk"]),
            "proof_bytes": len(proof.get("proof") or []),
            "proof_json_bytes": _size(P["proof"]),
            "compiled_circuit_bytes": _size(P["compiled"]),
            "settings_bytes": _size(P["settings"]),
            "witness_bytes": _size(P["witness"]),
            "srs_bytes": result["srs"]["bytes"],
        }
        st = result["steps"]
        for name in ("setup", "prove", "verify"):
            result[f"{name}_s"] = st[name].get("seconds")
        result["gen_srs_s"] = st["gen_srs"].get("seconds")
        result["peak_rss_mib"] = {n: e["peak_rss_mib"] for n, e in st.items() if "peak_rss_mib" in e}
        result["max_peak_rss_mib"] = max(result["peak_rss_mib"].values())

        if a.cleanup:
            for key in ("pk", "witness", "compiled"):
                if os.path.exists(P[key]):
                    os.remove(P[key])
        step = "verify"
        if not result["verified"]:
            raise StepFailed("verify", "proof did not verify")
        result["status"] = "ok"
        result["total_seconds"] = round(time.perf_counter() - t_start, 3)
        write_json(out_path, result)
        if not a.quiet:
            print(f"[ezkl] ok: k={k} rows={result['num_rows']} setup={result['setup_s']:.2f}s "
                  f"prove={result['prove_s']:.2f}s verify={result['verify_s']:.3f}s "
                  f"peak={result['max_peak_rss_mib']:.0f}MiB -> {out_path}", file=sys.stderr)
        return 0
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, StepFailed):
            fstep, err = e.step, e.error
        elif isinstance(e, KeyboardInterrupt):
            fstep, err = step, "interrupted"
        else:
            fstep, err = step, f"{type(e).__name__}: {e}"
            result["traceback"] = traceback.format_exc()
        result["status"] = "failed"
        result["step"] = fstep
        result["error"] = err
        result["total_seconds"] = round(time.perf_counter() - t_start, 3)
        try:
            write_json(out_path, result)
        except OSError as we:
            print(f"[ezkl] cannot write {out_path}: {we}", file=sys.stderr)
        print(f"[ezkl] FAILED at {fstep}: {err}", file=sys.stderr)
        return 1


def read_output(witness_path: str, settings: dict) -> dict:
    """EZKL's own output, dequantised: pretty_elements.rescaled_outputs (fallback: felt_to_float)."""
    with open(witness_path) as f:
        w = json.load(f)
    scales = settings.get("model_output_scales") or []
    pe = w.get("pretty_elements") or {}
    if pe.get("rescaled_outputs"):
        outs = [[float(v) for v in o] for o in pe["rescaled_outputs"]]
    else:
        import ezkl

        outs = [[float(ezkl.felt_to_float(v, scales[i])) for v in o] for i, o in enumerate(w["outputs"])]
    vals = outs[0] if len(outs) == 1 else outs
    return {"values": vals, "scales": scales, "num_outputs": len(outs),
            "argmax": max(range(len(outs[0])), key=outs[0].__getitem__) if outs and outs[0] else None}


def compare_expected(path: str, index, values) -> dict:
    import numpy as np

    e = np.load(path).astype(np.float64)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if e.size != v.size:
        if e.ndim >= 2 and e.size // e.shape[0] == v.size:
            e = e[0 if index is None else index]
        else:
            return {"path": os.path.abspath(path), "error": f"shape {list(e.shape)} does not match {v.size} outputs"}
    e = e.reshape(-1)
    d = np.abs(e - v)
    return {"path": os.path.abspath(path), "max_abs_error": float(d.max()), "mean_abs_error": float(d.mean()),
            "argmax_expected": int(e.argmax()), "argmax_match": bool(int(e.argmax()) == int(v.argmax()))}


def env_info() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "load_avg_start": list(os.getloadavg())}
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    try:
        import psutil

        info["mem_total_mib"] = round(psutil.virtual_memory().total / 2**20)
        info["mem_available_mib_start"] = round(psutil.virtual_memory().available / 2**20)
    except ImportError:
        pass
    try:
        import numpy, onnx

        info["numpy"] = numpy.__version__
        info["onnx"] = onnx.__version__
    except ImportError:
        pass
    return info


if __name__ == "__main__":
    sys.exit(main())
