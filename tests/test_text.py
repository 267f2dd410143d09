"""Text domain pieces: tokenizer, embedded corpus, user corpus files, domain errors, reward, log Z(cond)."""
import csv

import pytest
import torch

from rtb_lightning.config import load_config
from rtb_lightning.domains import TextDomain
from rtb_lightning.errors import ConfigError, UserError
from rtb_lightning.log_z import ConditionalLogZ
from rtb_lightning.networks.transformer import CausalLM
from rtb_lightning.text import WordTokenizer, generate_stories, load_corpus, split_story
from rtb_lightning.text.stories import PLACES


def test_tokenizer_round_trip_and_errors():
    texts = ["Anna went to the market.", "She bought a red apple!", "anna's apple was red."]
    tok = WordTokenizer.build(texts)
    for t in texts:
        ids = tok.encode(t)
        assert tok.unk_id not in ids
        assert tok.decode(ids) == " ".join(tok.decode([i]) for i in ids)
    assert tok.decode(tok.encode("She bought a red apple!")) == "she bought a red apple !"
    assert tok.decode(tok.encode("anna's apple was red.")) == "anna's apple was red ."
    padded = tok.encode("a red apple", length=5)
    assert padded[3:] == [tok.pad_id] * 2 and tok.decode(padded) == "a red apple"
    assert tok.itos[2] in ("red", "apple", "a", ".", "anna")            # frequent words first
    with pytest.raises(UserError, match="unknown words.*zebra"):
        tok.encode("a zebra")
    assert tok.encode("a zebra", strict=False)[1] == tok.unk_id
    with pytest.raises(UserError, match="more than the 2"):
        tok.encode("a red apple", length=2)
    # the saved form rebuilds the same ids; another vocabulary is rejected
    again = WordTokenizer.from_state_dict(tok.state_dict())
    assert again.itos == tok.itos
    again.check_matches(tok.state_dict(), "x")
    with pytest.raises(UserError, match="does not match"):
        WordTokenizer.build(["other words"]).check_matches(tok.state_dict(), "the prior")


def test_embedded_stories_are_consistent_and_deterministic():
    stories = generate_stories(300, seed=3)
    assert stories == generate_stories(300, seed=3) and stories != generate_stories(300, seed=4)
    for b, m, e in stories:
        place = b.split()[-2]
        verb, objects = PLACES[place]
        assert verb in m.split()
        obj = [o for o in objects if o in m.split()]
        assert len(obj) == 1 and obj[0] in e.split()           # the end refers back to the middle's object
    assert len({m for _, m, _ in stories}) > 100                # the prior has many middles to choose from


def _write_csv(path, rows, column="story"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", column])
        for i, r in enumerate(rows):
            w.writerow([i, r])


def _user_stories(n):
    names = ["kim", "lee", "ola", "ivy", "zoe"]
    return [f"{names[i % 5]} woke up early. It was day {i}. {names[i % 5]} ate bread. Then {names[i % 5]} slept."
            for i in range(n)]


def test_corpus_loader_on_a_tiny_csv_and_text_file(tmp_path):
    p = tmp_path / "tiny.csv"
    _write_csv(p, _user_stories(3))
    triples = load_corpus(p, "story")
    assert triples[1] == ("lee woke up early.", "It was day 1. lee ate bread.", "Then lee slept.")
    t = tmp_path / "tiny.txt"
    t.write_text("\n".join(_user_stories(2)) + "\n\n")
    assert load_corpus(t) == triples[:2]
    with pytest.raises(UserError, match="column 'text' is not in .*columns: id, story"):
        load_corpus(p, "text")
    with pytest.raises(UserError, match="not found"):
        load_corpus(tmp_path / "missing.csv", "story")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match="no stories"):
        load_corpus(empty)
    with pytest.raises(UserError, match="story 2 .* 2 sentence"):
        _write_csv(p, [_user_stories(1)[0], "Too short. Only two."])
        load_corpus(p, "story")
    assert split_story("A b. C d! E f? G h.") == ("A b.", "C d! E f?", "G h.")


