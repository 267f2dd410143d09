"""Shared fixtures for the rtb-lightning test suite."""
import pytest
import torch


def pytest_configure(config):
    torch.set_num_threads(1)      # tiny tensors: threads only add overhead (and thrash a busy machine)


@pytest.fixture
def float64():
    """Run a test in float64 (for exact comparisons); the previous default dtype is restored after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch.float64
    finally:
        torch.set_default_dtype(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
