"""Benchmark: one RTB training iteration on the 2-D toy, ours vs a straightforward reference.

    python bench/toy2d.py                                   # full run, prints a table (~3 min idle, 2 cores)
    python bench/toy2d.py --json bench/results/toy2d.json   # ... and writes every number as JSON
    python bench/toy2d.py --quick                           # smoke test (T=20,200; 2 timed iterations)

Run it on an otherwise idle machine: the table's "busy others" column says how many cores other
processes used while timing, and a warning is printed above 0.25 (two-thread OpenMP regions stall
whenever the OS deschedules one of their threads, so a busy machine inflates times several-fold,
worst for the reference's thousands of tiny ops).

What is compared (same network, batch, schedule and reward on both sides)
-------------------------------------------------------------------------
Network: TimeMLP, 4 layers, 64 hidden, time embedding 64 (the prior randomly initialised with a
fixed seed - fine for timing; the posterior is an exact copy, posterior.init=copy). Process: a VP
chain (linear schedule, 1000 training steps respaced to T sampling steps, small variance, std floor
0.01). Batch 500, all trajectories on-policy, no exploration, reward = the toy2d domain's log r
(log N9 - log p25), Adam (lr 1e-3, log Z lr 0.1). Everything is float32.

(a) "ours": an RTBLightningModule built by rtb_lightning.builders (build_domain, build_process,
    build_network, build_posterior, build_module) from conf/config.yaml plus the overrides above;
    one iteration = opt.zero_grad(); module.accumulate_gradients(None, step); opt.step().
    No Trainer is needed: the optimizer comes from module.configure_optimizers() (an lr scheduler,
    if configured, is ignored) and log Z initialisation is skipped by setting module.log_z_ready
    (_init_log_z runs in on_fit_start and reads self.trainer). accumulate_gradients runs a no-grad
    sampling loop that also scores the posterior (T network calls of B rows), a batched no-grad
    prior pass (B*T rows, chunked), then the exact chunked gradient: recompute the posterior
    log-probs with grad chunk by chunk over time and backpropagate delta * chunk sum
    (notes/rtb.md section 3).
    posterior.chunk_size = 20 at both T (10,000 rows per network call at batch 500): measured best.
    Whole-trajectory chunks are slower on this CPU (T=100, 2 threads, interleaved runs: chunk 0
    0.19-0.22 s vs chunk 20 0.16-0.21 s per iteration; single-thread CPU time chunk 0 ~0.26-0.30 s
    vs ~0.20 s for chunks 10-20) because 50,000-row activations (12.8 MB each) spill out of cache
    and the step turns memory-bound (SiLU and its backward alone 2x slower); chunks of 5,000-10,000
    rows are the plateau, smaller ones pay per-call overhead. Override with --chunk-short /
    --chunk-long.
(b) "reference": what most research code does, written in this file: one autograd graph through
    a Python loop over all T steps; each step calls the posterior (with grad) and the prior (no
    grad) on the current batch, samples the next state (detached), accumulates log p_post and
    log p_prior; loss = mean (log Z + sum log p_post - sum log p_prior - log r)^2; backward; Adam.

Both are run at T=100 and T=1000.

How it is measured
------------------
* Threads: torch.set_num_threads(2) (and OMP_NUM_THREADS=MKL_NUM_THREADS=2) in every measurement
  process (--threads to change).
* Time: for each T, ours and the reference run in one fresh process with their iterations
  interleaved (ours, reference, ours, ...) so that both see the same machine load; after --warmup
  untimed iterations each, time.perf_counter around the whole iteration (Adam step included).
  s/iter = median of --iters (T=100, default 20) / --iters-long (T=1000, default 4) iterations;
  speedup = reference median / ours median (also the median of per-pair ratios).
  The process CPU time of each iteration is recorded too (cpu_s in the JSON).
* Peak memory: every configuration runs alone in its own fresh subprocess. After the models,
  optimizer and process are built (and a gc.collect()), the current resident set (VmRSS) is the
  baseline and the kernel's peak-RSS counter is reset (`echo 5 > /proc/self/clear_refs`,
  Linux >= 4.0; this resets getrusage's ru_maxrss too). After --mem-iters iterations,
  peak growth = VmHWM (= ru_maxrss) - baseline: the extra resident memory a training iteration
  needs. These processes run with MALLOC_MMAP_THRESHOLD_=131072 (--malloc fixed, the default):
  glibc's default dynamic threshold moves freed blocks of up to 32 MiB into its heap, where
  fragmentation keeps them resident, so RSS growth then depends on allocation history rather
  than on live memory (ours at T=1000, chunk 10: +38 MiB after 1 iteration, +68 MiB after 2, vs a
  steady +26 MiB with the fixed threshold). --malloc default measures the untuned process. If clear_refs
  cannot be written, the fallback is ru_maxrss(after) - VmRSS(baseline), flagged in the output.
  tracemalloc is not used: it does not see torch's tensor allocations.
* Time breakdown of ours (--breakdown-iters extra iterations after the timed ones): wall time in
  the sampling loop (process.sample, posterior scored on the fly), the prior pass
  (scorer.log_ref), the reward, the chunked gradient (recompute forward + backward), the rest of
  accumulate_gradients ('other') and the Adam step.
* FLOPs, counted analytically: a Linear(in, out) costs 2*in*out FLOPs per row forward and twice
  that backward (input grad + weight grad). Per row, F = sum over the network's Linears of
  2*in*out (this TimeMLP: inp 2->64, time 64->64, 3 x 64->64, out 64->2: F = 33,280 FLOPs).
  A pass over a batch of trajectories processes B*T rows.
    ours      = B*T*F * (1 sampling + 1 prior + 1 recompute forward + 2 backward) = 5*B*T*F
    reference = B*T*F * (1 posterior + 1 prior + 2 backward)                      = 4*B*T*F
  (SiLU, sin/cos, log-probs are not counted; autograd skips the input grad of the first layers;
  so both are slight over-counts of the needed matmul work.) GFLOP/s = FLOPs / median time,
  next to a float32 2048x2048 @ 2048x2048 matmul (best of 20 calls: the machine's peak; the
  median is in the JSON) in a process with the same thread count: gflops_fraction_of_matmul = ours' GFLOP/s / the matmul's (T=100; *_T1000 too).

JSON (--json PATH): speedup_vs_reference (T=100), speedup_vs_reference_T1000, speedup_pairwise_median(_T1000),
memory_ratio_T1000_vs_T100 (ours), reference_memory_ratio_T1000_vs_T100, gflops_fraction_of_matmul,
gflops_fraction_of_matmul_T1000, GFLOP/s of each, others_cores_max, targets_met, and the raw
numbers under "runs" (times, CPU times, memory, breakdown), "matmul" and "settings".
Targets (issue 2, item 6): ours >= 1.3x faster than the reference at T=100; ours' peak memory at
T=1000 <= 1.3x that at T=100 while the reference's grows with T.
"""
import argparse
import gc
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
DEFAULT_CHUNK = 20        # time steps per gradient chunk: 10,000 rows at batch 500 (see above)