def test_text_domain_on_a_user_csv(tmp_path):
    p = tmp_path / "stories.csv"
    _write_csv(p, _user_stories(30))
    d = TextDomain(data={"path": str(p), "column": "story"}, num_eval=5)
    assert d.lengths == (5, 9, 4)          # "kim woke up early ." / "it was day 1 . kim ate bread ." / "then kim slept ."
    assert len(d.eval_idx) == 5 and len(d.train_idx) == 25
    assert d.event_shape == (9,) and d.cond.shape == (30, 9)
    x, c = d.prior_data(7)
    assert x.shape == (7, 9) and c.shape == (7, 9) and x.dtype == torch.long
    assert "ate bread" in d.decode(d.middle[0])
    d2 = TextDomain(data={"path": str(p), "column": "story"}, num_eval=5, samples_per_context=3)
    c = d2.sample_conditions(7)
    assert torch.equal(c[0], c[1]) and torch.equal(c[1], c[2]) and torch.equal(c[3], c[5])
    # bad input: too-short corpus, stories longer than the limits, a checkpoint of another corpus
    with pytest.raises(UserError, match="30 stories; need at least"):
        TextDomain(data={"path": str(p), "column": "story"}, num_eval=20)
    with pytest.raises(UserError, match="fit the token limits"):
        TextDomain(data={"path": str(p), "column": "story"}, num_eval=5, max_middle=4)
    with pytest.raises(UserError, match="tokenizer saved with the prior .* does not match"):
        d.load_state_dict(TextDomain(num_stories=100, num_eval=10).state_dict(), where="the prior")
    d.load_state_dict(d2.state_dict())


def test_reward_is_the_end_log_likelihood_under_the_causal_lm():
    d = TextDomain(num_stories=60, num_eval=10)
    lb, lm, le = d.lengths
    d.reward_net = CausalLM(d.vocab_size, d.story_len, 32, 2, 4).eval()
    x, cond = d.middle[:4], d.cond[:4]
    r = d.log_reward(x, cond)
    story = torch.cat([cond[:, :lb], x, cond[:, lb:]], 1)
    with torch.no_grad():   # chain rule by hand: one prefix at a time, the model sees nothing after it
        want = torch.stack([sum(d.reward_net(story[i:i + 1, :j + 1])[0, j] for j in range(lb + lm, lb + lm + le))
                            for i in range(4)])
    torch.testing.assert_close(r, want, rtol=1e-4, atol=1e-4)
    assert r.shape == (4,) and (r < 0).all()


def test_conditions_from_new_text_reject_unknown_words():
    d = TextDomain(num_stories=200, num_eval=10)
    c = d.condition("Anna went to the park.", "Tom loved the red kite.")
    lb = d.lengths[0]
    assert c.shape == (1, d.cond.shape[1])
    assert d.decode(c[0, :lb]) == "anna went to the park ." and d.decode(c[0, lb:]) == "tom loved the red kite ."
    with pytest.raises(UserError, match="unknown words.*spaceship"):
        d.condition("Anna went to the spaceship.", "Tom loved the red kite.")
    with pytest.raises(UserError, match="more than the"):
        d.condition("one day anna walked to the park to the park .", "Tom loved the red kite.")


def test_conditional_log_z():
    net = TextDomain(num_stories=60, num_eval=10).log_z_network()
    lz = ConditionalLogZ(net)
    lz.initialise(-3.0)
    cond = torch.randint(0, 10, (5, 16))
    torch.testing.assert_close(lz(cond, 5), torch.full((5,), -3.0))        # zero-initialised network
    assert lz(None, 2).shape == (2,)
    lz(cond, 5).sum().backward()
    assert lz.offset.grad == 5


@pytest.mark.parametrize("args,match", [
    (["process.kind=masked"], "needs a token domain"),
    (["data.path=x.csv"], "does not read data.path"),
    (["domain=text", "posterior.init=copy"], "posterior.init=residual"),
    (["domain=text", "process.num_steps=30"], "between 1 and the middle's length"),
    (["domain=text", "process.kind=vp"], "needs process.kind=masked"),
])
def test_config_errors(tmp_path, args, match):
    from rtb_lightning.builders import build_posterior_run

    cfg = load_config([*args, f"cache_dir={tmp_path}", "domain.num_stories=100", "domain.num_eval=10"]
                      if "domain=text" in args else [*args, f"cache_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=match):
        build_posterior_run(cfg, tmp_path / "run")
