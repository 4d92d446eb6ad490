"""Shared test set-up: one helper that skips a missing framework loudly, and the per-framework chapter fixture."""

from __future__ import annotations

import importlib
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Framework name -> module in tests/chapters that builds the chapter's models in that framework.
CHAPTERS = {
    "pytorch": "tests.chapters.torch_chapter",
    "keras": "tests.chapters.keras_chapter",
    "mxnet": "tests.chapters.mxnet_chapter",
}


def require(framework: str):
    """Import the chapter module of `framework`, or skip with the reason (visible with -ra)."""
    try:
        module = importlib.import_module(CHAPTERS[framework])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("tests.chapters"):
            pytest.skip(f"{framework}: no chapter module yet ({e.name})")
        pytest.skip(f"{framework} is not installed in this environment: {e}")
    return module.CHAPTER


@pytest.fixture(params=list(CHAPTERS))
def chapter(request):
    """The chapter's models and framework-native readers for one framework."""
    return require(request.param)