# ----------------------------------------------------------------------------- memory helpers
def _status_kib(field):
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) if m else None


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kib():
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ----------------------------------------------------------------------------- building blocks
def _setup_torch(threads=THREADS):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return torch


def build_ours(steps, batch, chunk):
    """An RTBLightningModule from the project's config and builders, plus its Adam optimizer."""
    import torch

    sys.path.insert(0, str(ROOT))
    from rtb_lightning.builders import build_domain, build_module, build_network, build_posterior, build_process
    from rtb_lightning.config import load_config

    from omegaconf import OmegaConf

    wanted = {
        "process.kind": "vp", "process.num_steps": steps, "process.num_train_steps": 1000,
        "process.schedule": "linear", "process.variance": "small", "process.min_std": 0.01,
        "prior.network.hidden": 64, "prior.network.layers": 4, "prior.network.time_dim": 64,
        "prior.network.fourier_features": 0,
        "posterior.init": "copy", "posterior.batch_size": batch, "posterior.chunk_size": chunk,
        "posterior.lr": 0.001, "posterior.log_z_lr": 0.1, "posterior.lr_schedule": "constant",
        "posterior.grad_clip": 0.0,
        "sampling.on_policy": 1.0, "sampling.buffer": 0.0, "sampling.prior": 0.0,
        "exploration.std": 0.0, "exploration.end_std": 0.0, "method.loss_clip": 0.0,
    }
    # Only keys this checkout's config knows (the package evolves; e.g. lr_schedule is newer).
    base = load_config(["method=rtb"])
    cfg = load_config(["method=rtb"] + [f"{k}={v}" for k, v in wanted.items()
                                        if OmegaConf.select(base, k, default="__missing__") != "__missing__"])
    domain = build_domain(cfg, "posterior")
    process = build_process(cfg, domain)
    prior = build_network(cfg.prior.network, domain)          # randomly initialised: fine for timing
    posterior = build_posterior(cfg, prior, domain, process)   # an exact copy of the prior
    module = build_module(cfg, domain, process, prior, posterior)
    module.log_z_ready.fill_(True)         # skip _init_log_z: it runs in on_fit_start and needs self.trainer
    opt = module.configure_optimizers()    # torch.optim.Adam, usable without a Trainer
    while not isinstance(opt, torch.optim.Optimizer):   # ([opt], [scheduler]) / {"optimizer": opt}
        opt = opt["optimizer"] if isinstance(opt, dict) else opt[0]
    return cfg, domain, process, prior, posterior, module, opt


