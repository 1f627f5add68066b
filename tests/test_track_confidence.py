"""The tracker confidence's inputs and the fitting in bench/calibrate.py (issue 13).

The confidence's real check is bench/calibrate.py on the nine DAVIS sequences (nested
leave-one-sequence-out figures in docs/design.md); these tests pin what it rests on:
- the colour inputs are relative to what the user's own masks score;
- the shipped models respect the a-priori direction of every input they use;
- the sign-constrained fit drops an input that comes out the wrong way;
- nested selection chooses an informative input over noise, and never looks at the held-out
  sequence while choosing for it;
- the colour trends start at the lock's own scores, and the bench recomputes them exactly as the
  tracker stores them (so the rate it chooses is the rate the app runs);
- the weak-frame threshold sits between the scores of the bad and the good frames.
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
    cands = calibrate.candidates(["signal", "noise"], 1, [0.01], [False], [1.0])
    selection = calibrate.Selection({1.0: x}, y, seqs, fixed, ["signal", "noise"], cands)
    nested, thresholds, chosen = selection.nested()
    assert all(c.inputs == ("signal",) for c in chosen.values()), chosen
    assert np.all(nested[:3] == 0.0)
    assert calibrate.spearman(nested[3:], y[3:]) > 0.8
    # choosing for s0 never reads s0's frames: changing them leaves the choice alone
    y2 = y.copy()
    y2[seqs == "s0"] = 1 - y2[seqs == "s0"]
    other = calibrate.Selection({1.0: x}, y2, seqs, fixed, ["signal", "noise"], cands)
    assert other.choose("s0") == selection.choose("s0")


def test_colour_trends_start_at_the_lock_and_follow_the_frames() -> None:
    features = {"colour": 0.2, "colour_ring": 0.6, "colour_lock": 0.8, "ring_lock": 0.1}
    trend = conf.follow(None, features, rate=0.25)
    assert trend == pytest.approx((0.8 - 0.25 * 0.6, 0.1 + 0.25 * 0.5))
    assert (features["colour_trend"], features["ring_trend"]) == trend
    for _ in range(60):  # a mask that stays wrong: the trend reaches its scores
        trend = conf.follow(trend, dict(features), rate=0.25)
    assert trend == pytest.approx((0.2, 0.6), abs=1e-6)
    # the gaps are read on the trends: one frame's dip moves them by the rate only
    steady = {"colour": 0.8, "colour_ring": 0.1, "colour_lock": 0.8, "ring_lock": 0.1}
    state = conf.follow(None, steady)
    dipped = dict(steady, colour=0.3)
    conf.follow(state, dipped)
    assert conf.inputs(dipped)["colour_gap"] == pytest.approx(-conf.TREND_RATE * 0.5)
    assert conf.inputs(dipped)["contrast"] == pytest.approx(0.2)  # the raw score still sees it


def test_the_bench_recomputes_the_trends_the_tracker_stores(calibrate) -> None:
    from annotator.engines.classical_track import ClassicalTracker
    from annotator.engines.tracker import ListFrames

    frames, mask = [], np.zeros((96, 128), bool)
    rng = np.random.default_rng(3)
    for t in range(8):  # a red square drifting over textured green, its shade changing
        frame = np.zeros((96, 128, 3), np.uint8)
        frame[..., 1] = 120 + rng.integers(0, 40, (96, 128))
        cv2.rectangle(frame, (30 + 3 * t, 30), (60 + 3 * t, 62), (40, 40, 160 + 10 * t), -1)
        frames.append(frame)
    mask[30:63, 30:61] = True
    tracker = ClassicalTracker(ListFrames(frames), mode="quality")
    tracker.add_conditioning(0, {1: mask})
    rows = [{"sequence": "s", "mode": "quality", "round": 1, "frame": u.frame, "features": u.features}
            for u in tracker.propagate(0, 1, {1: 7})]
    assert len(rows) == 7 and all("colour_trend" in r["features"] for r in rows)
    shuffled = rows[::-1]  # the bench sorts each run by frame
    recomputed = calibrate.with_trends(shuffled, conf.TREND_RATE)
    for row, features in zip(shuffled, recomputed, strict=True):
        assert features["colour_trend"] == pytest.approx(row["features"]["colour_trend"], abs=1e-12)
        assert features["ring_trend"] == pytest.approx(row["features"]["ring_trend"], abs=1e-12)
    raw = calibrate.with_trends(rows, 1.0)  # rate 1: no averaging
    assert all(f["colour_trend"] == pytest.approx(f["colour"]) for f in raw)


def test_the_weak_threshold_separates_bad_from_good_frames(calibrate) -> None:
    rng = np.random.default_rng(4)
    iou = np.concatenate([rng.uniform(0.0, 0.5, 300), rng.uniform(0.8, 1.0, 100)])
    # shrunk estimates: the bad frames score 0.45-0.60, the good ones 0.65-0.80
    estimate = np.where(iou < 0.5, rng.uniform(0.45, 0.60, 400), rng.uniform(0.65, 0.80, 400))
    threshold = calibrate.weak_threshold(estimate, iou)
    assert 0.58 < threshold < 0.67  # between the classes, whatever their sizes (300 against 100)
    assert (estimate[iou < 0.5] < threshold).mean() > 0.9
    assert (estimate[iou > 0.8] < threshold).mean() < 0.1
    assert 0.3 < conf.WEAK_THRESHOLD < 0.8  # the shipped default is a threshold on that scale
