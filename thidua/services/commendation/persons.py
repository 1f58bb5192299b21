"""The persons register: import from XLSX (every error located by sheet, row and column; nothing written when
there is one), identity across years, award history, and the catalogue's history rules checked when a registered
person is proposed or forwarded.

XLSX layout (first row = headers, in any order; names as below, case and accents as written):
  sheet "Đoàn viên": Mã đơn vị | Họ và tên | Chức vụ | Năm sinh | Số định danh | Loại (Đoàn viên / Cán bộ công đoàn)
  sheet "Khen thưởng" (optional, past awards): Số định danh or (Mã đơn vị, Họ và tên, Năm sinh) | Năm |
        Hình thức (mã trong danh mục) | Tên hình thức | Số quyết định
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.errors import InvalidInputError
from thidua.models.awards import Refusal
from thidua.models.clock import utcnow
from thidua.models.hierarchy import subtree_range
from thidua.models.nominations import Nomination
from thidua.models.persons import (
    KIND_BY_LABEL,
    PERSON_KINDS,
    HistoryEntry,
    HistoryRuleSpec,
    Person,
    PersonAward,
    clean_name,
    history_refusals,
    name_key,
)
from thidua.models.tables import Unit

P = Person.__table__  # type: ignore[attr-defined]
PA = PersonAward.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]

PERSON_SHEET = "Đoàn viên"
AWARD_SHEET = "Khen thưởng"
PERSON_HEADERS = {
    "mã đơn vị": "unit",
    "họ và tên": "name",
    "chức vụ": "position",
    "năm sinh": "birth_year",
    "số định danh": "id_number",
    "loại": "kind",
}
AWARD_HEADERS = {
    "số định danh": "id_number",
    "mã đơn vị": "unit",
    "họ và tên": "name",
    "năm sinh": "birth_year",
    "năm": "year",
    "hình thức": "award_code",
    "tên hình thức": "award_name",
    "số quyết định": "decision",
}


class PersonImportError(InvalidInputError):
    """Every problem of an import file, each located; nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    awards: int = 0
    person_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PersonView:
    id: int
    full_name: str
    unit_id: int
    unit_code: str
    unit_name: str
    position: str
    kind: str
    birth_year: int | None
    id_number: str

    @property
    def kind_label(self) -> str:
        return PERSON_KINDS.get(self.kind, self.kind)


# ---------------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _sheet_rows(
    workbook, title: str, headers: Mapping[str, str], file: str, problems: list[str], required: Sequence[str]
) -> list[tuple[int, dict[str, str]]]:  # noqa: ANN001
    sheet = workbook[title]
    rows = sheet.iter_rows(values_only=True)
    head = next(rows, None)
    if head is None:
        problems.append(f"{file}, trang '{title}': trang trống (cần dòng tiêu đề)")
        return []
    columns: dict[int, str] = {}
    for index, value in enumerate(head):
        key = headers.get(_cell(value).casefold())
        if key:
            columns[index] = key
    missing = [label for label, key in headers.items() if key in required and key not in columns.values()]
    if missing:
        problems.append(
            f"{file}, trang '{title}', dòng 1: thiếu cột {', '.join(repr(m.capitalize()) for m in missing)}"
        )
        return []
    out = []
    for number, values in enumerate(rows, start=2):
        record = {key: _cell(values[index]) if index < len(values) else "" for index, key in columns.items()}
        if any(record.values()):
            out.append((number, record))
    return out


def _year(text: str, where: str, column: str, problems: list[str], *, low: int = 1900, high: int = 2100) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        problems.append(f"{where}, cột '{column}': '{text}' không phải năm (số nguyên)")
        return None
    if not low <= value <= high:
        problems.append(f"{where}, cột '{column}': năm {value} ngoài khoảng {low}–{high}")
        return None
    return value


