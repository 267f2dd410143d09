"""rtb-lightning entry point: config -> objects -> trainer.fit. See README.md."""
import os
import sys
import time

from omegaconf import OmegaConf

from rtb_lightning.errors import UserError


def main(argv):
    start = time.time()
    import lightning as L

    from rtb_lightning.builders import build_posterior_run, resolve_run_dir, set_cpu_threads, train_prior
    from rtb_lightning.checkpoint_io import atomic_write_text
    from rtb_lightning.config import load_config

    cfg = load_config(argv)
    run_dir = resolve_run_dir(cfg)
    set_cpu_threads(cfg)
    L.seed_everything(cfg.seed, verbose=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0:
        atomic_write_text(OmegaConf.to_yaml(cfg), run_dir / "config.yaml")
    if cfg.stage == "prior":
        train_prior(cfg, run_dir)
        return
    if cfg.stage == "classifier":
        from rtb_lightning.reward_builders import train_classifiers

        train_classifiers(cfg, run_dir)
        return
    from rtb_lightning.baselines import TRAINING_FREE, run_guidance

    if cfg.method.name in TRAINING_FREE:      # training-free baselines: a guidance-scale sweep, no trainer
        run_guidance(cfg, run_dir, start)
        return
    trainer, module, domain = build_posterior_run(cfg, run_dir, start)
    trainer.logger.log_hyperparams(_flat(OmegaConf.to_container(cfg)))
    trainer.fit(module, datamodule=domain)


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": str(v) if isinstance(v, list) else v})
    return out


if __name__ == "__main__":
    argv = sys.argv[1:]
    debug = any(a in ("debug=true", "debug=True") for a in argv)
    try:
        main(argv)
    except UserError as e:
        if debug:
            raise
        print(f"error: {e.message}" + (f"\n  hint: {e.hint}" if e.hint else ""), file=sys.stderr)
        sys.exit(2)
