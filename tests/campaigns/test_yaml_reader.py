"""parse_yaml reads plain files through libyaml (issue 17: `thidua validate` start-up) and everything else through
ruamel's round-trip reader: both must give the same data (values and their types) and the same lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from thidua.models.spec import yamlsource
from thidua.models.spec.problems import SpecError
from thidua.models.spec.yamlsource import decode_text, parse_yaml

pytestmark = pytest.mark.domain

ROOT = Path(__file__).resolve().parents[2]

EDGE_CASES = """\
code: "bd-2023"   # a comment
title: 'Chiến dịch'
plain: Chiến dịch thi đua - đợt 1, lần:2
multi line: first
  second line
literal: |
  dòng 1
  dòng 2
folded: >-
  một
  hai
keep: |+
  giữ

int: 12
underscored: 1_000
hex: 0x1F
octal: 0o17
leading zero: 017
float: 1.50
exp: 1e3
inf: .inf
nan: .nan
yes: yes
truth: true
off: Off
null value: null
tilde: ~
empty:
date: 2023-05-31
datetime: 2023-05-31T08:30:00+07:00
time text: "07:30"
sexagesimal: 1:30
1: number key
2023-01-01: date key
1.5: float key
flow: {a: 1, b: [x, "y", 3]}
shared: &shared
  - name: R&D
    days: [1, 2]
  - {name: b}
again: *shared
nested:
  inner: *shared
list:
  - one
  -
    nested: true
  - - inner
    - 2
  - {k: v}
"""

FALLBACK_CASES = [
    "a: &x 1\nb: *x\n",  # an anchored scalar (ruamel builds ScalarInt, ScalarBoolean…)
    "a: &x\n  true\n",  # the same, its value on the next line
    "a: &x [&y 1]\n",  # inside an anchored collection
    "a: &a [*a]\n",  # an alias inside its own anchor
    "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    + "".join(
        f"c{i}: &c{i} [*{'b' if i == 0 else f'c{i - 1}'}, *{'b' if i == 0 else f'c{i - 1}'}]\n" for i in range(12)
    ),
    "base: &b {k: 1}\nother:\n  <<: *b\n",  # merge key
    "a: !custom 1\n",  # a tag that is refused
    "a: !!binary aGVsbG8=\n",  # a tag that is not plain
    "%YAML 1.1\n---\na: yes\n",  # a directive (YAML 1.1 rules)
    "a: 1\na: 2\n",  # duplicate key
    "1: a\ntrue: b\n",  # keys equal once read (1 == True): ruamel refuses them
    "1: a\n'1': b\n",  # keys that differ but read as the same text
    "? [a, b]\n: 1\n",  # a key that is not a scalar
    "",  # empty file
    "a: 1\n---\nb: 2\n",  # two documents
    "a: 31/02/2023\nb: 2023-02-31\n",  # a date that does not exist
    "a: [1, 2\n",  # a syntax error
]


def _both(text: str):  # noqa: ANN202
    """(fast path result or None, round-trip reader's SourceDoc or its SpecError)."""
    fast = yamlsource._plain_through_libyaml(text)
    saved = yamlsource._plain_through_libyaml
    yamlsource._plain_through_libyaml = lambda _text: None
    try:
        return fast, parse_yaml(text, "f.yaml")
    except SpecError as exc:
        return fast, exc
    finally:
        yamlsource._plain_through_libyaml = saved


def _same(a: object, b: object, at: tuple = ()) -> None:
    assert type(a) is type(b), (at, a, b)
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), at
        for key in a:
            _same(a[key], b[key], at + (key,))
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), at
        for index, (x, y) in enumerate(zip(a, b)):
            _same(x, y, at + (index,))
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), at
    else:
        assert a == b and repr(a) == repr(b), (at, a, b)


def test_plain_values_read_alike_both_ways():
    fast, doc = _both(EDGE_CASES)
    assert fast is not None, "a plain file takes the fast path"
    assert not isinstance(doc, SpecError)
    _same(fast[0], doc.data)
    assert fast[1] == doc.lines


@pytest.mark.parametrize("text", FALLBACK_CASES)
def test_anything_else_is_left_to_the_round_trip_reader(text: str):
    fast, _ = _both(text)
    assert fast is None


def test_every_yaml_file_of_the_repository_reads_alike():
    read = 0
    for path in sorted([*ROOT.glob("config/**/*.y*ml"), *ROOT.glob("tests/**/*.y*ml"), *ROOT.glob("docs/**/*.y*ml")]):
        try:
            text = decode_text(path.read_bytes(), str(path))
        except SpecError:
            continue
        fast, doc = _both(text)
        if fast is None:
            continue
        assert not isinstance(doc, SpecError), path
        _same(fast[0], doc.data, (str(path),))
        assert fast[1] == doc.lines, path
        read += 1
    assert read >= 50
