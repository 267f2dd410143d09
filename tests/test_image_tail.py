"""bench/image_tail.py: the summary of an image posterior's off-class tail (the sampling end is in test_images_e2e)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import image_tail  # noqa: E402


def test_tail_report_splits_by_the_judge_and_finds_where_each_path_settles():
    final_hit = torch.tensor([True, True, True, False, False])
    log_r = torch.tensor([-0.01, -0.02, -0.03, -1.0, -3.0])
    judged = torch.tensor([3, 3, 3, 8, 1])
    step_hit = torch.tensor([[0, 1, 1, 1],      # settled from step 1
                             [1, 0, 1, 1],      # from step 2 (left the set at step 1)
                             [1, 1, 1, 1],      # from step 0
                             [0, 1, 0, 0],      # never settles (off-class)
                             [0, 0, 0, 0]], dtype=torch.bool)
    r = image_tail.tail_report(final_hit, log_r, judged, step_hit)
    assert r["n"] == 5 and r["off_class"] == 2 and r["accuracy"] == pytest.approx(0.6)
    assert r["log_r_in_class"]["mean"] == pytest.approx(-0.02) and r["log_r_off_class"]["mean"] == pytest.approx(-2.0)
    assert r["log_r_off_class"]["q0.5"] == pytest.approx(-2.0)
    assert r["log_r_share_off_class"] == pytest.approx(4.0 / 4.06)
    assert r["off_class_judged_as"] == [0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert r["in_set_by_step_in_class"] == pytest.approx([2 / 3, 2 / 3, 1, 1])
    assert r["in_set_by_step_off_class"] == pytest.approx([0, 0.5, 0, 0])
    assert r["settled_step_in_class"]["mean"] == pytest.approx(1.0)          # steps 1, 2, 0


def test_tail_report_without_off_class_samples():
    r = image_tail.tail_report(torch.ones(3, dtype=torch.bool), torch.zeros(3), torch.tensor([3, 3, 3]),
                               torch.ones(3, 2, dtype=torch.bool))
    assert r["off_class"] == 0 and r["log_r_off_class"] is None and r["in_set_by_step_off_class"] == []
    assert r["settled_step_in_class"]["mean"] == 0 and r["log_r_share_off_class"] == 0
