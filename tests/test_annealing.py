"""Schedules over training steps (exploration std, inverse temperature beta)."""
import pytest

from rtb_lightning.annealing import Schedule


def test_hold_then_linear_ramp_then_end():
    s = Schedule(1.0, 0.0, hold_steps=100, ramp_steps=200)
    assert s(0) == 1.0 and s(99) == 1.0
    assert s(100) == 1.0
    assert s(200) == pytest.approx(0.5)
    assert s(300) == 0.0 and s(10_000) == 0.0


def test_no_ramp_jumps_to_end_after_hold():
    s = Schedule(2.0, 1.0, hold_steps=5)
    assert s(4) == 2.0 and s(5) == 1.0


def test_constant():
    s = Schedule(0.3, 0.3)
    assert s(0) == s(1000) == 0.3
