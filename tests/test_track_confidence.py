"""The tracker confidence's inputs and the fitting in bench/calibrate.py (issue 13).

The confidence's real check is bench/calibrate.py on the nine DAVIS sequences (nested
leave-one-sequence-out figures in docs/design.md); these tests pin what it rests on:
- the colour inputs are relative to what the user's own masks score;
- the shipped models respect the a-priori direction of every input they use;
- the sign-constrained fit drops an input that comes out the wrong way;
- nested selection chooses an informative input over noise, and never looks at the held-out
  sequence while choosing for it.
The broken-frame test (a mask shifted 15 px, or leaking into its neighbour, scores lower than
the good one) is in tests/test_keyframes.py, beside the synthetic scene it uses.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.engines import appearance as app
from annotator.engines import track_confidence as conf

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def calibrate():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("calibrate", BENCH / "calibrate.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["calibrate"] = module  # its dataclass looks its module up while defined
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("calibrate", None)
        sys.path.remove(str(BENCH))


def _two_colour_frame() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((120, 160, 3), (40, 130, 50), np.uint8)  # green background
    rgb[40:80, 50:110] = (200, 60, 60)  # a red object
    mask = np.zeros(rgb.shape[:2], bool)
    mask[40:80, 50:110] = True
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), mask


def test_the_colour_model_scores_its_own_pixels() -> None:
    lab, mask = _two_colour_frame()
    model = app.ColourModel()
    assert model.self_agreement() == (0.5, 0.5)  # nothing learnt: uninformative
    model.add(lab, mask, 10)
    inside, ring = model.self_agreement()
    assert inside > 0.9 and ring < 0.1, (inside, ring)


def test_colour_inputs_are_relative_to_the_lock() -> None:
    lab, mask = _two_colour_frame()
    gray = cv2.cvtColor(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), cv2.COLOR_RGB2GRAY)
    model = app.ColourModel()
    model.add(lab, mask, 10)
    context = {"steps": 5, "reliability": 0.9, "reliability_mean": 0.9, "previous_area": float(mask.sum()),
               "reference_area": float(mask.sum())}
    good = conf.inputs(conf.evidence(gray, lab, mask, mask, model, 6, **context))
    shifted = np.roll(mask, 30, axis=1)
    bad = conf.inputs(conf.evidence(gray, lab, shifted, shifted, model, 6, **context))
    assert abs(good["colour_gap"]) < 0.1 and abs(good["contrast_gap"]) < 0.2, good
    assert bad["colour_gap"] < good["colour_gap"] - 0.2, (good, bad)
    assert bad["contrast_gap"] < good["contrast_gap"] - 0.3, (good, bad)
    # drift: unreliable flow accumulated since the lock
    assert good["drift"] == pytest.approx(math.log1p(5 * 0.1))


def test_evidence_from_before_the_lock_scores_reads_as_uninformative() -> None:
    values = conf.inputs({"colour": 0.7, "colour_ring": 0.2})  # no colour_lock / ring_lock
    assert values["colour_gap"] == pytest.approx(0.2) and values["ring_gap"] == pytest.approx(-0.3)


def test_shipped_models_respect_the_direction_of_each_input(calibrate) -> None:
    for mode, (names, _mean, _scale, weights, _bias) in conf.MODELS.items():
        assert set(names) <= set(conf.INPUTS), mode
        for name, weight in zip(names, weights, strict=True):
            assert weight * calibrate.SIGNS[name] >= 0, (mode, name, weight)
        base = {name: 0.5 for name in conf.FEATURES} | {"dist": 2.0}
        assert 0.0 < conf.estimate_iou(base, mode) < 1.0


def test_signed_fit_drops_an_input_that_points_the_wrong_way(calibrate) -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(size=400)
    confounded = -good + 0.3 * rng.normal(size=400)  # would get a positive weight, its sign says -
    y = 1 / (1 + np.exp(-2 * good))
    x = np.column_stack([good, confounded])
    free = calibrate.fit_logistic(x, y, 0.01)
    signed = calibrate.fit_logistic(x, y, 0.01, signs=np.array([1, 1]))
    assert free[2][0] > 0 and free[2][1] < 0  # the free fit uses both
    assert signed[2][1] == 0 and signed[2][0] > 0  # "confounded" had sign +1 but came out -: dropped


def test_nested_selection_prefers_the_informative_input(calibrate) -> None:
    rng = np.random.default_rng(1)
    seqs = np.repeat([f"s{i}" for i in range(5)], 40)
    signal = rng.normal(size=len(seqs))
    noise = rng.normal(size=len(seqs))
    y = 1 / (1 + np.exp(-1.5 * signal))
    x = np.column_stack([signal, noise])
    fixed = np.full(len(seqs), np.nan)
    fixed[:3] = 0.0  # lost frames: scored 0, never fitted
    cands = calibrate.candidates(["signal", "noise"], 1, [0.01], [False])
    selection = calibrate.Selection(x, y, seqs, fixed, ["signal", "noise"], cands)
    nested, chosen = selection.nested()
    assert all(c.inputs == ("signal",) for c in chosen.values()), chosen
    assert np.all(nested[:3] == 0.0)
    assert calibrate.spearman(nested[3:], y[3:]) > 0.8
    # choosing for s0 never reads s0's frames: changing them leaves the choice alone
    y2 = y.copy()
    y2[seqs == "s0"] = 1 - y2[seqs == "s0"]
    other = calibrate.Selection(x, y2, seqs, fixed, ["signal", "noise"], cands)
    assert other.choose("s0") == selection.choose("s0")
