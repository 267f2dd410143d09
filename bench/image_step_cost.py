"""Per-step time and peak memory of RTB on the digits UNet prior, by posterior parametrisation and T.

    python bench/image_step_cost.py --json bench/results/image_step_cost_cpu.json [--steps 4] [--threads 1]

Each configuration runs in a fresh process (so peak RSS is its own): the digits prior and reward
classifier come from --cache (trained there on first use), evaluation is off, and the mean wall time
of training steps 2..N (step 1 warms up) and the growth of peak RSS over what the process held at
the start of training are reported. chunk_size 10 is the chunked exact gradient (memory flat in T);
chunk 0 keeps the whole trajectory's graph (memory grows with T) for contrast.
"""
import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = "residual + Langevin (both; default)"
CONFIGS = {   # name: overrides on top of domain=digits
    DEFAULT: [],
    "residual + Langevin (noisy)": ["sampler.langevin_at=noisy"],
    "residual + Langevin (denoised)": ["sampler.langevin_at=denoised"],
    "residual, no Langevin": ["sampler.langevin=false"],
    "copy of the UNet": ["posterior.init=copy", "sampler.langevin=false"],
}


def child(overrides, steps, threads, cache, out):
    import warnings
    import logging

    import torch
    import lightning as L

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(threads)
    sys.path.insert(0, str(REPO))
    from rtb_lightning.builders import build_posterior_run
    from rtb_lightning.callbacks import EvaluationCallback
    from rtb_lightning.config import load_config

    class Clock(L.Callback):
        def __init__(self):
            self.times, self.t0, self.rss0 = [], None, None

        def on_train_start(self, trainer, module):
            self.rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        def on_train_batch_start(self, *a):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, *a):
            self.times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as run:
        cfg = load_config(["domain=digits", f"cache_dir={cache}", f"trainer.max_steps={steps}", "eval.every_n_steps=0",
                           "trainer.enable_progress_bar=false", "posterior.log_z_init_samples=64",
                           f"checkpoint.every_n_steps={10 * steps}", f"run_dir={run}", *overrides])
        trainer, module, domain = build_posterior_run(cfg, Path(run))
        trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, EvaluationCallback)]
        clock = Clock()
        trainer.callbacks.append(clock)
        trainer.fit(module, datamodule=domain)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = clock.times[1:] or clock.times
    Path(out).write_text(json.dumps({"s_per_step": sum(t) / len(t), "rss_growth_mib": (peak - clock.rss0) / 1024,
                                     "peak_rss_mib": peak / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--T", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for name, extra in CONFIGS.items():
        for T in a.T:
            for chunk in ([10, 0] if name == DEFAULT else [10]):
                with tempfile.TemporaryDirectory() as d:
                    out = Path(d) / "r.json"
                    args = [*extra, f"process.num_steps={T}", f"posterior.chunk_size={chunk}"]
                    p = ctx.Process(target=child, args=(args, a.steps, a.threads, a.cache, str(out)))
                    p.start(), p.join()
                    r = json.loads(out.read_text()) if out.is_file() else {"error": f"exit code {p.exitcode}"}
                rows.append({"config": name, "T": T, "chunk_size": chunk, **r})
                print(rows[-1], flush=True)
    print(f"\n| posterior (digits UNet prior, batch 64, {a.threads} thread(s)) | T | chunk | s / step | peak RSS growth MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['config']} | {r['T']} | {r['chunk_size']} | failed: {r['error']} | |")
        else:
            print(f"| {r['config']} | {r['T']} | {r['chunk_size']} | {r['s_per_step']:.2f} | {r['rss_growth_mib']:.0f} |")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"rows": rows, "steps": a.steps, "threads": a.threads}, indent=2))


if __name__ == "__main__":
    main()