def make_ours_step(module, opt):
    def step(i):
        opt.zero_grad(set_to_none=True)
        loss, _ = module.accumulate_gradients(None, i)
        opt.step()
        return loss
    return step


def make_reference_step(process, prior, posterior, log_reward, batch, lr, log_z_lr):
    """The straightforward step: one autograd graph through a Python loop over all T steps."""
    import torch

    log_z = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([{"params": posterior.parameters(), "lr": lr},
                            {"params": [log_z], "lr": log_z_lr}])
    T, d = process.num_steps, math.prod(process.event_shape)
    # Schedule as Python floats, as research code keeps it.
    t_in = process.t_in.tolist()
    eps_coef = process.eps_coef.tolist()
    inv_sqrt_alpha = process.inv_sqrt_alpha.tolist()
    std = process.std.tolist()
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def normal_log_prob(x, mean, s):
        z = (x - mean) / s
        return (-0.5 * z * z).sum(-1) - d * (math.log(s) + half_log_2pi)

    def step(i):
        x = torch.randn(batch, *process.event_shape)
        log_p_post = torch.zeros(batch)
        log_p_prior = torch.zeros(batch)
        for k in range(T):
            t = torch.full((batch,), t_in[k])
            eps_q = posterior(x, t)                       # with grad
            with torch.no_grad():
                eps_p = prior(x, t)
            mean_q = (x - eps_coef[k] * eps_q) * inv_sqrt_alpha[k]
            mean_p = (x - eps_coef[k] * eps_p) * inv_sqrt_alpha[k]
            x_next = (mean_q + std[k] * torch.randn_like(x)).detach()
            log_p_post = log_p_post + normal_log_prob(x_next, mean_q, std[k])
            log_p_prior = log_p_prior + normal_log_prob(x_next, mean_p, std[k])
            x = x_next
        log_r = log_reward(x)
        loss = (log_z + log_p_post - log_p_prior - log_r).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def flops_per_row(net):
    """2*in*out summed over the network's Linear layers: forward FLOPs per input row."""
    import torch

    return sum(2 * m.in_features * m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))


# ----------------------------------------------------------------------------- contention monitor
def _cpu_snapshot():
    """(wall s, machine-wide busy CPU s, this process's CPU s) for measuring other processes' load."""
    f = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(f) - f[3] - (f[4] if len(f) > 4 else 0)          # minus idle, iowait
    t = os.times()
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), t.user + t.system


def _others_cores(a, b):
    """Average number of cores other processes kept busy between two snapshots."""
    wall = b[0] - a[0]
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / wall) if wall > 0 else 0.0


def wait_for_idle(max_wait, threshold=0.25, quiet_s=3.0):
    """Wait up to max_wait s until other processes use < threshold cores for quiet_s s in a row."""
    t_end, quiet, waited = time.time() + max_wait, 0.0, time.time()
    while time.time() < t_end:
        a = _cpu_snapshot()
        time.sleep(1.0)
        quiet = quiet + 1.0 if _others_cores(a, _cpu_snapshot()) < threshold else 0.0
        if quiet >= quiet_s:
            break
    return time.time() - waited


