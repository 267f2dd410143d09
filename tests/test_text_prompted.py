"""The text prior's hidden end: one denoiser that is p(middle | beginning) by default (the prior of
RTB) and, with the end revealed, the "prompted by masking" baseline; condition dropout trains both."""
import pytest
import torch
from types import SimpleNamespace

from rtb_lightning.domains import TextDomain
from rtb_lightning.errors import UserError
from rtb_lightning.networks.residual import Residual
from rtb_lightning.networks.reveal_context import RevealContext
from rtb_lightning.networks.transformer import TokenDenoiser
from rtb_lightning.prior_cache import load_prior
from rtb_lightning.processes.masked import MaskedProcess

NET = SimpleNamespace(hidden=16, layers=1)


@pytest.fixture(scope="module")
def domain():
    return TextDomain(num_stories=60, num_eval=10)


def _inputs(d, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lm = d.lengths[1]
    x = torch.randint(0, d.vocab_size, (n, lm), generator=g)
    x[:, ::2] = d.vocab_size                                   # partly masked states
    return x, torch.rand(n, generator=g), d.cond[:n]


def test_prompt_hides_the_end_unless_revealed(domain):
    lb, lm, le = domain.lengths
    net = domain.build_network(NET)
    cond = domain.cond[:4]
    hidden, shown = net.prompt(cond), net.prompt(cond, reveal=True)
    assert hidden.shape == shown.shape == (4, lb + le)
    assert torch.equal(hidden[:, :lb], cond[:, :lb]) and (hidden[:, lb:] == domain.vocab_size).all()
    assert torch.equal(shown, cond)
    per_seq = net.prompt(cond, reveal=torch.tensor([True, False, True, False]))
    assert torch.equal(per_seq[0::2], cond[0::2]) and torch.equal(per_seq[1::2], hidden[1::2])
    # the posterior's correction and the supervised baseline read the end as given
    assert torch.equal(domain.build_network(NET, role="posterior").prompt(cond), cond)
    with pytest.raises(ValueError, match="hidden_context"):
        TokenDenoiser(5, 3, 4, 8, 1, 2, hidden_context=(2, 6))


def test_the_prior_ignores_the_end_and_the_prompted_prior_reads_it(domain):
    torch.manual_seed(0)
    net = domain.build_network(NET).eval()
    x, t, cond = _inputs(domain)
    other = cond.clone()
    other[:, domain.lengths[0]:] = cond[:, domain.lengths[0]:].roll(1, 0)     # another story's end
    with torch.no_grad():
        torch.testing.assert_close(net(x, t, cond), net(x, t, other))            # RTB's prior: end hidden
        prompted = domain.prompted_prior(net)
        assert not torch.allclose(prompted(x, t, cond), prompted(x, t, other), atol=1e-4)
        # the residual posterior's base is the end-hidden prior; its correction reads the end
        corr = domain.build_network(NET, role="posterior")
        torch.nn.init.normal_(corr.out.weight)
        post = Residual(net, corr)
        assert not torch.allclose(post(x, t, cond), post(x, t, other), atol=1e-4)
        torch.testing.assert_close(post(x, t, cond) - corr(x, t, cond), net(x, t, cond))


def test_prompted_sampling_follows_the_end_on_a_tiny_model(domain):
    """Sampling through the shared process: the prompted prior's output distribution moves with the end."""
    torch.manual_seed(0)
    net = domain.build_network(NET)
    lb, lm, le = domain.lengths

    class FirstEndToken(torch.nn.Module):          # logits peaked on the first end token the prompt shows
        def forward(self, x, t, cond=None, reveal=False):
            p = net.prompt(cond, reveal)[:, lb]
            return 50.0 * torch.nn.functional.one_hot(p.clamp(max=domain.vocab_size - 1), domain.vocab_size
                                                     ).float()[:, None].expand(-1, lm, -1)

    process = MaskedProcess(lm, domain.vocab_size, 4)
    cond = domain.cond[:1].repeat(200, 1)
    a, b = cond.clone(), cond.clone()
    a[:, lb], b[:, lb] = 3, 5
    tok = lambda m, c: process.sample(m, len(c), c)[0][:, -1]
    assert (tok(RevealContext(FirstEndToken()), a) == 3).float().mean() > 0.9
    assert (tok(RevealContext(FirstEndToken()), b) == 5).float().mean() > 0.9
    # the default (end hidden) reads the mask token instead, whatever the end
    assert (tok(FirstEndToken(), a) == domain.vocab_size - 1).all() and (tok(FirstEndToken(), b) == domain.vocab_size - 1).all()


def test_condition_dropout_shows_the_end_to_a_share_of_sequences(domain):
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x, t, cond=None, reveal=False):
            seen.append(reveal)
            return torch.zeros(x.shape[0], x.shape[1], 3)

    torch.manual_seed(0)
    trainee = domain.prior_trainee(Spy())
    x, t, cond = _inputs(domain)
    for _ in range(400):
        trainee(x, t, cond)
    frac = torch.stack(seen).float().mean().item()
    assert abs(frac - domain.prior_end_visible) < 0.03, frac
    assert RevealContext(Spy(), 1.0)(x, t, cond) is not None and seen[-1] is True


