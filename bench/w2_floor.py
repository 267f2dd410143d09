"""The noise floor of W2^2 on each energy: exact EMD between two independent sets of exact samples.

    python bench/w2_floor.py --n 2000 --pairs 3 --json bench/results/w2_floor.json

A sampler's `w2_sq` (same n) cannot be expected below this (nor its `w2` below the root's floor); on heavy-tailed energies (Funnel) the
floor itself is large and varies a lot between pairs, so W2^2 says little there.
"""
import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rtb_lightning.domains.energies import Funnel, GMM25, Manywell  # noqa: E402
from rtb_lightning.metrics.emd import w2_sq  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="samples per set (the evaluation's eval.num_samples)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    out = {}
    print(f"| energy | W2^2 between two exact sets of {a.n} (mean ± std over {a.pairs} pairs) | W2 (root per pair) | per pair (W2^2) |")
    print("|---|---|---|---|")
    for name, cls in (("gmm25", GMM25), ("funnel", Funnel), ("manywell", Manywell)):
        d = cls()
        vals = [w2_sq(d.sample(a.n, torch.Generator().manual_seed(2 * i)), d.sample(a.n, torch.Generator().manual_seed(2 * i + 1)))
                for i in range(a.pairs)]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        roots = [math.sqrt(v) for v in vals]
        rsd = statistics.stdev(roots) if len(roots) > 1 else 0.0
        out[name] = {"mean": statistics.mean(vals), "std": sd, "pairs": vals, "w2_mean": statistics.mean(roots), "w2_std": rsd}
        print(f"| {name} | {statistics.mean(vals):.2f} ± {sd:.2f} | {statistics.mean(roots):.3f} ± {rsd:.3f} | "
              f"{' / '.join(f'{v:.2f}' for v in vals)} |", flush=True)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"n": a.n, "pairs": a.pairs, "floor": out}, indent=2))


if __name__ == "__main__":
    main()
