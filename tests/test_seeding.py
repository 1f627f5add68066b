"""Seeding a project in one go through the Session (app/seeding.py): the batch's initial masks."""

from __future__ import annotations

import numpy as np

from annotator.app.session import Session
from tests.session_helpers import copy_sample, sample_gt


def test_objects_with_ids_locked_masks_and_locks_are_one_undo_step_each(tmp_path):
    video = copy_sample(tmp_path)
    elsewhere = tmp_path / "scratch" / "seeded.annot"
    elsewhere.parent.mkdir()
    with Session(segmenter="classical", tracker="classical") as session:
        view = session.open(video, project=elsewhere)
        assert view.path == elsewhere and not (tmp_path / "sample.annot").exists()
        session.add_objects([4, 9], {9: {"name": "car", "category": "vehicle"}})
        assert [(o.id, o.name) for o in session.objects()] == [(4, "object 4"), (9, "car")]
        assert session.category_names() == ["vehicle"]
        assert not session.has_anchors()

        first, last = sample_gt(1, 0), sample_gt(1, session.frame_count - 1)
        session.set_locked_masks([(4, 0, first), (4, session.frame_count - 1, last),
                                  (9, 0, np.zeros_like(first))])
        assert session.mask(4, 0).locked and session.mask(4, 0).source == "user"
        assert np.array_equal(session.mask_array(4, 0), first)
        assert session.has_anchors()  # object 4 has a gap to fill; object 9 is empty
        assert session.undo() == "Initial masks"
        assert session.mask(4, 0) is None and session.mask(9, 0) is None
        session.redo()

        # Masks as an import leaves them (unlocked), then locked on chosen frames only.
        session.set_mask(9, first, frame=5)
        session.toggle_lock(9, frame=5)  # set_mask locks; unlock to mimic an import
        assert not session.mask(9, 5).locked
        assert session.lock_masks([5, 6]) == 1 and session.mask(9, 5).locked
        assert session.lock_masks([7]) == 0
        assert session.undo() == "Lock imported masks" and not session.mask(9, 5).locked