def test_posterior_start_prompted_is_a_residual_on_the_prompted_prior_scored_against_the_hidden_prior(tmp_path):
    """RTB's reference stays the end-hidden prior; only the posterior's frozen base reads the end."""
    from rtb_lightning.builders import build_posterior, build_process
    from rtb_lightning.config import load_config
    from rtb_lightning.scorer import TrajectoryScorer

    cfg = load_config(["domain=text", "domain.num_stories=60", "domain.num_eval=10", f"cache_dir={tmp_path}",
                       "domain.posterior_start=prompted", "posterior.network.hidden=16", "posterior.network.layers=1"])
    d = TextDomain(num_stories=60, num_eval=10, posterior_start="prompted")
    prior = d.build_network(NET).eval()
    post = build_posterior(cfg, prior, d, build_process(cfg, d))
    x, t, cond = _inputs(d)
    with torch.no_grad():
        torch.testing.assert_close(post(x, t, cond), prior(x, t, cond, reveal=True))    # zero correction
    assert not TrajectoryScorer(None, prior, post).shares_prior        # prior outputs are not reused for it
    assert not list(post.parameters()) or all(p.requires_grad for p in post.parameters())
    assert not any(p is q for p in post.parameters() for q in prior.parameters())


def test_prior_end_visible_is_checked_and_zero_drops_the_prompted_baseline():
    with pytest.raises(UserError, match="prior_end_visible"):
        TextDomain(num_stories=60, num_eval=10, prior_end_visible=1.0)
    d = TextDomain(num_stories=60, num_eval=10, prior_end_visible=0.0, posterior_start="prior")
    assert d.prompted_prior(d.build_network(NET)) is None
    with pytest.raises(UserError, match="posterior_start"):
        TextDomain(num_stories=60, num_eval=10, prior_end_visible=0.0, posterior_start="prompted")
    with pytest.raises(UserError, match="posterior_start"):
        TextDomain(num_stories=60, num_eval=10, posterior_start="copy")


def test_a_prior_trained_before_the_end_was_readable_is_a_clear_error(domain, tmp_path):
    """Old text priors read the beginning only: loading one into the new network must not pass silently."""
    lb, lm, _ = domain.lengths
    old = TokenDenoiser(domain.vocab_size, lm, lb, NET.hidden, NET.layers, domain.heads)
    path = tmp_path / "old.pt"
    torch.save({"state_dict": old.state_dict(), "domain_state": domain.state_dict()}, path)
    with pytest.raises(UserError, match="does not fit the configured prior network.*pos"):
        load_prior(domain.build_network(NET), path, domain)


def test_the_prior_cache_key_moves_with_the_dropout_share_and_the_reward_model_key_does_not(tmp_path):
    from rtb_lightning.config import load_config
    from rtb_lightning.prior_cache import prior_path
    from rtb_lightning.text.reward_model import reward_model_path

    cfg = lambda *a: load_config(["domain=text", f"cache_dir={tmp_path}", *a])
    assert prior_path(cfg()) != prior_path(cfg("domain.prior_end_visible=0.25"))
    assert reward_model_path(cfg()) == reward_model_path(cfg("domain.prior_end_visible=0.25"))
    assert prior_path(cfg()) == prior_path(cfg("domain.posterior_start=prompted"))
    assert reward_model_path(cfg()) == reward_model_path(cfg("domain.posterior_start=prompted"))
