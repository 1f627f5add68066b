"""Fuzzing every importer with mutated real exports (and hypothesis-made JSON).

Each case must either import, or raise FormatError naming a file of the input; a failed import
leaves no file behind; no other exception type escapes; nothing hangs (a faulthandler watchdog
ends the run with a traceback if one case takes minutes). Projects go to /dev/shm when it
exists: successful imports then cost milliseconds instead of fsyncs.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from format_helpers import make_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.errors import FormatError
from annotator.formats import ExportOptions, export_project, import_into_project

CASES_PER_FORMAT = {"coco": 500, "ytvis": 400, "mot": 300, "mots": 350, "yolo": 300, "davis": 250}
HANG_GUARD_S = 300

JUNK_VALUES = [None, 0, -1, 1, 7, 2**31, 2**63, -(2**40), 1.5, -0.0, 1e308, "", "x", "00000.png",
               "clip/00001.png",
               [], {}, [1, 2], [[1, 2, 3]], [[0, 0, 10, 0, 10, 10]], {"size": [48, 64], "counts": "0"},
               {"size": [48, 64], "counts": [3072]}, {"size": [0, 0], "counts": ""}, True, "o" * 300,
               [[1e9, 1e9, -1e9, 5, 3, 3]], {"size": [48, 64], "counts": "PPPPPPPPPP"}]


@pytest.fixture(scope="module")
def seeds():
    base = Path(tempfile.mkdtemp(prefix="fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    built = make_project(base, frames=6, width=64, height=48)
    exports = base / "exports"
    exports.mkdir()
    paths = {"coco": exports / "c.json", "ytvis": exports / "y.json", "davis": exports / "davis",
             "mot": exports / "mot", "mots": exports / "mots", "yolo": exports / "yolo"}
    for fmt, out in paths.items():
        # YOLO always writes its frames (labels sit beside images); the import reads labels only.
        export_project(built.path, fmt, out, None if fmt == "yolo" else ExportOptions(write_frames=False))
    shutil.rmtree(paths["yolo"] / "images")
    roots = {"davis": paths["davis"] / "clip", "mot": paths["mot"] / "clip", "mots": paths["mots"] / "clip"}
    inputs = {}
    for fmt, out in paths.items():
        root = roots.get(fmt, out)
        if root.is_file():
            inputs[fmt] = (root.name, {root.name: root.read_bytes()})
        else:
            inputs[fmt] = (root.name, {str(p.relative_to(root)): p.read_bytes()
                                       for p in sorted(root.rglob("*")) if p.is_file()})
    yield built, inputs, base
    shutil.rmtree(base, ignore_errors=True)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if not data:
            return bytes(rng.randbytes(rng.randint(0, 20)))
        i = rng.randrange(len(data))
        if kind == 0:
            data[i] = rng.randrange(256)
        elif kind == 1:
            del data[i:i + rng.randint(1, 40)]
        elif kind == 2:
            data[i:i] = data[rng.randrange(len(data)):][:rng.randint(1, 60)]
        elif kind == 3:
            data[i:i] = rng.choice([b"-", b"9", b"999999999", b",", b" ", b"\n", b"\"", b"]", b"}", b"nan",
                                    b"\x00"])
        else:
            del data[i:]
    return bytes(data)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for k, v in enumerate(value[:6]):
            yield from _paths(v, (*prefix, k))


def _mutate_json(rng: random.Random, data: bytes) -> bytes:
    doc = json.loads(data)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = rng.randrange(4)
        if action == 0 and isinstance(parent, dict):
            del parent[key]
        elif action == 1 and isinstance(parent, list):
            parent.append(parent[key])  # a duplicate entry
        elif action == 2 and isinstance(parent[key], str) and parent[key]:
            s = parent[key]
            i = rng.randrange(len(s))
            parent[key] = s[:i] + chr(rng.randrange(32, 127)) + s[i + 1:]
        else:
            parent[key] = json.loads(json.dumps(rng.choice(JUNK_VALUES)))  # a fresh copy: no shared refs
    return json.dumps(doc).encode()


def _mutate_lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines:
        return b"1 2 3\n"
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        sep = "," if "," in lines[i] else " "
        fields = lines[i].split(sep)
        action = rng.randrange(4)
        if action == 0:
            j = rng.randrange(len(fields))
            fields[j] = rng.choice(["0", "-1", "1", "99999", "1e400", "nan", "", "x", "10000", "0.5", "2.0",
                                    "-0.2", fields[j][::-1], fields[j][:-2]])
        elif action == 1:
            fields = fields[:rng.randrange(len(fields))]
        elif action == 2:
            lines.append(lines[i])
        else:
            fields.insert(rng.randrange(len(fields) + 1), rng.choice(["1", "0.1", "abc"]))
        lines[i] = sep.join(fields)
    return ("\n".join(lines) + "\n").encode()


def _mutate(rng: random.Random, name: str, data: bytes) -> bytes:
    if name.endswith(".json") and rng.random() < 0.75:
        try:
            return _mutate_json(rng, data)
        except ValueError:
            pass
    if name.endswith(".txt") and rng.random() < 0.75:
        return _mutate_lines(rng, data)
    return _mutate_bytes(rng, data)


def _pick_file(rng: random.Random, fmt: str, files: dict) -> str:
    main = {"mot": "gt/gt.txt", "mots": "gt/gt.txt"}.get(fmt)
    names = sorted(files)
    if main and rng.random() < 0.8:
        return main
    if fmt == "yolo" and rng.random() < 0.7:
        return rng.choice([n for n in names if n.startswith("labels/")])
    return rng.choice(names)


def _check_case(fmt: str, root_name: str, files: dict, source: Path, work: Path, label: str) -> bool:
    """Run one import; True if it succeeded. Fails the test on any contract violation."""
    case = work / "in"
    out = work / "out"
    for d in (case, out):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    single = len(files) == 1 and root_name in files
    for name, data in files.items():
        target = case / name if single else case / root_name / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    path = case / root_name
    project = out / "p.annot"
    faulthandler.dump_traceback_later(HANG_GUARD_S, exit=True)
    try:
        import_into_project(path, fmt, source, project)
    except FormatError as exc:
        names_input = exc.path is not None and str(exc.path).startswith(str(case))
        assert names_input, f"{label}: {exc!r} names no input file"
        assert list(out.iterdir()) == [], f"{label}: left {list(out.iterdir())} behind"
        return False
    except Exception as exc:
        pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert project.is_file(), f"{label}: succeeded without writing the project"
    return True


@pytest.mark.slow
def test_mutated_exports_import_or_fail_cleanly(seeds):
    built, inputs, base = seeds
    rng = random.Random(20240611)
    total = succeeded = 0
    for fmt, count in CASES_PER_FORMAT.items():
        root_name, files = inputs[fmt]
        assert _check_case(fmt, root_name, files, built.source, base / "work", f"{fmt} unmutated")
        for k in range(count):
            name = _pick_file(rng, fmt, files)
            mutated = dict(files)
            mutated[name] = _mutate(rng, name, files[name])
            label = f"{fmt} case {k} ({name})"
            succeeded += _check_case(fmt, root_name, mutated, built.source, base / "work", label)
            total += 1
    assert total >= 2000
    assert 0 < succeeded < total  # the mutations reach both outcomes


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
                       st.text(max_size=8), st.sampled_from(["00000.png", "clip/00002.png", "0O1N"]))
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["id", "image_id", "category_id", "segmentation", "segmentations", "size", "counts",
                     "file_name", "file_names", "track_id", "video_id", "width", "height", "name", "length"]),
    inner, max_size=5), max_leaves=20)
_doc = st.fixed_dictionaries({}, optional={"images": st.lists(_json, max_size=3),
                                           "annotations": st.lists(_json, max_size=3),
                                           "categories": st.lists(_json, max_size=3),
                                           "videos": st.lists(_json, max_size=2)})


@pytest.mark.slow
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_doc, fmt=st.sampled_from(["coco", "ytvis"]))
def test_generated_json_imports_or_fails_cleanly(seeds, doc, fmt):
    built, _inputs, base = seeds
    files = {"a.json": json.dumps(doc).encode()}
    _check_case(fmt, "a.json", files, built.source, base / "gen", f"{fmt} {doc!r}")
