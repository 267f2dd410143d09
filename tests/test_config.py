"""Config composition and validation: every bad input is a ConfigError that says what to do."""
import pytest
from omegaconf import OmegaConf

from rtb_lightning.config import load_config
from rtb_lightning.errors import ConfigError

from .helpers import run_train

# (argv, substrings the error must contain)
BAD = [
    (["trainer.max_stesp=3"], ["unknown config key 'trainer.max_stesp'", "trainer.max_steps"]),
    (["posterior.lrr=0.1"], ["unknown config key 'posterior.lrr'", "posterior.lr"]),
    (["exploraton.std=0.5"], ["unknown config key", "exploration.std"]),
    (["nosuchthing=1"], ["unknown config key 'nosuchthing'"]),
    (["trainer.max_steps=abc"], ["trainer.max_steps", "expected int"]),
    (["trainer.max_steps=1.5"], ["trainer.max_steps", "expected int"]),
    (["posterior.lr=fast"], ["posterior.lr", "expected float"]),
    (["process.num_steps=true"], ["process.num_steps", "expected int"]),
    (["trainer.enable_progress_bar=3"], ["trainer.enable_progress_bar", "expected bool"]),
    (["domain=nope"], ["unknown domain 'nope'", "toy2d"]),
    (["method=nope"], ["unknown method 'nope'", "rl_kl", "rtb", "tb", "vargrad", "dps", "cg", "ddpo"]),
    (["stage=foo"], ["stage='foo'", "prior", "posterior"]),
    (["process.kind=ode"], ["process.kind", "vp", "brownian"]),
    (["prior.kind=magic"], ["prior.kind", "trained", "analytic"]),
    (["reward.nonfinite=ignore"], ["reward.nonfinite", "error", "drop"]),
    (["trainer=3"], ["trainer is a group of settings", "trainer."]),
    (["process=vp"], ["process is a group of settings"]),
    (["max_steps"], ["cannot parse argument 'max_steps'", "key=value"]),
    (["--config"], ["--config needs a YAML file"]),
    (["--config", "/nonexistent/conf.yaml"], ["config file not found: /nonexistent/conf.yaml"]),
]