# ----------------------------------------------------------------------------- measurement processes
def _timed_loop(steps_fns, warmup, iters):
    """Run several step functions interleaved (a, b, a, b, ...) so they see the same machine load."""
    for i in range(warmup):
        for fn in steps_fns.values():
            fn(i)
    times, cpu = {k: [] for k in steps_fns}, {k: [] for k in steps_fns}
    snap0 = _cpu_snapshot()
    for i in range(iters):
        for k, fn in steps_fns.items():
            c0, t0 = os.times(), time.perf_counter()
            fn(warmup + i)
            t1, c1 = time.perf_counter(), os.times()
            times[k].append(t1 - t0)
            cpu[k].append((c1.user + c1.system) - (c0.user + c0.system))
    return times, cpu, _others_cores(snap0, _cpu_snapshot())


def timing_worker(spec):
    """Ours and the reference in one process, iterations interleaved; times only."""
    import copy

    torch = _setup_torch(spec["threads"])
    steps, batch, chunk = spec["steps"], spec["batch"], spec["chunk"]
    cfg, domain, process, prior, posterior, module, opt = build_ours(steps, batch, chunk)
    ref_post = copy.deepcopy(posterior)                      # its own trainable copy; the prior is frozen
    fns = {"ours": make_ours_step(module, opt),
           "reference": make_reference_step(process, prior, ref_post, domain.log_reward, batch,
                                            cfg.posterior.lr, cfg.posterior.log_z_lr)}
    times, cpu, others = _timed_loop(fns, spec["warmup"], spec["iters"])
    f_row = flops_per_row(posterior)
    out = {}
    for k, ts in times.items():
        passes = 5 if k == "ours" else 4
        r = dict(kind=k, steps=steps, batch=batch, chunk=chunk if k == "ours" else None, times_s=ts,
                 sec_per_iter=statistics.median(ts), cpu_s=cpu[k], cpu_sec_per_iter=statistics.median(cpu[k]), flops_per_row_forward=f_row,
                 passes_forward_equiv=passes, flops_per_iter=passes * batch * steps * f_row,
                 others_cores_during_timing=others)
        r["gflops"] = r["flops_per_iter"] / r["sec_per_iter"] / 1e9
        out[k] = r
    if spec["breakdown_iters"]:
        out["ours"]["breakdown_s"] = _breakdown(module, opt, spec["breakdown_iters"], spec["warmup"] + spec["iters"])
    return out


def memory_worker(spec):
    """One configuration alone in this fresh process: peak resident memory growth of its iterations."""
    torch = _setup_torch(spec["threads"])
    kind, steps, batch, chunk = spec["kind"], spec["steps"], spec["batch"], spec["chunk"]
    cfg, domain, process, prior, posterior, module, opt = build_ours(steps, batch, chunk)
    if kind == "ours":
        step = make_ours_step(module, opt)
    else:
        step = make_reference_step(process, prior, posterior, domain.log_reward, batch,
                                   cfg.posterior.lr, cfg.posterior.log_z_lr)
    gc.collect()
    baseline_kib = _status_kib("VmRSS")
    exact = _reset_peak_rss()
    if not exact:
        print("[bench] /proc/self/clear_refs not writable: peak memory falls back to ru_maxrss "
              "(may overstate growth)", file=sys.stderr)
    times = []
    for i in range(spec["iters"]):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    peak_kib = _peak_rss_kib()
    return dict(kind=kind, steps=steps, chunk=chunk if kind == "ours" else None, iters=spec["iters"],
                times_s=times, baseline_rss_mib=baseline_kib / 1024, peak_rss_mib=peak_kib / 1024,
                peak_growth_mib=(peak_kib - baseline_kib) / 1024,
                peak_method="VmHWM after clear_refs" if exact else "ru_maxrss (no reset)")


def worker(spec):
    return {"timing": timing_worker, "memory": memory_worker, "matmul": matmul_worker}[spec["mode"]](spec)


