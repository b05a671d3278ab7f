"""Compare two .npy files: max relative error (max |a-b| / max |b|) and argmax agreement.

Usage: python scripts/compare_outputs.py OURS.npy REFERENCE.npy [--tol 1e-4]
Exit 0 when the relative error is within the tolerance.
"""
import argparse
import sys

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("reference")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    ours = np.load(args.ours).astype(np.float64)
    ref = np.load(args.reference).astype(np.float64)
    if ours.shape != ref.shape:
        print(f"shape mismatch: {ours.shape} vs {ref.shape}")
        return 1
    rel = float(np.max(np.abs(ours - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
    same = bool(np.argmax(ours.reshape(ours.shape[0], -1), axis=1).tolist()
                == np.argmax(ref.reshape(ref.shape[0], -1), axis=1).tolist())
    print(f"max relative error {rel:.2e}, argmax equal: {same}")
    return 0 if rel <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