@pytest.mark.parametrize("argv,expect", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_raises_config_error(argv, expect):
    with pytest.raises(ConfigError) as e:
        load_config(argv)
    text = str(e.value)                                   # message + hint
    for s in expect:
        assert s in text, f"{s!r} not in {text!r}"


def test_unknown_key_hint_lists_closest_matches():
    with pytest.raises(ConfigError) as e:
        load_config(["trainer.max_stesp=3"])
    assert e.value.hint.startswith("did you mean") and "trainer.max_steps" in e.value.hint


def test_defaults_load_and_are_struct():
    cfg = load_config([])
    assert cfg.domain.name == "toy2d" and cfg.method.name == "rtb" and cfg.stage == "posterior"
    with pytest.raises(Exception):
        cfg.not_a_key                                     # struct mode: typos fail loudly later too


@pytest.mark.parametrize("text,value", [("1e-4", 1e-4), ("3e-3", 3e-3), ("0.5", 0.5), ("1", 1.0), ("-2E2", -200.0)])
def test_scientific_notation_parses_as_float(text, value):
    cfg = load_config([f"posterior.lr={text}"])
    assert isinstance(cfg.posterior.lr, float) and cfg.posterior.lr == value


def test_overrides_of_each_type():
    cfg = load_config(["trainer.max_steps=7", "trainer.enable_progress_bar=false", "run_dir=/tmp/x",
                       "process.kind=brownian", "trainer.devices=2", "trainer.strategy=ddp"])
    assert cfg.trainer.max_steps == 7 and cfg.trainer.enable_progress_bar is False
    assert cfg.run_dir == "/tmp/x" and cfg.process.kind == "brownian"
    assert cfg.trainer.devices == 2 and cfg.trainer.strategy == "ddp"


def test_group_choice_merges_the_group_file():
    cfg = load_config(["method=rl_kl"])
    assert cfg.method.name == "rl_kl"
    assert cfg.exploration.std == 0.0 and cfg.sampling.buffer == 0.0


def test_domain_tuning_beats_generic_defaults_and_command_line_wins_over_both():
    cfg = load_config(["domain=gmm25", "method=vargrad"])      # generic (config.yaml): std 0, fractions 0.5/0.2/0.3
    assert cfg.exploration.std == 2.0 and cfg.sampling.on_policy == 1.0 and cfg.sampling.prior == 0.0
    cfg = load_config(["domain=gmm25", "method=vargrad", "sampling.prior=0.25"])
    assert cfg.sampling.prior == 0.25
    assert load_config(["method=vargrad"]).sampling.prior == 0.3         # toy2d sets no fractions


def test_generator_shorthand_on_the_command_line_and_in_a_file(tmp_path):
    f = tmp_path / "g.yaml"
    f.write_text("generator: digits_flow\n")
    assert load_config(["domain=latent", "generator=digits_vae"]).generator.name == "digits_vae"
    assert load_config(["domain=latent", "--config", str(f)]).generator.name == "digits_flow"


def test_config_file_merge_and_command_line_precedence(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("trainer:\n  max_steps: 11\nexploration:\n  std: 0.25\nposterior:\n  batch_size: 64\n")
    cfg = load_config(["--config", str(f)])
    assert cfg.trainer.max_steps == 11 and cfg.exploration.std == 0.25 and cfg.posterior.batch_size == 64
    cfg = load_config(["-c", str(f), "trainer.max_steps=3"])
    assert cfg.trainer.max_steps == 3 and cfg.exploration.std == 0.25
    # the file overrides the method group's settings, not the other way round
    assert load_config(["method=rtb", "--config", str(f)]).exploration.std == 0.25


def test_config_file_is_validated_and_named(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("trainer:\n  max_stpes: 11\n")
    with pytest.raises(ConfigError) as e:
        load_config(["--config", str(f)])
    assert "max_stpes" in str(e.value) and str(f) in str(e.value) and "trainer.max_steps" in str(e.value)


def test_config_file_cannot_choose_groups(tmp_path):
    f = tmp_path / "groups.yaml"
    f.write_text("method: vargrad\n")
    with pytest.raises(ConfigError, match="command line"):
        load_config(["--config", str(f)])


def test_scientific_notation_in_config_file_parses_as_float(tmp_path):
    f = tmp_path / "lr.yaml"
    f.write_text("posterior:\n  lr: 1e-4\n")
    assert load_config(["--config", str(f)]).posterior.lr == 1e-4


@pytest.mark.parametrize("override", ["method.name=bogus", "domain.name=foo"])
def test_group_name_cannot_be_set_to_an_unknown_value(override):
    with pytest.raises(ConfigError):
        load_config([override])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config(["trainer.max_steps=5", "posterior.lr=1e-4"])
    path = tmp_path / "config.yaml"
    path.write_text(OmegaConf.to_yaml(cfg))
    again = OmegaConf.load(path)
    assert again.trainer.max_steps == 5 and again.posterior.lr == 1e-4


@pytest.mark.slow
def test_train_py_config_error_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = run_train(["trainer.max_stesp=3", f"run_dir={tmp_path / 'run'}"], timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and "trainer.max_stesp" in errors[0]
    assert any("trainer.max_steps" in ln for ln in lines)      # the hint
    assert not (tmp_path / "run").exists()                     # nothing ran, nothing written


def test_domain_tuning_applies_to_every_method_but_on_policy_methods_stay_on_policy():
    # a domain's mix/exploration beat the generic defaults for rtb, vargrad and tb ...
    for method in ("rtb", "vargrad", "tb"):
        cfg = load_config(["domain=gmm25", f"method={method}"])
        assert cfg.exploration.std == 2.0 and cfg.sampling.prior == 0.0, method
    assert load_config(["domain=text"]).sampling.buffer == 0.8
    assert load_config(["domain=toy2d"]).sampling.prior == 0.3           # the generic mix
    # ... while the method file of an on-policy method is merged last and forces its mix
    cfg = load_config(["domain=text", "method=rl_kl"])
    assert (cfg.sampling.on_policy, cfg.sampling.buffer, cfg.sampling.prior) == (1.0, 0.0, 0.0)


def test_colon_separated_times_stay_text_not_sexagesimal_numbers():
    # YAML 1.1 would read 1:00:00:00 as 216000 (base 60); trainer.max_time must get the text
    assert load_config(["trainer.max_time=1:00:00:00"]).trainer.max_time == "1:00:00:00"
    assert load_config(["trainer.max_time=90"]).trainer.max_time == 90
