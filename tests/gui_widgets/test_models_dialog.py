"""The Models dialog: the registry listed, a real download that fails fast without a network,
a download with progress from a local HTTP server, cancel, verify, delete, and the engine choice."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from annotator.app.events import EngineStatus
from annotator.core.jobs import JobState
from annotator.engines import weights
from annotator.gui.models_dialog import ModelsDialog
from annotator.gui.widgets_common import app_settings
from tests.test_download import PAYLOAD, PAYLOAD_SHA, RangeServer


def _spec(url: str) -> weights.ModelSpec:
    return weights.ModelSpec("test-model", ("segment",), "sam", "a test checkpoint served on 127.0.0.1",
                             "test", len(PAYLOAD), url=url, filename="model.bin", sha256=PAYLOAD_SHA)


@pytest.fixture
def dialog_factory(bridge, show):
    made = []

    def factory() -> ModelsDialog:
        dialog = ModelsDialog(bridge)
        show(dialog, 860, 620)
        made.append(dialog)
        return dialog

    yield factory
    for dialog in made:
        dialog.cancel_download()
        job = dialog.download_job
        if job is not None:
            job.wait(10)


def test_lists_every_model_with_size_licence_and_state(dialog_factory, session):
    session.engines.set_models(segmenter="auto", tracker="auto")
    dialog = dialog_factory()
    rows = weights.list_models()
    assert dialog.table.rowCount() == len(rows)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert names == [r["name"] for r in rows]
    row = names.index("sam-vit-b")
    assert dialog.table.item(row, 2).text() == "375 MB" and dialog.table.item(row, 3).text() == "Apache-2.0"
    assert dialog.table.item(row, 4).text() == "Not installed"
    assert dialog.table.item(names.index("sam2.1-tiny"), 1).text() == "clicks, tracking"
    dialog.select_model("sam-vit-b")
    assert "Segment Anything ViT-B" in dialog.details.text()
    assert dialog.download_button.isEnabled() and not dialog.verify_button.isEnabled()
    # Automatic picks the classical engines here and says why.
    assert "classical" in dialog.status.text() and "no segmentation" in dialog.status.text()


def test_a_real_download_fails_fast_offline_and_says_what_to_do(dialog_factory, qtbot):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    dialog = dialog_factory()
    dialog.select_model("sam2.1-tiny")
    start = time.monotonic()
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    job = dialog.download_job
    qtbot.waitUntil(lambda: dialog.message_shown() != "", timeout=30_000)
    elapsed = time.monotonic() - start
    assert job.state is JobState.FAILED
    text = dialog.message_shown()
    assert "Could not download sam2.1-tiny" in text and "HF_HUB_OFFLINE" in text
    assert "by hand" in text and str(weights.target_path("sam2.1-tiny")) in text
    assert dialog.message.property("level") == "error"
    assert not dialog.progress.isVisible() and not dialog.cancel_button.isVisible()
    print(f"\noffline download failed after {elapsed:.2f} s")


def test_download_with_progress_then_verify_and_delete(dialog_factory, qtbot):
    with RangeServer(PAYLOAD, mode="slow", delay=0.01) as server, weights.registered(_spec(server.url)):
        dialog = dialog_factory()
        dialog.select_model("test-model")
        seen: list[int] = []
        dialog.progress.valueChanged.connect(seen.append)
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert dialog.cancel_button.isVisible() and not dialog.download_button.isEnabled()
        qtbot.waitUntil(lambda: "installed at" in dialog.message_shown(), timeout=30_000)
        assert weights.is_installed("test-model")
        assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1000
        row = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())].index("test-model")
        assert dialog.table.item(row, 4).text() == "Installed"

        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Verified" in dialog.message_shown(), timeout=30_000)
        assert PAYLOAD_SHA in dialog.message_shown()

        qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
        box = dialog.confirm
        assert isinstance(box, QMessageBox)
        delete = next(b for b in box.buttons() if b.text() == "Delete")
        qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not weights.is_installed("test-model"))
        assert dialog.table.item(row, 4).text() == "Not installed"


def test_cancel_keeps_the_partial_download(dialog_factory, qtbot):
    with RangeServer(PAYLOAD, mode="slow", delay=0.05) as server, weights.registered(_spec(server.url)):
        dialog = dialog_factory()
        dialog.select_model("test-model")
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=30_000)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "cancelled" in dialog.message_shown(), timeout=30_000)
        assert dialog.download_job.state is JobState.CANCELLED
        assert not weights.is_installed("test-model")
        part = Path(os.environ["ANNOTATOR_MODELS_DIR"]) / "test-model" / "model.bin.part"
        assert 0 < part.stat().st_size < len(PAYLOAD)
        assert "resume" in dialog.message_shown()


def test_choosing_engines_applies_and_is_remembered(dialog_factory, session, qtbot):
    session.engines.set_models(segmenter="auto", tracker="auto")
    dialog = dialog_factory()
    assert dialog.segmenter.currentData() == "auto"
    segmenters = [dialog.segmenter.itemData(i) for i in range(dialog.segmenter.count())]
    assert segmenters[:2] == ["auto", "classical"] and "sam-vit-b" in segmenters
    not_installed = dialog.segmenter.model().item(segmenters.index("sam-vit-b"))
    assert not not_installed.isEnabled()  # a model that is not here cannot be chosen
    with qtbot.waitSignal(dialog.bridge.event, timeout=2000,
                          check_params_cb=lambda event: isinstance(event, EngineStatus)):
        dialog.segmenter.setCurrentIndex(segmenters.index("classical"))
    assert session.engines.requested_segmenter == "classical"
    assert app_settings().value("models/segmenter") == "classical"
    assert "chosen by you" in dialog.status.text()
    devices = [dialog.device.itemData(i) for i in range(dialog.device.count())]
    assert devices == ["auto", "cpu", "cuda", "mps"]
    cpu = dialog.device.model().item(devices.index("cpu"))
    assert cpu.isEnabled()
    dialog.device.setCurrentIndex(devices.index("cpu"))
    assert session.engines.requested_device == "cpu"
    assert "CPU" in dialog.status.text()


def test_a_closed_dialog_ignores_later_engine_changes(bridge, session, qtbot):
    """The window opens it with WA_DeleteOnClose; the bridge outlives it."""

    dialog = ModelsDialog(bridge)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    qtbot.waitExposed(dialog)
    with qtbot.waitSignal(dialog.destroyed, timeout=5000):
        dialog.close()
    session.engines.set_models(segmenter="classical")  # emits engine_status: nobody may crash
    assert session.engines.requested_segmenter == "classical"
