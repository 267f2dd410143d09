"""rtb-lightning entry point: config -> objects -> trainer.fit. See README.md."""
import os
import sys
import time

from omegaconf import OmegaConf

from rtb_lightning.errors import UserError


def main(argv):
    start = time.time()
    import lightning as L

    from rtb_lightning.builders import (build_posterior_run, make_dataset, resolve_run_dir, set_cpu_threads,
                                        train_critic_stage, train_prior, train_reward_model)
    from rtb_lightning.checkpoint_io import atomic_write_text
    from rtb_lightning.config import load_config
    from rtb_lightning.resume import check_compatible, resolve_checkpoint
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    cfg = load_config(argv)
    run_dir = resolve_run_dir(cfg)
    ckpt_path, ckpt = resolve_checkpoint(cfg.ckpt_path, run_dir)      # before anything slow runs
    set_cpu_threads(cfg)
    L.seed_everything(cfg.seed, verbose=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0:
        text, path = OmegaConf.to_yaml(cfg), run_dir / "config.yaml"
        if path.is_file() and path.read_text() != text:      # a resumed run with changes keeps the original
            path = run_dir / f"config-{time.strftime('%Y%m%d-%H%M%S')}.yaml"
        atomic_write_text(text, path)
    if cfg.stage == "prior":
        train_prior(cfg, run_dir)
        return
    if cfg.stage == "reward_model":
        train_reward_model(cfg, run_dir)
        return
    if cfg.stage == "dataset":
        make_dataset(cfg)
        return
    if cfg.stage == "critic":
        train_critic_stage(cfg, run_dir)
        return
    if cfg.stage == "generator":
        from rtb_lightning.generator_builders import train_generator

        train_generator(cfg, run_dir)
        return
    if cfg.stage == "classifier":
        from rtb_lightning.reward_builders import train_classifiers

        train_classifiers(cfg, run_dir)
        return
    from rtb_lightning.baselines import TRAINING_FREE, run_guidance

    if cfg.method.name in TRAINING_FREE:      # training-free baselines: a guidance-scale sweep, no trainer
        run_guidance(cfg, run_dir, start)
        return
    if cfg.method.name == "sir":              # the target itself by importance resampling of prior samples
        from rtb_lightning.target_resampling import run_resampling

        run_resampling(cfg, run_dir, start)
        return
    trainer, module, domain = build_posterior_run(cfg, run_dir, start)
    if ckpt is not None:
        check_compatible(module, ckpt, ckpt_path)
        print(f"[rtb] resuming from {ckpt_path} (step {ckpt.get('global_step', '?')})")
        del ckpt
    trainer.logger.log_hyperparams(_flat(OmegaConf.to_container(cfg)))
    try:
        trainer.fit(module, datamodule=domain, ckpt_path=None if ckpt_path is None else str(ckpt_path))
    except SIGTERMException:
        return             # preempted: PreemptionCheckpoint saved last.ckpt


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": str(v) if isinstance(v, list) else v})
    return out


def cli(argv) -> int:
    """Exit status: 0 done (or preempted and checkpointed), 2 a user error (one line + hint; debug=true re-raises)."""
    debug = any(a in ("debug=true", "debug=True") for a in argv)
    try:
        main(argv)
    except UserError as e:
        if debug:
            raise
        print(f"error: {e.message}" + (f"\n  hint: {e.hint}" if e.hint else ""), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
