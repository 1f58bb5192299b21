"""Materialised paths of the unit tree (pure, imports nothing): each unit's `path` is the chain of ids from the
root, each as a fixed-width segment f"{id:08d}." (`path_segment`). A subtree is the range
[path, subtree_upper_bound(path)), and grouping by the ancestor at depth d is grouping by the first
`path_prefix_len(d)` characters. Kept apart from `thidua.models.hierarchy` (which re-exports them) so that
readers such as `thidua status` use the one subtree rule without loading the unit-file models."""

from __future__ import annotations

SEGMENT_WIDTH = 9  # "00000017."
# The subtree upper bound adds 1 to the last id; it must stay 8 digits wide to keep the range exact.
MAX_UNIT_ID = 99_999_998


def path_segment(unit_id: int) -> str:
    return f"{unit_id:08d}."


def child_path(parent_path: str, unit_id: int) -> str:
    """Path of a unit under a parent path ("" for a root)."""
    return parent_path + path_segment(unit_id)


def path_depth(path: str) -> int:
    """0 for a root."""
    return len(path) // SEGMENT_WIDTH - 1


def path_prefix_len(depth: int) -> int:
    """Length of the path prefix naming the ancestor at `depth`: group by substr(path, 1, this)."""
    return SEGMENT_WIDTH * (depth + 1)


def path_ids(path: str) -> list[int]:
    """Ids from the root down to the unit itself."""
    return [int(path[i : i + 8]) for i in range(0, len(path), SEGMENT_WIDTH)]


def subtree_upper_bound(path: str) -> str:
    """Exclusive upper bound of the subtree range [path, bound).

    The next sibling id rather than `path || '~'`: collations such as vi-VN or en-US (ICU, glibc) ignore
    punctuation at the first comparison level, so '~' does not sort after the digits there. Fixed-width
    digits compare the same way in every collation, so this range is exact and uses the path index.
    """
    return path[:-SEGMENT_WIDTH] + path_segment(int(path[-SEGMENT_WIDTH:-1]) + 1)


def subtree_range(path: str) -> tuple[str, str]:
    """[low, high) bounds of the subtree rooted at `path` (the unit included): the one subtree rule. SQL helpers
    built on it: thidua.services.units.subtree_clause (a literal root) and in_subtree_of (a joined root)."""
    return path, subtree_upper_bound(path)
