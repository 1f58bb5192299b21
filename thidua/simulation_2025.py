"""`thidua demo --year 2025`: a 2025 campaign replayed across the reorganisation of 01/07/2025.

LĐLĐ tỉnh Bình Định runs its 2025 campaign (config/campaigns/binh_dinh_2025.yaml) over a small synthetic tree of
Bình Định and Gia Lai. On 01/07/2025 the change file config/reorganisations/2025-07-01_gia_lai.csv merges the two
provincial federations into the new LĐLĐ tỉnh Gia Lai and ends the district federations (CĐCS go to the new
province or to a commune-level union). The campaign follows its successor: work owed by the ended districts
moves or closes, reports awaiting review go to the new reviewers, reminders and escalations go to the new
parents, and nothing already sent is sent again. The year ends with the year-end report in the structure of
31/12/2025 (with the before/after table) and the status in both structures.

Simulated people only decide what to do and when (deterministic for a seed); everything goes through the
engine's services and the real SMTP dispatch (a local sink writing .eml files).
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.clock import local_to_utc
from thidua.models.outbox import OutboxMessage
from thidua.models.tables import Assignment, AuditLog, ObligationDef, Unit
from thidua.settings import CONFIG_DIR, Settings

CAMPAIGN = "bd-2025"
CAMPAIGN_FILE = CONFIG_DIR / "campaigns" / "binh_dinh_2025.yaml"
CHANGE_FILE = CONFIG_DIR / "reorganisations" / "2025-07-01_gia_lai.csv"
LEVELS_FILE = CONFIG_DIR / "levels_2026.yaml"
MERGER_DAY = date(2025, 7, 1)
START, END = date(2025, 2, 10), date(2025, 12, 31)
# (code, name, parent, level); CĐCS are generated under each district / sector union
PROVINCES = [
    ("TLD", "Tổng Liên đoàn Lao động Việt Nam", "", "tong_ldld"),
    ("BDH", "Liên đoàn Lao động tỉnh Bình Định", "TLD", "ldld_tinh"),
    ("BDH.QNH", "LĐLĐ thành phố Quy Nhơn", "BDH", "cap_tren_truc_tiep"),
    ("BDH.ANH", "LĐLĐ thị xã An Nhơn", "BDH", "cap_tren_truc_tiep"),
    ("BDH.TSO", "LĐLĐ huyện Tây Sơn", "BDH", "cap_tren_truc_tiep"),
    ("BDH.GD", "Công đoàn ngành Giáo dục tỉnh Bình Định", "BDH", "cap_tren_truc_tiep"),
    ("GLI", "Liên đoàn Lao động tỉnh Gia Lai", "TLD", "ldld_tinh"),
    ("GLI.PKU", "LĐLĐ thành phố Pleiku", "GLI", "cap_tren_truc_tiep"),
    ("GLI.AKE", "LĐLĐ thị xã An Khê", "GLI", "cap_tren_truc_tiep"),
]
RATINGS = ("Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ")


@dataclass
class Summary2025:
    units: int = 0
    assignments: int = 0
    submissions: int = 0
    reviews: Counter = field(default_factory=Counter)
    carried: dict[str, int] = field(default_factory=dict)
    consequences: list[str] = field(default_factory=list)
    mail_by_kind: dict[str, int] = field(default_factory=dict)
    mail_sent_before: int = 0
    mail_sent_after: int = 0
    duplicate_keys: int = 0
    eml_files: int = 0
    audit_carried: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def unit_rows(cdcs_per_union: int) -> list[dict[str, str]]:
    rows = []
    for code, name, parent, level in PROVINCES:
        host = code.lower().replace(".", "-")
        rows.append(
            {
                "ma_don_vi": code,
                "ten_don_vi": name,
                "cap": level,
                "ma_cap_tren": parent,
                "email": f"vanphong@{host}.example.vn",
            }
        )
        if level == "cap_tren_truc_tiep":
            for k in range(1, cdcs_per_union + 1):
                sector = "hcsn" if code.endswith("GD") or k % 3 == 0 else "sxkd"
                rows.append(
                    {
                        "ma_don_vi": f"{code}.CS{k:02d}",
                        "ten_don_vi": f"CĐCS Đơn vị Mẫu {code}-{k:02d} (giả lập)",
                        "cap": "cdcs",
                        "ma_cap_tren": code,
                        "khu_vuc": sector,
                        "email": f"congdoan@{host}-cs{k:02d}.example.vn",
                    }
                )
    return rows


class Simulation2025:
    def __init__(
        self,
        settings: Settings,
        *,
        seed: int = 2025,
        cdcs_per_union: int = 6,
        start: date = START,
        end: date = END,
        report: Callable[[str], None] = print,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.settings = settings
        self.rng = random.Random(seed)
        self.cdcs_per_union = cdcs_per_union
        self.start, self.end = start, end
        self.report = report
        self.progress = progress or (lambda done, total: None)
        self.summary = Summary2025()
        self.engine = None

    def run(self) -> Summary2025:
        from thidua.db import create_schema, get_engine

        self._fresh_data_dir()
        self.engine = get_engine(self.settings)
        create_schema(self.engine)
        self._set_up()
        plan = self._plan_actions()
        day, total = self.start, (self.end - self.start).days + 1
        while day <= self.end:
            if day == MERGER_DAY:
                self._reorganise(day)
            if day.weekday() < 5:
                self._dispatch(day, time(8, 0))
            for verb, assignment_id in plan.get(day, []):
                self._act(verb, assignment_id, day)
            self.progress((day - self.start).days + 1, total)
            day += timedelta(days=1)
        self._finish()
        return self.summary

    # -- set-up ---------------------------------------------------------------------------------------
    def _fresh_data_dir(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        for name in ("thidua.db", "thidua.db-wal", "thidua.db-shm", "demo-state.json"):
            (self.settings.data_dir / name).unlink(missing_ok=True)
        for folder in (self.settings.mail_dir, self.settings.reports_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    def _set_up(self) -> None:
        from thidua.services.campaigns import load_campaign
        from thidua.services.units import import_units, load_levels
        from thidua.unitgen import write_units_csv

        load_levels(self.engine, LEVELS_FILE)
        units_file = self.settings.data_dir / "don_vi_2025.csv"
        self.summary.units = write_units_csv(unit_rows(self.cdcs_per_union), units_file)
        import_units(self.engine, units_file)
        result = load_campaign(self.engine, CAMPAIGN_FILE, actor="demo")
        self.summary.assignments = result.assignments_created
        self.report(
            f"Nhập {self.summary.units} đơn vị của hai tỉnh Bình Định và Gia Lai; "
            f"nạp chiến dịch {CAMPAIGN}: {result.assignments_created} nghĩa vụ"
        )

    def _plan_actions(self) -> dict[date, list[tuple[str, int]]]:
        """Each assignment is submitted around its deadline (some late, some never) and reviewed 1–4 days later."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Assignment.id, Assignment.due_on, ObligationDef.opens_on, ObligationDef.kind)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .order_by(Assignment.id)
            ).all()
        plan: dict[date, list[tuple[str, int]]] = {}
        for assignment_id, due, opens, _kind in rows:
            if self.rng.random() < 0.08:
                continue  # never reports: reminders, then escalations to the parent of the day
            submit = due + timedelta(days=self.rng.randint(-12, 6))
            submit = max(submit, opens or START, START + timedelta(days=1))
            plan.setdefault(submit, []).append(("submit", assignment_id))
            plan.setdefault(submit + timedelta(days=self.rng.randint(1, 4)), []).append(("review", assignment_id))
        return plan

    # -- the year -------------------------------------------------------------------------------------
    def _dispatch(self, day: date, at: time) -> None:
        from thidua.services.reminders import run_dispatch

        asyncio.run(run_dispatch(self.engine, self.settings, now=local_to_utc(datetime.combine(day, at))))

    def _act(self, verb: str, assignment_id: int, day: date) -> None:
        """Reads the assignment as it is on the day: after the merger its owner or reviewer may have changed."""
        from thidua.models.submissions import SubmissionError
        from thidua.services.submissions import review_report, submit_report

        moment = local_to_utc(datetime.combine(day, time(10, 0)))
        with Session(self.engine) as session:
            reviewer = Unit.__table__.alias("reviewer")  # type: ignore[attr-defined]
            row = session.execute(
                select(
                    Assignment.status,
                    Assignment.active,
                    Unit.code,
                    Unit.sector,
                    ObligationDef.code.label("obligation"),
                    ObligationDef.definition,
                    ObligationDef.kind,
                    reviewer.c.code.label("reviewer"),
                )
                .join(Unit, Unit.id == Assignment.unit_id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .outerjoin(reviewer, reviewer.c.id == Assignment.reviewer_unit_id)
                .where(Assignment.id == assignment_id)
            ).one()
            if not row.active:
                return  # closed by the reorganisation ("không còn áp dụng")
            try:
                if verb == "submit" and row.status in ("chua_gui", "tra_lai"):
                    raw = self._form(row.obligation, row.kind)
                    submit_report(
                        session,
                        campaign_code=CAMPAIGN,
                        obligation_code=row.obligation,
                        unit_code=row.code,
                        raw=raw,
                        actor=f"can-bo@{row.code.lower()}.example.vn",
                        now=moment,
                    )
                    self.summary.submissions += 1
                elif verb == "review" and row.status == "da_gui" and row.reviewer:
                    accept = self.rng.random() > 0.1
                    review_report(
                        session,
                        campaign_code=CAMPAIGN,
                        obligation_code=row.obligation,
                        unit_code=row.code,
                        reviewer_code=row.reviewer,
                        accept=accept,
                        actor=f"duyet@{row.reviewer.lower()}.example.vn",
                        comment=None if accept else "Đề nghị bổ sung số liệu.",
                        now=moment,
                    )
                    self.summary.reviews["accept" if accept else "return"] += 1
                session.commit()
            except SubmissionError:
                session.rollback()

    def _form(self, obligation: str, kind: str) -> dict:
        if kind == "registration":
            return {
                "cong_trinh_moi": "Mô hình tiết kiệm điện (giả lập)",
                "so_sang_kien_dang_ky": self.rng.randint(1, 5),
            }
        data = {"so_sang_kien": self.rng.randint(0, 6), "so_doan_vien_moi": self.rng.randint(0, 10)}
        if kind == "final_report":
            data["xep_loai_de_nghi"] = self.rng.choice(RATINGS)
        return data

    def _reorganise(self, day: date) -> None:
        from thidua.services.reorganisation import reorganise

        self.summary.mail_sent_before = self._sent()
        result = reorganise(
            self.engine, CHANGE_FILE, today=day, actor="demo", now=local_to_utc(datetime.combine(day, time(0, 30)))
        )
        self.summary.carried = dict(result.carried_counts)
        self.summary.consequences = [c.text for c in result.consequences]
        self.report(
            f"01/07/2025: áp dụng {CHANGE_FILE.name} — {result.rows} thay đổi; "
            + ", ".join(f"{k}: {v}" for k, v in sorted(result.carried_counts.items()))
        )

    def _sent(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent"))

    def _finish(self) -> None:
        from thidua.services.reports import build_final_report

        with Session(self.engine) as session:
            O = OutboxMessage.__table__  # type: ignore[attr-defined]
            self.summary.mail_by_kind = dict(
                session.execute(select(O.c.kind, func.count()).where(O.c.status == "sent").group_by(O.c.kind)).all()
            )
            self.summary.mail_sent_after = self._sent() - self.summary.mail_sent_before
            self.summary.duplicate_keys = session.scalar(
                select(func.count()).select_from(select(O.c.key).group_by(O.c.key).having(func.count() > 1).subquery())
            )
            self.summary.audit_carried = session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.action.like("reorganise.%"))
            )
            files = build_final_report(
                session,
                campaign_code=CAMPAIGN,
                out_dir=self.settings.reports_dir,
                now=local_to_utc(datetime.combine(self.end, time(17, 0))),
            )
            session.commit()
        self.summary.files = {"Báo cáo tổng kết năm (Excel)": files.xlsx, "Báo cáo tổng kết năm (Word)": files.docx}
        self.summary.eml_files = len(list(self.settings.mail_dir.glob("*.eml")))