def _breakdown(module, opt, n, first_step):
    """Median wall time of the parts of our step, via timers wrapped around disjoint inner calls
    (instance attributes, restored afterwards): the sampling loop (process.sample, which also
    scores the posterior), the prior pass (scorer.log_ref, or module.log_ref in older versions),
    the reward, and the chunked gradient (recompute forward + backward); 'other' is the rest of
    accumulate_gradients (batch assembly, objective)."""
    import rtb_lightning.module as mod

    acc = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            r = fn(*a, **k)
            acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0
            return r
        return wrapper

    ref_owner = getattr(module, "scorer", None) or module
    patches = [(module.process, "sample", "sampling loop"), (ref_owner, "log_ref", "prior pass"),
               (module, "reward", "reward"), (mod, "chunked_backward", "chunked gradient (recompute fwd + bwd)")]
    saved = []
    for owner, attr, label in patches:
        if hasattr(owner, attr):
            had_own = attr in vars(owner)
            saved.append((owner, attr, vars(owner)[attr] if had_own else None, had_own))
            setattr(owner, attr, timed(label, getattr(owner, attr)))
    rows = []
    try:
        for i in range(n):
            acc.clear()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            module.accumulate_gradients(None, first_step + i)
            t1 = time.perf_counter()
            opt.step()
            t2 = time.perf_counter()
            acc["other"] = (t1 - t0) - sum(acc.values())
            acc["adam step"] = t2 - t1
            acc["total"] = t2 - t0
            rows.append(dict(acc))
    finally:
        for owner, attr, value, had_own in saved:
            if had_own:
                setattr(owner, attr, value)
            else:
                delattr(owner, attr)
    return {k: statistics.median(r.get(k, 0.0) for r in rows) for k in rows[0]}