def import_persons(
    engine: Engine, path: Path, *, actor: str, award_codes: Mapping[str, str] | None = None, now: datetime | None = None
) -> ImportResult:
    """Create or update persons (and their past awards) from an XLSX file. `award_codes` (code → name) checks
    the award history sheet against a catalogue when given. Set-based: one read of the register, executemany
    writes, one transaction."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    file = path.name
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise PersonImportError([f"{file}: không đọc được tệp XLSX ({exc.__class__.__name__}: {exc})"]) from None
    problems: list[str] = []
    if PERSON_SHEET not in workbook.sheetnames:
        raise PersonImportError([f"{file}: thiếu trang '{PERSON_SHEET}' (các trang: {', '.join(workbook.sheetnames)})"])
    people = _sheet_rows(workbook, PERSON_SHEET, PERSON_HEADERS, file, problems, ("unit", "name"))
    awards = (
        _sheet_rows(workbook, AWARD_SHEET, AWARD_HEADERS, file, problems, ("year", "award_code"))
        if AWARD_SHEET in workbook.sheetnames
        else []
    )
    workbook.close()
    at = now or utcnow()
    with Session(engine) as session:
        units = {code: uid for uid, code in session.execute(select(U.c.id, U.c.code))}
        wanted: list[dict[str, Any]] = []
        seen_ids: dict[str, int] = {}
        seen_keys: dict[tuple[int, str, int | None], int] = {}
        for number, record in people:
            where = f"{file}, trang '{PERSON_SHEET}', dòng {number}"
            before = len(problems)
            unit_id = units.get(record.get("unit", ""))
            if not record.get("unit"):
                problems.append(f"{where}, cột 'Mã đơn vị': bỏ trống")
            elif unit_id is None:
                problems.append(f"{where}, cột 'Mã đơn vị': không có đơn vị mã '{record['unit']}'")
            name = clean_name(record.get("name", ""))
            if not name:
                problems.append(f"{where}, cột 'Họ và tên': bỏ trống")
            birth_year = _year(record.get("birth_year", ""), where, "Năm sinh", problems, high=at.year)
            id_number = record.get("id_number", "").replace(" ", "")
            if id_number and not (id_number.isdigit() and len(id_number) in (9, 12)):
                problems.append(f"{where}, cột 'Số định danh': '{id_number}' phải gồm 12 chữ số (CCCD) hoặc 9 (CMND)")
            kind = KIND_BY_LABEL.get(record.get("kind", "").casefold() or "đoàn viên")
            if kind is None:
                problems.append(f"{where}, cột 'Loại': '{record['kind']}' (chỉ nhận: Đoàn viên, Cán bộ công đoàn)")
            if id_number and id_number in seen_ids:
                problems.append(f"{where}, cột 'Số định danh': trùng với dòng {seen_ids[id_number]}")
            key = (unit_id or 0, name_key(name), birth_year)
            if not id_number and key in seen_keys:
                problems.append(f"{where}: trùng người ở dòng {seen_keys[key]} (cùng đơn vị, họ tên, năm sinh)")
            if len(problems) > before:
                continue
            seen_ids.setdefault(id_number, number) if id_number else seen_keys.setdefault(key, number)
            wanted.append(
                {
                    "row": number,
                    "unit_id": unit_id,
                    "full_name": name,
                    "name_key": name_key(name),
                    "position": record.get("position", ""),
                    "kind": kind,
                    "birth_year": birth_year,
                    "id_number": id_number,
                }
            )
        existing = [dict(r) for r in session.execute(select(P)).mappings()]
        by_id = {r["id_number"]: r for r in existing if r["id_number"]}
        by_key = {(r["unit_id"], r["name_key"], r["birth_year"]): r for r in existing if not r["id_number"]}
        creates, updates, result = [], [], ImportResult()
        matched: dict[int, int] = {}  # sheet row -> person id (existing)
        for item in wanted:
            found = (
                by_id.get(item["id_number"])
                if item["id_number"]
                else by_key.get((item["unit_id"], item["name_key"], item["birth_year"]))
            )
            fields = {
                k: item[k] for k in ("unit_id", "full_name", "name_key", "position", "kind", "birth_year", "id_number")
            }
            if found is None:
                creates.append({**fields, "active": True, "created_at": at, "updated_at": at})
            elif any(found[k] != v for k, v in fields.items()):
                updates.append({"b_id": found["id"], **{f"v_{k}": v for k, v in fields.items()}, "before": found})
                matched[item["row"]] = found["id"]
            else:
                result.unchanged += 1
                matched[item["row"]] = found["id"]
        # award history rows refer to persons of this file or of the register
        history: list[dict[str, Any]] = []
        for number, record in awards:
            where = f"{file}, trang '{AWARD_SHEET}', dòng {number}"
            before = len(problems)
            year = _year(record.get("year", ""), where, "Năm", problems, low=1950, high=at.year)
            if not record.get("year"):
                problems.append(f"{where}, cột 'Năm': bỏ trống")
            code = record.get("award_code", "")
            if not code:
                problems.append(f"{where}, cột 'Hình thức': bỏ trống")
            elif award_codes is not None and code not in award_codes:
                problems.append(f"{where}, cột 'Hình thức': không có hình thức '{code}' trong danh mục khen thưởng")
            id_number = record.get("id_number", "").replace(" ", "")
            unit_id = units.get(record.get("unit", ""))
            birth_year = _year(record.get("birth_year", ""), where, "Năm sinh", problems, high=at.year)
            target = (
                ("id", id_number)
                if id_number
                else ("key", (unit_id or 0, name_key(record.get("name", "")), birth_year))
            )
            if not id_number and not (record.get("unit") and record.get("name")):
                problems.append(f"{where}: cần 'Số định danh' hoặc 'Mã đơn vị' và 'Họ và tên' để biết là ai")
            elif id_number and id_number not in by_id and id_number not in seen_ids:
                problems.append(
                    f"{where}, cột 'Số định danh': không có người số định danh '{id_number}' trong sổ hay trong tệp"
                )
            elif not id_number and target[1] not in by_key and target[1] not in seen_keys:
                problems.append(
                    f"{where}: không có '{record.get('name')}' (năm sinh {birth_year or 'không ghi'}) của đơn vị "
                    f"'{record.get('unit')}' trong sổ hay trong tệp"
                )
            if len(problems) > before:
                continue
            history.append(
                {
                    "target": target,
                    "year": year,
                    "award_code": code,
                    "award_name": record.get("award_name") or (award_codes or {}).get(code, ""),
                    "decision_symbol": record.get("decision", ""),
                }
            )
        if problems:
            raise PersonImportError(problems)
        session.connection()  # one transaction for every write below
        if creates:
            session.execute(insert(P), creates)
        if updates:
            session.execute(
                update(P)
                .where(P.c.id == bindparam("b_id"))
                .values(
                    **{
                        k: bindparam(f"v_{k}")
                        for k in ("unit_id", "full_name", "name_key", "position", "kind", "birth_year", "id_number")
                    },
                    updated_at=at,
                ),
                [{k: v for k, v in u.items() if k != "before"} for u in updates],
            )
        current = [
            dict(r)
            for r in session.execute(
                select(P.c.id, P.c.id_number, P.c.unit_id, P.c.name_key, P.c.birth_year)
            ).mappings()
        ]
        ids_by_number = {r["id_number"]: r["id"] for r in current if r["id_number"]}
        ids_by_key = {(r["unit_id"], r["name_key"], r["birth_year"]): r["id"] for r in current if not r["id_number"]}
        have = {
            (r.person_id, r.year, r.award_code, r.decision_symbol)
            for r in session.execute(select(PA.c.person_id, PA.c.year, PA.c.award_code, PA.c.decision_symbol))
        }
        award_rows = []
        for h in history:
            kind, value = h.pop("target")
            person_id = ids_by_number[value] if kind == "id" else ids_by_key[value]
            if (person_id, h["year"], h["award_code"], h["decision_symbol"]) in have:
                continue
            have.add((person_id, h["year"], h["award_code"], h["decision_symbol"]))
            award_rows.append({**h, "person_id": person_id, "source": "import", "revoked": False})
        if award_rows:
            session.execute(insert(PA), award_rows)
        result.created, result.updated, result.awards = len(creates), len(updates), len(award_rows)
        audit_many(
            session,
            [
                {
                    "at": at,
                    "actor": actor,
                    "action": "persons.imported",
                    "entity": "person",
                    "note": f"{file}: thêm {len(creates)}, cập nhật {len(updates)}, khen thưởng {len(award_rows)}",
                    "after": {"created": len(creates), "updated": len(updates), "awards": len(award_rows)},
                },
                *(
                    {
                        "at": at,
                        "actor": actor,
                        "action": "person.updated",
                        "entity": "person",
                        "entity_id": u["b_id"],
                        "unit_id": u["v_unit_id"],
                        "before": {k: u["before"][k] for k in ("unit_id", "position", "full_name")},
                        "after": {
                            "unit_id": u["v_unit_id"],
                            "position": u["v_position"],
                            "full_name": u["v_full_name"],
                        },
                    }
                    for u in updates
                ),
            ],
        )
        session.commit()
        result.person_ids = [r["id"] for r in current]
        return result


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------
def _views(session: Session, condition: Any) -> list[PersonView]:
    rows = session.execute(
        select(P, U.c.code.label("unit_code"), U.c.name.label("unit_name"))
        .join(U, U.c.id == P.c.unit_id)
        .where(condition)
        .order_by(P.c.unit_id, P.c.name_key, P.c.id)
    ).mappings()
    return [
        PersonView(
            r["id"],
            r["full_name"],
            r["unit_id"],
            r["unit_code"],
            r["unit_name"],
            r["position"],
            r["kind"],
            r["birth_year"],
            r["id_number"],
        )
        for r in rows
    ]


def get_person(engine: Engine, person_id: int) -> PersonView | None:
    with Session(engine) as session:
        found = _views(session, P.c.id == person_id)
    return found[0] if found else None


def persons_in_subtree(engine: Engine, unit_id: int) -> list[PersonView]:
    """Active persons of the unit and the units below it (the people a unit may propose)."""
    with Session(engine) as session:
        low, high = subtree_range(session.execute(select(U.c.path).where(U.c.id == unit_id)).scalar_one())
        return _views(session, and_(P.c.active.is_(True), U.c.path >= low, U.c.path < high))


def history(engine: Engine, person_id: int) -> list[dict[str, Any]]:
    """The person's awards, oldest first, with revoked ones marked."""
    with Session(engine) as session:
        return [
            dict(r)
            for r in session.execute(
                select(PA).where(PA.c.person_id == person_id).order_by(PA.c.year, PA.c.id)
            ).mappings()
        ]


