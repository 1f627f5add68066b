"""Fixtures for the insights panel tests: a real Session (classical engines, real PyAV decode, a
real SQLite project) on a copy of the sample with its three objects masked, wrapped in a
SessionBridge; QSettings under tmp_path; a test that leaves a repeating QTimer of ours running
fails (napari's discipline)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

# Shared fixtures (autouse ones included) take effect here by being names in this conftest.
from tests.qt_fixtures import (  # noqa: F401
    _no_dangling_qtimers,
    _styled_app,
    bridge,
    isolated_settings,
    show_factory,
)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[object]:
    from annotator.app.session import Session
    from tests.session_helpers import SAMPLE_GT
    from tests.tiny_describe import sample_project

    if not SAMPLE_GT.exists():
        pytest.skip("resources/sample_gt.json missing; run `make sample`")
    s = Session(segmenter="classical", tracker="classical")
    s.open(sample_project(tmp_path))
    yield s
    s.shutdown()


@pytest.fixture
def show(qtbot: object) -> Callable[..., object]:
    return show_factory(qtbot, 420, 720)