def matmul_worker(spec):
    torch = _setup_torch(spec["threads"])
    n = spec["matmul_n"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(2):
        torch.mm(a, b, out=c)
    times = []
    snap0 = _cpu_snapshot()
    for _ in range(spec["iters"]):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    t = min(times)             # the machine's peak: the best of the repeats (the median is kept too)
    return dict(kind="matmul", n=n, times_s=times, sec=t, gflops=2 * n ** 3 / t / 1e9,
                gflops_median=2 * n ** 3 / statistics.median(times) / 1e9,
                others_cores_during_timing=_others_cores(snap0, _cpu_snapshot()))


def run_in_subprocess(spec, extra_env=None):
    n = str(spec["threads"])
    env = dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **(extra_env or {}))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench worker failed for {spec}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=20, help="timed iterations of each step at the short T (default 20)")
    p.add_argument("--iters-long", type=int, default=4, help="timed iterations of each step at the long T (default 4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up iterations of each step (default 1)")
    p.add_argument("--mem-iters", type=int, default=2, help="iterations per memory subprocess (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 warm-up + 2 timed iterations, T=20,200 unless --steps, no waiting")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--steps", default=None, help="short,long trajectory lengths (default 100,1000; --quick: 20,200)")
    p.add_argument("--chunk-short", type=int, default=DEFAULT_CHUNK, help="our posterior.chunk_size at the short T")
    p.add_argument("--chunk-long", type=int, default=DEFAULT_CHUNK, help="our posterior.chunk_size at the long T")
    p.add_argument("--breakdown-iters", type=int, default=3, help="extra iterations for our time breakdown")
    p.add_argument("--matmul-n", type=int, default=2048)
    p.add_argument("--wait-idle", type=float, default=20.0,
                   help="before each timing process, wait up to this many seconds for other processes to "
                        "go idle (default 20; 0: don't wait)")
    p.add_argument("--threads", type=int, default=THREADS,
                   help=f"torch.set_num_threads in every measurement process (default {THREADS}, the spec's)")
    p.add_argument("--malloc", choices=("fixed", "default"), default="fixed",
                   help="glibc malloc in the memory processes: 'fixed' sets MALLOC_MMAP_THRESHOLD_=131072 so "
                        "freed tensors >= 128 KiB go back to the OS and RSS tracks live memory (default); "
                        "'default' keeps glibc's dynamic threshold (RSS then includes retained heap)")
    p.add_argument("--json", metavar="PATH", help="write all numbers as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.iters, args.iters_long, args.warmup, args.mem_iters, args.breakdown_iters = 2, 2, 1, 2, 1
        args.wait_idle = 0.0
    steps_arg = args.steps or ("20,200" if args.quick else "100,1000")
    short, long_ = (int(s) for s in steps_arg.split(","))
    t_start = time.time()

    print(f"# toy2d RTB step benchmark: batch {args.batch}, TimeMLP 4x64, torch.set_num_threads({args.threads}); "
          f"timing: ours and reference interleaved in one process per T; memory: one fresh process per "
          f"configuration", flush=True)
    malloc_env = {"MALLOC_MMAP_THRESHOLD_": "131072"} if args.malloc == "fixed" else {}
    runs = {}
    for steps, iters, chunk in ((short, args.iters, args.chunk_short), (long_, args.iters_long, args.chunk_long)):
        waited = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else 0.0
        t0 = time.time()
        tim = run_in_subprocess(dict(mode="timing", steps=steps, batch=args.batch, chunk=chunk, threads=args.threads,
                                     warmup=args.warmup, iters=iters, breakdown_iters=args.breakdown_iters))
        print(f"  timed T={steps}: ours {tim['ours']['sec_per_iter']:.3f} s/iter, reference "
              f"{tim['reference']['sec_per_iter']:.3f} s/iter ({iters} iters each, {time.time() - t0:.0f} s; "
              f"waited {waited:.0f} s for idle; other processes used "
              f"{tim['ours']['others_cores_during_timing']:.2f} cores meanwhile)", flush=True)
        for kind in ("ours", "reference"):
            t0 = time.time()
            mem = run_in_subprocess(dict(mode="memory", kind=kind, steps=steps, batch=args.batch, chunk=chunk,
                                         threads=args.threads, iters=args.mem_iters), malloc_env)
            mem["malloc"] = args.malloc
            r = tim[kind]
            r.update(memory=mem, peak_growth_mib=mem["peak_growth_mib"])
            runs[f"{kind}_T{steps}"] = r
            print(f"  memory {kind:9s} T={steps:<5d}: peak +{mem['peak_growth_mib']:.0f} MiB "
                  f"({time.time() - t0:.0f} s)", flush=True)
    waited = wait_for_idle(min(args.wait_idle, 10)) if args.wait_idle > 0 else 0.0
    mm = run_in_subprocess(dict(mode="matmul", matmul_n=args.matmul_n, threads=args.threads,
                                iters=3 if args.quick else 20))

    o_s, r_s, o_l, r_l = (runs[f"{k}_T{t}"] for t in (short, long_) for k in ("ours", "reference"))
    res = {
        "speedup_vs_reference": r_s["sec_per_iter"] / o_s["sec_per_iter"],
        "speedup_vs_reference_T1000": r_l["sec_per_iter"] / o_l["sec_per_iter"],
        # Median over interleaved (ours, reference) iteration pairs: robust to slow drifts of machine speed.
        "speedup_pairwise_median": statistics.median(r / o for o, r in zip(o_s["times_s"], r_s["times_s"])),
        "speedup_pairwise_median_T1000": statistics.median(r / o for o, r in zip(o_l["times_s"], r_l["times_s"])),
        "memory_ratio_T1000_vs_T100": o_l["peak_growth_mib"] / o_s["peak_growth_mib"],
        "reference_memory_ratio_T1000_vs_T100": r_l["peak_growth_mib"] / r_s["peak_growth_mib"],
        "gflops_ours": o_s["gflops"], "gflops_ours_T1000": o_l["gflops"],
        "gflops_reference": r_s["gflops"], "gflops_reference_T1000": r_l["gflops"], "gflops_matmul": mm["gflops"],
        "gflops_fraction_of_matmul": o_s["gflops"] / mm["gflops"],
        "gflops_fraction_of_matmul_T1000": o_l["gflops"] / mm["gflops"],
        "others_cores_max": max([r["others_cores_during_timing"] for r in runs.values()]
                                + [mm["others_cores_during_timing"]]),
    }
    if (short, long_) != (100, 1000):
        res["note"] = f"T={short},{long_} (not 100,1000): the *_T1000 / T1000_vs_T100 keys refer to these"
    res["targets_met"] = {
        "speedup_ge_1.3_at_T100": res["speedup_vs_reference"] >= 1.3,
        "ours_memory_ratio_le_1.3": res["memory_ratio_T1000_vs_T100"] <= 1.3,
        "reference_memory_grows": res["reference_memory_ratio_T1000_vs_T100"] > 1.3,
    }
    res["settings"] = dict(batch=args.batch, steps=[short, long_], chunk_short=args.chunk_short,
                           chunk_long=args.chunk_long, warmup=args.warmup, iters=args.iters,
                           iters_long=args.iters_long, mem_iters=args.mem_iters, threads=args.threads, malloc=args.malloc,
                           quick=args.quick, network="TimeMLP layers=4 hidden=64 time_dim=64",
                           process="VP linear, 1000 train steps respaced to T, small variance, min_std 0.01",
                           torch=__import__("torch").__version__, python=platform.python_version(),
                           machine=platform.machine(), cpu=_cpu_name(), nproc=os.cpu_count(),
                           bench_wall_s=time.time() - t_start)
    res["matmul"] = mm
    res["runs"] = runs

    print()
    hdr = (f"{'config':16s} {'chunk':>5s} {'s/iter':>8s} {'min':>7s} {'peak +MiB':>10s} {'GFLOP/iter':>11s} "
           f"{'GFLOP/s':>8s} {'busy others':>11s}")
    print(hdr)
    print("-" * len(hdr))
    for name, r in runs.items():
        print(f"{name:16s} {str(r['chunk'] if r['chunk'] is not None else '-'):>5s} {r['sec_per_iter']:8.3f} "
              f"{min(r['times_s']):7.3f} {r['peak_growth_mib']:10.1f} {r['flops_per_iter'] / 1e9:11.2f} "
              f"{r['gflops']:8.2f} {r['others_cores_during_timing']:11.2f}")
    print(f"{'matmul ' + str(mm['n']) + '^3':16s} {'':>5s} {statistics.median(mm['times_s']):8.3f} {min(mm['times_s']):7.3f} {'':>10s} "
          f"{2 * mm['n'] ** 3 / 1e9:11.2f} {mm['gflops']:8.2f} {mm['others_cores_during_timing']:11.2f}")
    print("(s/iter: median; min: fastest iteration; peak +MiB: peak RSS growth over the post-construction "
          "baseline, fresh process; busy others: cores used by other processes while timing; the matmul's GFLOP/s is "
          "from its fastest call)")
    print()
    print(f"speedup ours vs reference (ratio of medians):  T={short}: {res['speedup_vs_reference']:.2f}x   "
          f"T={long_}: {res['speedup_vs_reference_T1000']:.2f}x   (target >= 1.3x at T={short}); "
          f"median of interleaved pairs: {res['speedup_pairwise_median']:.2f}x / "
          f"{res['speedup_pairwise_median_T1000']:.2f}x")
    print(f"peak memory T={long_} / T={short}:  ours {res['memory_ratio_T1000_vs_T100']:.2f}   "
          f"reference {res['reference_memory_ratio_T1000_vs_T100']:.2f}   (target: ours <= 1.3, reference grows)")
    print(f"ours GFLOP/s as a fraction of a {mm['n']}^3 matmul ({mm['gflops']:.1f} GFLOP/s):  "
          f"T={short}: {res['gflops_fraction_of_matmul']:.3f}   T={long_}: {res['gflops_fraction_of_matmul_T1000']:.3f}")
    for name in (f"ours_T{short}", f"ours_T{long_}"):
        b = runs[name].get("breakdown_s")
        if b:
            print(f"{name} time breakdown (median of {args.breakdown_iters}): " +
                  ", ".join(f"{k} {v:.3f}s" for k, v in b.items()))
    print("targets met: " + ", ".join(f"{k}={v}" for k, v in res["targets_met"].items()))
    if res["others_cores_max"] > 0.25:
        print(f"WARNING: other processes kept up to {res['others_cores_max']:.2f} of {os.cpu_count()} cores busy "
              f"while timing; times (especially the reference's many small 2-thread ops) are inflated. "
              f"Rerun on an idle machine.")
    if o_s["memory"]["peak_method"] != "VmHWM after clear_refs":
        print("note: peak memory fell back to ru_maxrss without reset (may overstate growth)")
    print(f"bench wall time {time.time() - t_start:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
