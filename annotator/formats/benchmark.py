"""Benchmark class ids for MOT and MOTS: project categories -> the ids the official tools score.

Evaluators key on the class *number*, not its name: TrackEval's MOTSChallenge scores only class
2 (pedestrian), KITTI-MOTS 1 (car) and 2 (pedestrian), MOTChallenge (MOT17) only 1 (pedestrian,
with classes 2, 7, 8 and 12 as distractors). A category's position in the export (1..K) would
score zero without a word, so MOT and MOTS map categories *by name*:

- MOTS (KITTI-MOTS / MOTS-Challenge): car = 1, pedestrian = 2;
- MOT (MOT17): pedestrian = 1, person on vehicle = 2, car = 3, ... reflection = 12, crowd = 13;
- names match ignoring case, spaces, hyphens and underscores; ``person`` and ``people`` count as
  pedestrian and ``cars`` as car;
- ``class_map`` (``--class-map name=id,...``) overrides or extends the table: ``object=2``;
- a category that maps to nothing gets the next free id above the table (MOTS 3.., MOT 14..),
  and the summary warns that the benchmark ignores it;
- when no exported object lands in a class the benchmark evaluates, the summary warns and names
  the categories (what would otherwise be a silent score of zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

MOT17_CLASSES = {1: "pedestrian", 2: "person on vehicle", 3: "car", 4: "bicycle", 5: "motorbike",
                 6: "non motorized vehicle", 7: "static person", 8: "distractor", 9: "occluder",
                 10: "occluder on the ground", 11: "occluder full", 12: "reflection", 13: "crowd"}
KITTI_MOTS_CLASSES = {1: "car", 2: "pedestrian"}
# Other spellings of the same classes (TrackEval's own names included).
_ALIASES = {"person": "pedestrian", "people": "pedestrian", "persons": "pedestrian",
            "pedestrians": "pedestrian", "cars": "car", "nonmotvehicle": "nonmotorizedvehicle",
            "occluderonground": "occluderontheground"}
MOTS_IGNORE_CLASS = 10  # id 10000: an ignore region in KITTI-MOTS / MOTS-Challenge


@dataclass(frozen=True)
class Benchmark:
    name: str
    classes: dict[int, str]  # id -> official name
    evaluated: tuple[int, ...]  # the classes the official evaluation scores
    max_id: int  # exclusive upper bound of a class id

    def ids_by_name(self) -> dict[str, int]:
        return {normalize(name): cid for cid, name in self.classes.items()}


BENCHMARKS = {
    "mot": Benchmark("MOT17", MOT17_CLASSES, (1,), 10_000),
    "mots": Benchmark("MOTS (KITTI-MOTS / MOTS-Challenge)", KITTI_MOTS_CLASSES, (1, 2), MOTS_IGNORE_CLASS),
}


def normalize(name: str) -> str:
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    return _ALIASES.get(key, key)


def parse_class_map(text: str) -> tuple[tuple[str, int], ...]:
    """'car=1,person=2' -> (('car', 1), ('person', 2)); ValueError naming the bad part."""
    pairs: list[tuple[str, int]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.rpartition("=")
        name = name.strip()
        try:
            cid = int(value.strip())
        except ValueError:
            cid = 0
        if not sep or not name or cid <= 0:
            raise ValueError(f"bad class map part {part!r} (NAME=ID with a positive integer id, "
                             "e.g. car=1,pedestrian=2)")
        if any(normalize(n) == normalize(name) for n, _ in pairs):
            raise ValueError(f"category {name!r} appears twice in the class map")
        pairs.append((name, cid))
    if not pairs:
        raise ValueError("give at least one NAME=ID pair")
    return tuple(pairs)


@dataclass
class ClassIds:
    """The class id of every exported category name, and what to warn about."""

    ids: dict[str, int] = field(default_factory=dict)  # category name -> class id
    unmapped: list[str] = field(default_factory=list)  # categories the benchmark does not know

    def of(self, category: str) -> int:
        return self.ids[category]


def resolve_class_ids(fmt: str, categories: Iterable[str],
                      class_map: tuple[tuple[str, int], ...] | None = None) -> ClassIds:
    """Map category names to ``fmt``'s (``mot`` / ``mots``) class ids, ``class_map`` first."""
    bench = BENCHMARKS[fmt]
    table = bench.ids_by_name()
    overrides = {normalize(name): cid for name, cid in (class_map or ())}
    for name, cid in (class_map or ()):
        if cid >= bench.max_id:
            why = ": id 10000 is the ignore region" if fmt == "mots" else ""
            raise ValueError(f"class id {cid} for {name!r} is too large for {fmt.upper()} (ids below "
                             f"{bench.max_id}{why})")
    result = ClassIds()
    names = list(dict.fromkeys(categories))
    used = set(table.values()) | set(overrides.values())
    next_free = max(bench.classes) + 1
    for name in names:
        key = normalize(name)
        if key in overrides:
            result.ids[name] = overrides[key]
        elif key in table:
            result.ids[name] = table[key]
        else:
            while next_free in used:
                next_free += 1
            if next_free >= bench.max_id:
                raise ValueError(f"too many categories the {bench.name} classes do not know for class ids "
                                 f"below {bench.max_id}: give them ids with --class-map NAME=ID")
            result.ids[name] = next_free
            used.add(next_free)
            result.unmapped.append(name)
    return result


def class_warnings(fmt: str, class_ids: ClassIds, exported: dict[str, int]) -> list[str]:
    """Warnings for an export: categories outside the benchmark's classes, and the silent-zero case
    where no exported object is in a class the benchmark evaluates. ``exported``: category name ->
    number of exported objects of it."""
    bench = BENCHMARKS[fmt]
    warnings = []
    if class_ids.unmapped:
        listed = ", ".join(f"{n!r} -> {class_ids.ids[n]}" for n in class_ids.unmapped)
        warnings.append(f"categories that are not {bench.name} classes got ids the benchmark does not score "
                        f"({listed}); map them with --class-map NAME=ID")
    scored = [n for n, count in exported.items() if count and class_ids.ids.get(n) in bench.evaluated]
    if exported and not scored:
        wanted = ", ".join(f"{cid} {bench.classes[cid]}" for cid in bench.evaluated)
        have = ", ".join(f"{n!r} (class {class_ids.ids[n]})" for n in exported) or "none"
        warnings.append(f"no exported object is in a class {bench.name} evaluates ({wanted}): the categories "
                        f"are {have}; the official evaluation would score nothing. Rename the category or "
                        "use --class-map NAME=ID")
    return warnings
