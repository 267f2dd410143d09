"""Offline RL control (issue 6): datasets, environments, the IQL critic and baseline policy."""