def _histories(session: Session, person_ids: Iterable[int]) -> dict[int, list[HistoryEntry]]:
    ids = sorted(set(person_ids))
    out: dict[int, list[HistoryEntry]] = {i: [] for i in ids}
    if not ids:
        return out
    for r in session.execute(
        select(PA.c.person_id, PA.c.year, PA.c.award_code, PA.c.award_name).where(
            PA.c.person_id.in_(ids), PA.c.revoked.is_(False)
        )
    ):
        out[r.person_id].append(HistoryEntry(r.year, r.award_code, r.award_name))
    return out


# ---------------------------------------------------------------------------------------------------
# Rules and recording
# ---------------------------------------------------------------------------------------------------
def history_rule_refusals(
    session: Session, ctx: Any, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
    """The catalogue's history rules for individual nominations. A nomination of someone not in the persons
    register cannot show a history: it is refused when the award has a prior_awards rule."""
    catalogue = ctx.catalogue
    names = {a.code: a.name for a in catalogue.awards}
    relevant = [
        (row, label)
        for row, label in zip(rows, labels)
        if row["subject"] == "individual"
        and (award := catalogue.award(row["award_code"])) is not None
        and award.history
    ]
    histories = _histories(session, [row["person_id"] for row, _ in relevant if row.get("person_id")])
    out: dict[str, list[Refusal]] = {}
    for row, label in relevant:
        award = catalogue.award(row["award_code"])
        rules = [
            HistoryRuleSpec(r.kind, tuple(r.awards or ()), r.at_least, r.within_years, r.title) for r in award.history
        ]
        if not row.get("person_id"):
            if any(r.kind == "prior_awards" for r in rules):
                out[label] = [
                    Refusal(
                        "lich-su:chua-co-trong-so",
                        f"{award.name} xét lịch sử khen thưởng: hãy chọn "
                        f"{row['nominee_name']} trong sổ đoàn viên để biết các năm đã được khen",
                    )
                ]
            continue
        found = history_refusals(
            award.code,
            award.name,
            rules,
            histories.get(row["person_id"], []),
            ctx.campaign.year,
            row["nominee_name"],
            names,
        )
        if found:
            out[label] = found
    return out


def record_decided(
    session: Session, decision_symbol: str, decision_date: date, year: int, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Add decided awards of registered persons to their history, under the campaign's year (in the decision's
    transaction)."""
    payload = [
        {
            "person_id": r["person_id"],
            "year": year,
            "award_code": r["award_code"],
            "award_name": r["award_name"],
            "decision_symbol": decision_symbol,
            "decision_date": decision_date,
            "nomination_id": r["id"],
            "source": "decision",
            "revoked": False,
        }
        for r in rows
        if r.get("person_id")
    ]
    if payload:
        session.execute(insert(PA), payload)
    return len(payload)


def record_revoked(session: Session, nomination_ids: Sequence[int]) -> None:
    if nomination_ids:
        session.execute(update(PA).where(PA.c.nomination_id.in_(list(nomination_ids))).values(revoked=True))


def person_problems(session: Session, person_id: int, nominee_unit_id: int, person_name: str) -> list[str]:
    """A proposal naming a registered person must name them as the register does, in their unit."""
    row = session.execute(select(P.c.full_name, P.c.unit_id, P.c.active).where(P.c.id == person_id)).first()
    if row is None or not row.active:
        return [f"không có người #{person_id} trong sổ đoàn viên (hoặc đã thôi)"]
    problems = []
    if row.unit_id != nominee_unit_id:
        problems.append(f"{row.full_name} thuộc đơn vị khác trong sổ đoàn viên (đơn vị #{row.unit_id})")
    if person_name.strip() and name_key(person_name) != name_key(row.full_name):
        problems.append(f"họ tên '{person_name.strip()}' khác sổ đoàn viên ('{row.full_name}')")
    return problems
