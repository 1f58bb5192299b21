"""Unit selectors of campaign files (`where:`) as SQL conditions over the unit table, and their checks
against the attribute schema and the stored units (located problems)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from thidua.models.attributes import AttributeSchema, parse_attribute
from thidua.models.hierarchy import subtree_upper_bound
from thidua.models.spec.campaign import UnitSelector
from thidua.models.spec.problems import Problem
from thidua.models.spec.yamlsource import SourceDoc
from thidua.models.tables import Unit

U = Unit.__table__  # type: ignore[attr-defined]
Loc = tuple[object, ...]


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def selector_problems(
    session: Session, selector: UnitSelector | None, loc: Loc, doc: SourceDoc, schema: AttributeSchema
) -> list[Problem]:
    if selector is None:
        return []
    problems: list[Problem] = []
    known = schema.by_code()
    for key, value in selector.attributes.items():
        spec = known.get(key)
        where = loc + ("attributes", key)
        if spec is None:
            listed = ", ".join(known) or "chưa khai báo thuộc tính nào trong unit_attributes.yaml"
            problems.append(doc.problem(where, f"không có thuộc tính đơn vị '{key}' (có: {listed})"))
            continue
        for item in _values(value):
            try:
                parse_attribute(spec, item if spec.type != "tags" else [item])
            except ValueError as exc:
                problems.append(doc.problem(where, str(exc)))
    for key, code in selector.unit_codes():
        if session.execute(select(U.c.id).where(U.c.code == code)).first() is None:
            problems.append(doc.problem(loc + (key,), f"không có đơn vị mã '{code}'"))
    return problems


def _tag_elements(session: Session, key: str, alias: str):
    if session.get_bind().dialect.name == "postgresql":
        return func.json_array_elements_text(U.c.attributes[key]).table_valued("value").lateral(alias)
    return func.json_each(U.c.attributes, f"$.{key}").table_valued("value").alias(alias)


def selector_clause(session: Session, selector: UnitSelector | dict | None, schema: AttributeSchema) -> ColumnElement:
    """SQL condition on the unit table; `true()` when there is nothing to select on."""
    if selector is None:
        return true()
    if isinstance(selector, dict):
        selector = UnitSelector.model_validate(selector)
    known = schema.by_code()
    conditions: list[ColumnElement] = []
    for n, (key, value) in enumerate(selector.attributes.items()):
        spec = known[key]  # checked when the campaign was loaded
        if spec.type == "tags":
            wanted = [str(v) for v in _values(value)]
            elements = _tag_elements(session, key, f"tag{n}")
            conditions.append(exists(select(literal(1)).select_from(elements).where(elements.c.value.in_(wanted))))
            continue
        typed = [parse_attribute(spec, v) for v in _values(value)]
        column = U.c.attributes[key]
        if spec.type == "bool":
            conditions.append(column.as_boolean().in_(typed))
        elif spec.type in ("integer", "decimal"):
            conditions.append(column.as_float().in_([float(v) for v in typed]))
        else:
            conditions.append(column.as_string().in_(typed))
    if selector.under:
        path = session.execute(select(U.c.path).where(U.c.code == selector.under)).scalar_one()
        conditions.append(and_(U.c.path >= path, U.c.path < subtree_upper_bound(path)))
    if selector.children_of:
        parent = select(U.c.id).where(U.c.code == selector.children_of).scalar_subquery()
        conditions.append(U.c.parent_id == parent)
    if selector.clusters:
        from thidua.services.clusters import membership_clause  # a label of the unit file, or a first-class cluster

        conditions.append(or_(U.c.cluster.in_(selector.clusters), membership_clause(selector.clusters)))
    return and_(true(), *conditions)
