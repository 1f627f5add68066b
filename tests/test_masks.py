import json

import numpy as np
import pytest
from PIL import Image

from annotator.core import masks


def _random_mask(seed: int, h: int = 37, w: int = 53) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((h, w)) > 0.6


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_random_masks(seed):
    m = _random_mask(seed)
    rle = masks.encode(m)
    assert isinstance(rle["counts"], str)
    json.dumps(rle)  # str counts: JSON-safe
    assert np.array_equal(masks.decode(rle), m)
    assert masks.area(rle) == int(m.sum())


def test_c_order_uint8_and_255_values_encode_the_same():
    m = _random_mask(1)
    as255 = (m * 255).astype(np.uint8)
    assert masks.encode(as255) == masks.encode(m)
    assert masks.encode(np.ascontiguousarray(m)) == masks.encode(np.asfortranarray(m))


def test_bbox_iou_union_intersection():
    a = np.zeros((10, 12), bool)
    a[2:5, 3:8] = True
    b = np.zeros((10, 12), bool)
    b[4:9, 6:10] = True
    ra, rb = masks.encode(a), masks.encode(b)
    assert masks.bbox(ra) == [3.0, 2.0, 5.0, 3.0]
    inter = (a & b).sum()
    assert masks.iou(ra, rb) == pytest.approx(inter / (a | b).sum())
    assert np.array_equal(masks.decode(masks.union([ra, rb])), a | b)
    assert np.array_equal(masks.decode(masks.intersection([ra, rb])), a & b)


def test_empty_masks():
    e = masks.empty(4, 6)
    assert masks.is_empty(e)
    assert masks.bbox(e) == [0.0, 0.0, 0.0, 0.0]
    assert masks.iou(e, e) == 1.0  # absent in both: a perfect match (DAVIS convention)
    assert masks.size(e) == (4, 6)


def test_uncompressed_counts_start_with_background_run():
    m = np.zeros((1, 7), bool)
    m[0, :6] = True  # column-major == row here
    rle = masks.encode(m)
    assert masks.uncompressed_counts(rle) == [0, 6, 1]
    back = masks.decode({"size": [1, 7], "counts": [0, 6, 1]})
    assert np.array_equal(back, m)


def test_golden_rle_of_davis_first_frames(davis_dir):
    golden = json.loads((davis_dir / "reference" / "coco-rle-first-frames.json").read_text())
    for seq, ref in golden.items():
        if not isinstance(ref, dict) or "counts" not in ref:
            continue
        gt = np.array(Image.open(davis_dir / ref["file"])) > 0
        rle = masks.encode(gt)
        assert rle["counts"] == ref["counts"], seq
        assert rle["size"] == ref["size"]
        assert masks.area(rle) == ref["area"]
        assert masks.bbox(rle) == ref["bbox_toBbox"]
        if "uncompressed_counts_first8" in ref:
            head = ref["uncompressed_counts_first8"]
            assert masks.uncompressed_counts(rle)[: len(head)] == head
