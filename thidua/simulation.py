"""The whole-year simulation behind `thidua demo`: the 2023 Bình Định campaign replayed on an accelerated
clock against the real engine — real SMTP (a local sink writing .eml files), real database, the same service
functions and Prefect flows that production uses. Simulated people only decide *what* to do and *when*;
everything they do goes through the engine's ordinary entry points.

Deterministic for a seed. Progress is saved after every simulated day; a resumed run restarts the day it
stopped in, and every action checks the current state first, so a resumed year is never half-mixed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from thidua.errors import RefusedError
from thidua.models.clock import local_to_utc, utc_to_local
from thidua.models.vnformat import MISSING, fmt_number
from thidua.models.forms import applicable_fields
from thidua.models.outbox import OutboxMessage
from thidua.models.spec.campaign import Obligation
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.services.campaigns import subtree_range
from thidua.settings import CONFIG_DIR, Settings

if TYPE_CHECKING:
    from thidua.prefect_server import PrefectServerProcess

REPORT_KINDS = ("registration", "round_report", "final_report", "interim_report")
CAMPAIGN_FILE = CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml"
UNITS_FILE = CONFIG_DIR / "units" / "binh_dinh.yaml"
CDCS_FILE = CONFIG_DIR / "units" / "binh_dinh_cdcs.csv"
RATINGS = (
    "Hoàn thành xuất sắc nhiệm vụ",
    "Hoàn thành tốt nhiệm vụ",
    "Hoàn thành nhiệm vụ",
    "Không hoàn thành nhiệm vụ",
)
RETURN_COMMENT = "Đề nghị bổ sung, làm rõ số liệu đoàn viên mới và sáng kiến trong đợt."


class DemoStateError(RefusedError):
    """The data directory holds a run that neither --fresh nor --resume was asked to handle."""


@dataclass
class DemoOptions:
    seed: int = 2023
    start: date | None = None  # default: the plan's issue date
    end: date = date(2023, 12, 31)
    cdcs: int | None = None  # None: the committed Bình Định CĐCS list; N: N generated CĐCS (small runs)
    fresh: bool = False
    resume: bool = False
    use_prefect: bool = True
    # Each day's actions per obligation through submit_many/review_many (the campaign, obligations and their
    # forms looked up once); False: each action through submit_report/review_report, as a user would call them.
    batch_actions: bool = True
    # The round and year-end reports' files (XLSX, DOCX) written by a worker process beside the year; False: in
    # this process, when their milestone comes. Either way every file is written before the summary.
    report_worker: bool = True


@dataclass
class DemoState:
    seed: int
    start: str
    end: str
    cdcs: int | None
    last_day: str | None = None
    finished: bool = False

    @classmethod
    def load(cls, path: Path) -> "DemoState | None":
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)  # atomic: the state is the last fully simulated day or the one before


@dataclass
class DemoSummary:
    days: int = 0
    reminders_by_rung: dict[str, int] = field(default_factory=dict)
    mail_by_kind: dict[str, int] = field(default_factory=dict)
    mail_failed: int = 0
    mail_unknown: int = 0
    mail_pending: int = 0  # due by the end of the run and still not sent (should be 0)
    mail_after_end: int = 0  # deferred to a working slot after the last simulated day
    mail_outside_working_hours: int = 0  # campaign mail sent on a day off or out of hours (should be 0)
    eml_files: int = 0
    submissions: int = 0
    reviews: Counter = field(default_factory=Counter)
    compliance: dict[str, dict[str, tuple[int, int, int]]] = field(
        default_factory=dict
    )  # obligation → group → (owed, on time, late)
    targets: list[tuple[str, float, float, str, date]] = field(default_factory=list)  # title, reached, target, unit, at
    nominations: dict[str, int] = field(default_factory=dict)
    awards_decided: dict[str, int] = field(default_factory=dict)
    commendation: dict[str, str] = field(
        default_factory=dict
    )  # persons, evidence, publication, council, decisions, fund
    files: dict[str, Path] = field(default_factory=dict)


Reporter = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# What simulated people do, and when (pure: decided from the seed and the assignment)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssignmentInfo:
    id: int
    obligation: str
    kind: str
    round_end: date | None
    opens: date
    due: date
    unit_code: str
    level: str
    sector: str | None
    reviewer_code: str | None
    review_required: bool


@dataclass(frozen=True)
class Action:
    day: date
    verb: str  # submit | accept | return
    assignment_id: int
    version: int  # the submission version the action makes or acts on


def plan_actions(infos: list[AssignmentInfo], seed: int) -> dict[date, list[Action]]:
    """Most units report on time, some late, some are returned and resubmit, a few never report."""
    by_day: dict[date, list[Action]] = defaultdict(list)
    for info in infos:
        rng = random.Random(f"{seed}:{info.id}")
        roll = rng.random()
        window = max(0, (info.due - info.opens).days)
        on_time = info.due - timedelta(days=rng.randint(0, min(10, window)))
        if info.kind == "nomination_window":
            if roll < 0.85:
                by_day[on_time].append(Action(on_time, "submit", info.id, 1))
            continue
        if roll < 0.04:
            continue  # never reports
        if roll < 0.18:
            first = info.due + timedelta(days=rng.randint(1, 15))
        else:
            first = on_time
        by_day[first].append(Action(first, "submit", info.id, 1))
        if not info.review_required or info.reviewer_code is None:
            continue
        reviewed = first + timedelta(days=rng.randint(1, 5))
        if 0.18 <= roll < 0.28:  # returned for revision, resubmitted, then accepted
            by_day[reviewed].append(Action(reviewed, "return", info.id, 1))
            again = reviewed + timedelta(days=rng.randint(1, 4))
            by_day[again].append(Action(again, "submit", info.id, 2))
            accepted = again + timedelta(days=rng.randint(1, 3))
            by_day[accepted].append(Action(accepted, "accept", info.id, 2))
        else:
            by_day[reviewed].append(Action(reviewed, "accept", info.id, 1))
    return by_day


def form_values(spec: Obligation, sector: str | None, level: str, rng: random.Random) -> dict[str, Any]:
    """Plausible answers for a form, only for the fields the unit's sector is asked."""
    values: dict[str, Any] = {}
    scale = 6 if level != "cdcs" else 1  # a directly-superior union reports its own, larger figures
    for f in applicable_fields(spec.fields, sector):
        if f.type == "integer":
            if f.code.endswith("_luy_ke"):  # a báo cáo nhanh's running figure: the unit and its CĐCS since February
                value = rng.randint(250, 650)  # 19 units directly under the province: about the plan's 8,000
            elif f.code.startswith("so_sang_kien"):
                value = rng.randint(2, 9) * scale
            elif "doan_vien" in f.code:
                value = rng.randint(0, 25) * scale
            else:
                value = rng.randint(0, 4) * scale
            low = int(f.min) if f.min is not None else 0
            high = int(f.max) if f.max is not None else value
            values[f.code] = max(low, min(high, value))
        elif f.type == "decimal":
            values[f.code] = round(rng.uniform(20, 800), 1)
        elif f.type == "bool":
            values[f.code] = rng.random() < 0.9
        elif f.type == "choice":
            choices = f.choices or []
            if list(choices) == list(RATINGS):
                values[f.code] = rng.choices(RATINGS, weights=(30, 56, 11, 3))[0]
            else:
                values[f.code] = rng.choice(choices)
        elif f.type == "date":
            values[f.code] = spec.due.strftime("%d/%m/%Y") if isinstance(spec.due, date) else "01/01/2023"
        elif f.type == "text":
            values[f.code] = rng.choice(
                (
                    "Mô hình “Tổ công đoàn số” hỗ trợ đoàn viên",
                    "Cải tiến quy trình một cửa, rút ngắn thời gian xử lý hồ sơ",
                    "Sáng kiến tiết kiệm điện năng trong sản xuất",
                    "Công trình “Mái ấm công đoàn” cho đoàn viên khó khăn",
                )
            )[: f.max_length or 500]
    return values


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------
class Simulation:
    def __init__(
        self,
        settings: Settings,
        options: DemoOptions,
        report: Reporter,
        progress: Callable[[int, int], None],
        *,
        prefect_server: PrefectServerProcess | None = None,
    ):
        """`prefect_server`: the Prefect server the caller started beside the year (and named in PREFECT_API_URL),
        awaited before the first flow; without it the flows find theirs as Prefect does."""
        self.settings = settings
        self.options = options
        self.report = report
        self.progress = progress
        self.state_path = settings.data_dir / "demo-state.json"
        self.engine: Engine | None = None
        self.summary = DemoSummary()
        self._specs: dict[int, Obligation] = {}  # obligation id → typed obligation (its form), decoded once
        self._prefect_server = prefect_server
        self._report_files = _ReportWriter(options.report_worker, settings.data_dir / "report-spool")

    # -- set-up -------------------------------------------------------------------------------------
    def prepare_data_dir(self) -> DemoState | None:
        """Fresh or resumed, never mixed: returns the state to resume, or None for a fresh start."""
        state = DemoState.load(self.state_path)
        if self.options.resume:
            if state is None:
                raise DemoStateError("chưa có lần chạy nào để chạy tiếp (bỏ --resume để chạy mới)")
            if state.finished:
                raise DemoStateError(
                    "lần chạy trước đã chạy xong; dùng --fresh (hoặc không kèm tuỳ chọn) để chạy lại từ đầu"
                )
            if (state.seed, state.cdcs) != (self.options.seed, self.options.cdcs):
                raise DemoStateError("lần chạy trước dùng seed/số CĐCS khác; dùng --fresh để chạy lại từ đầu")
            return state
        if state is not None and not state.finished and not self.options.fresh:
            raise DemoStateError(
                f"lần chạy trước dừng sau ngày {_vn(state.last_day)}: dùng --resume để chạy tiếp "
                "hoặc --fresh để xoá và chạy lại từ đầu"
            )
        for name in ("thidua.db", "thidua.db-wal", "thidua.db-shm", "demo-state.json"):
            (self.settings.data_dir / name).unlink(missing_ok=True)
        for folder in (self.settings.mail_dir, self.settings.reports_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)  # the local SMTP sink may already be writing here
        shutil.rmtree(self._report_files.spool_dir, ignore_errors=True)
        return None

    def set_up_campaign(self) -> None:
        from thidua.services.campaigns import load_campaign
        from thidua.services.units import import_units, load_levels
        from thidua.unitgen import binh_dinh_cdcs, write_units_csv

        assert self.engine is not None
        load_levels(self.engine)
        report = import_units(self.engine, UNITS_FILE)
        cdcs_file = CDCS_FILE
        if self.options.cdcs is not None:
            cdcs_file = self.settings.data_dir / f"cdcs_{self.options.cdcs}.csv"
            write_units_csv(binh_dinh_cdcs(seed=self.options.seed, total=self.options.cdcs), cdcs_file)
        cdcs_report = import_units(self.engine, cdcs_file)
        self.report(
            f"Nhập {len(report.created) + len(cdcs_report.created)} đơn vị "
            f"({len(cdcs_report.created)} CĐCS từ {cdcs_file.name})"
        )
        result = load_campaign(self.engine, CAMPAIGN_FILE, actor="demo")
        owed = result.assignments_created
        self.report(f"Nạp chiến dịch {result.code}: {owed} nghĩa vụ của các đơn vị")

    # -- the year -----------------------------------------------------------------------------------
    def run(self) -> DemoSummary:
        from thidua.db import create_schema, get_engine

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.prepare_data_dir()
        self.engine = get_engine(self.settings)
        create_schema(self.engine)
        if resumed is None:
            self.set_up_campaign()
        campaign = self._campaign()
        start = (
            self.options.start
            or campaign.spec["plan_issued_on"]
            and date.fromisoformat(campaign.spec["plan_issued_on"])
        )
        state = resumed or DemoState(
            self.options.seed, start.isoformat(), self.options.end.isoformat(), self.options.cdcs
        )
        first_day = (
            date.fromisoformat(state.last_day) + timedelta(days=1)
            if state.last_day
            else date.fromisoformat(state.start)
        )
        end = date.fromisoformat(state.end)
        if resumed is not None:
            self.report(f"Chạy tiếp từ ngày {first_day:%d/%m/%Y}")
            self._report_files.replay(self.report)  # files of days already done that a killed run left unwritten
        actions = plan_actions(self._assignment_infos(campaign), self.options.seed)
        milestones = self._milestones(campaign)
        total_days = (end - date.fromisoformat(state.start)).days + 1
        day = first_day
        self._report_files.start()
        try:
            while day <= end:
                asyncio.run(self._dispatch(day, time(8, 0)))
                self._act(campaign, actions.get(day, []), day)
                for milestone in milestones.get(day, []):
                    milestone(day)
                if actions.get(day) or milestones.get(day):
                    asyncio.run(self._dispatch(day, time(16, 30)))  # notices of the day's steps go out the same day
                state.last_day = day.isoformat()
                state.save(self.state_path)
                self.progress((day - date.fromisoformat(state.start)).days + 1, total_days)
                day += timedelta(days=1)
        except BaseException:
            self._report_files.finish(raise_errors=False)  # the files of the days done, without hiding the error
            raise
        self._report_files.finish()  # every report file written before the summary
        state.finished = True
        state.save(self.state_path)
        return self._summarise(campaign, end)

    def _prefect_ready(self) -> None:
        """The caller's Prefect server answers (without one, the flows use PREFECT_API_URL or start Prefect's own)."""
        if self._prefect_server is not None:
            self._prefect_server.wait_ready()

    def _campaign(self) -> Campaign:
        assert self.engine is not None
        with Session(self.engine) as session:
            return session.exec(select(Campaign).where(Campaign.code == "bd-2023")).scalars().one()  # type: ignore[call-overload]

    def _assignment_infos(self, campaign: Campaign) -> list[AssignmentInfo]:
        assert self.engine is not None
        with Session(self.engine) as session:
            rounds = {r["number"]: date.fromisoformat(r["ends"]) for r in campaign.spec["rounds"]}
            reviewer = Unit.__table__.alias("reviewer")  # type: ignore[attr-defined]
            rows = session.execute(
                select(
                    Assignment.id,
                    ObligationDef.code,
                    ObligationDef.kind,
                    ObligationDef.round_number,  # type: ignore[call-overload]
                    ObligationDef.opens_on,
                    Assignment.due_on,
                    Unit.code,
                    Unit.level_code,
                    Unit.sector,
                    reviewer.c.code,
                    Assignment.obligation_id,
                )
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .join(Unit, Unit.id == Assignment.unit_id)
                .outerjoin(reviewer, reviewer.c.id == Assignment.reviewer_unit_id)
                .where(Assignment.campaign_id == campaign.id, Assignment.active.is_(True))  # type: ignore[attr-defined]
                .order_by(Assignment.id)
            ).all()
            # Each obligation's definition (JSON) decoded once, not once per assignment row.
            review_required = {
                ob_id: bool(definition.get("review_required", True))
                for ob_id, definition in session.execute(
                    select(ObligationDef.id, ObligationDef.definition).where(  # type: ignore[call-overload]
                        ObligationDef.campaign_id == campaign.id
                    )
                )
            }
        infos = []
        for aid, code, kind, round_number, opens_on, due, unit_code, level, sector, reviewer_code, ob_id in rows:
            if kind not in REPORT_KINDS and kind != "nomination_window":
                continue
            round_end = rounds.get(round_number) if round_number else None
            opens = opens_on or (
                round_end + timedelta(days=1) if round_end and round_end < due else due - timedelta(days=20)
            )
            infos.append(
                AssignmentInfo(
                    aid,
                    code,
                    kind,
                    round_end,
                    opens,
                    due,
                    unit_code,
                    level,
                    sector,
                    reviewer_code,
                    review_required[ob_id],
                )
            )
        return infos

    async def _dispatch(self, day: date, at: time) -> None:
        from thidua.services.reminders import run_dispatch

        assert self.engine is not None
        await run_dispatch(self.engine, self.settings, now=local_to_utc(datetime.combine(day, at)))

    def _act(self, campaign: Campaign, actions: list[Action], day: date) -> None:
        """Every unit action of the day through the submission service: per obligation, one batch of reports
        and one of reviews (one short transaction each), or (batch_actions off) one call per action."""
        if not actions:
            return
        if self.options.batch_actions:
            self._act_in_batches(campaign.id, actions, day)  # type: ignore[arg-type]
            return
        from thidua.models.submissions import SubmissionError
        from thidua.services.submissions import obligation_spec, review_report, submit_report

        assert self.engine is not None
        # One unit of work per action (commit each), without re-reading every loaded row after each commit.
        with Session(self.engine, expire_on_commit=False) as session:
            found, reviewer_units = _action_rows(session, actions)
            reviewers = {uid: u.code for uid, u in reviewer_units.items()}
            moment = local_to_utc(datetime.combine(day, time(10, 0)))
            for action in actions:
                assignment, obligation, unit = found[action.assignment_id]
                try:
                    if action.verb == "submit":
                        if assignment.current_version >= action.version:
                            continue  # done before a resume
                        rng = random.Random(f"{self.options.seed}:{assignment.id}:v{action.version}")
                        raw = form_values(obligation_spec(obligation), unit.sector, unit.level_code, rng)
                        submit_report(
                            session,
                            campaign_code=campaign.code,
                            obligation_code=obligation.code,
                            unit_code=unit.code,
                            raw=raw,
                            actor=f"demo:{unit.code}",
                            acting_unit_code=unit.code,
                            now=moment,
                            source="demo",
                        )
                        self.summary.submissions += 1
                    else:
                        if assignment.status != "da_gui" or assignment.current_version != action.version:
                            continue
                        reviewer_code = reviewers[assignment.reviewer_unit_id or 0]
                        review_report(
                            session,
                            campaign_code=campaign.code,
                            obligation_code=obligation.code,
                            unit_code=unit.code,
                            reviewer_code=reviewer_code,
                            accept=action.verb == "accept",
                            actor=f"demo:{reviewer_code}",
                            comment=None if action.verb == "accept" else RETURN_COMMENT,
                            now=moment,
                        )
                        self.summary.reviews[action.verb] += 1
                    session.commit()
                except SubmissionError as exc:
                    session.rollback()
                    self.report(f"[bỏ qua] {unit.code} {obligation.code}: {exc}")

    def _spec(self, obligation: ObligationDef) -> Obligation:
        from thidua.services.submissions import obligation_spec

        if obligation.id not in self._specs:
            self._specs[obligation.id] = obligation_spec(obligation)  # type: ignore[index]
        return self._specs[obligation.id]  # type: ignore[index]

    def _act_in_batches(self, campaign_id: int, actions: list[Action], day: date) -> None:
        from thidua.models.submissions import SubmissionError
        from thidua.services.submissions import ReviewItem, SubmitItem, review_many, submit_many

        assert self.engine is not None
        moment = local_to_utc(datetime.combine(day, time(10, 0)))
        with Session(self.engine, expire_on_commit=False) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            found, reviewers = _action_rows(session, actions)
            submits: dict[int, list[SubmitItem]] = defaultdict(list)
            reviews: dict[int, list[ReviewItem]] = defaultdict(list)
            obligations: dict[int, ObligationDef] = {}
            for action in actions:
                assignment, obligation, unit = found[action.assignment_id]
                obligation_id = obligation.id or 0  # loaded rows: never None
                obligations[obligation_id] = obligation
                if action.verb == "submit":
                    if assignment.current_version >= action.version:
                        continue  # done before a resume
                    rng = random.Random(f"{self.options.seed}:{assignment.id}:v{action.version}")
                    raw = form_values(self._spec(obligation), unit.sector, unit.level_code, rng)
                    submits[obligation_id].append(SubmitItem(assignment, unit, raw, f"demo:{unit.code}"))
                else:
                    if assignment.status != "da_gui" or assignment.current_version != action.version:
                        continue
                    reviewer = reviewers[assignment.reviewer_unit_id or 0]
                    reviews[obligation_id].append(
                        ReviewItem(
                            assignment,
                            unit,
                            reviewer,
                            action.verb == "accept",
                            f"demo:{reviewer.code}",
                            comment=None if action.verb == "accept" else RETURN_COMMENT,
                        )
                    )
            for obligation_id, submit_items in submits.items():
                obligation = obligations[obligation_id]
                refused: list[tuple[Any, SubmissionError]]
                try:
                    written, refused = submit_many(
                        session, campaign, obligation, self._spec(obligation), submit_items, now=moment, source="demo"
                    )
                    self.summary.submissions += len(written)
                    session.commit()
                except SubmissionError as error:
                    session.rollback()
                    refused = [(item, error) for item in submit_items]
                self._report_refused(obligation, refused)
            for obligation_id, review_items in reviews.items():
                obligation = obligations[obligation_id]
                try:
                    reviewed, refused = review_many(session, campaign, obligation, review_items, now=moment)
                    for result in reviewed:
                        self.summary.reviews["accept" if result.status == "da_duyet" else "return"] += 1
                    session.commit()
                except SubmissionError as error:
                    session.rollback()
                    refused = [(item, error) for item in review_items]
                self._report_refused(obligation, refused)

    def _report_refused(self, obligation: ObligationDef, refused: Sequence[tuple[Any, Exception]]) -> None:
        for item, exc in refused:
            self.report(f"[bỏ qua] {item.unit.code} {obligation.code}: {exc}")

    # -- milestones ------------------------------------------------------------------------------------
    def _milestones(self, campaign: Campaign) -> dict[date, list[Callable[[date], None]]]:
        spec = campaign.spec
        out: dict[date, list[Callable[[date], None]]] = defaultdict(list)
        with Session(self.engine) as session:
            obligations = (
                session.exec(select(ObligationDef).where(ObligationDef.campaign_id == campaign.id)).scalars().all()  # type: ignore[call-overload]
            )
        for ob in obligations:
            if ob.kind in ("round_report", "final_report"):
                # Consolidate the day after the deadline; the signed report a week later, once reviews are in.
                out[ob.due_on + timedelta(days=1)].append(
                    lambda d, n=ob.round_number: self._consolidate(campaign, n, d)
                )
                out[ob.due_on + timedelta(days=7)].append(
                    lambda d, n=ob.round_number, k=ob.kind: self._write_reports(campaign, n, k, d)
                )
        for target in spec.get("targets", []):
            day = judged_on(target, obligations)
            out[day].append(partial(self._report_target, campaign, target["code"]))
        from thidua.simulation_awards import award_milestones

        for day, step in award_milestones(self, campaign).items():
            out[day].extend(step)
        return out

    def _consolidate(self, campaign: Campaign, round_number: int | None, day: date) -> None:
        moment = local_to_utc(datetime.combine(day, time(7, 0)))
        if self.options.use_prefect:
            self._prefect_ready()
            from thidua.flows.consolidation import consolidation_flow

            result = asyncio.run(consolidation_flow(campaign.code, round_number=round_number, actor="demo"))
            changed = _changed_count(result)
        else:
            from thidua.services.consolidation import consolidate

            with Session(self.engine) as session:
                result = consolidate(session, campaign_code=campaign.code, round_number=round_number, now=moment)
                session.commit()
            changed = _changed_count(result)
        self.report(f"{day:%d/%m/%Y}: tổng hợp báo cáo đợt {round_number} (luồng Prefect) — {changed} bản tổng hợp mới")

    def _write_reports(self, campaign: Campaign, round_number: int | None, kind: str, day: date) -> None:
        """What build_round_report / build_final_report do, in two steps: the content (consolidating first) in
        this process and its transaction, then the files, which the report writer may write beside the year."""
        from thidua.services.reports import final_report_content, report_paths, round_report_content

        out_dir = self.settings.reports_dir
        moment = local_to_utc(datetime.combine(day, time(9, 0)))
        actor = "system:report"
        with Session(self.engine) as session:
            if kind == "final_report":
                content, _ = final_report_content(session, campaign_code=campaign.code, now=moment, actor=actor)
            else:
                content, _ = round_report_content(
                    session, campaign_code=campaign.code, round_number=round_number or 1, now=moment, actor=actor
                )
            session.commit()
        self._report_files.write(content, out_dir)
        xlsx, docx = report_paths(content, out_dir)
        for path in (xlsx, docx):
            self.summary.files[path.name] = path
        self.report(
            f"{day:%d/%m/%Y}: báo cáo {'tổng kết năm' if kind == 'final_report' else f'sơ kết đợt {round_number}'}: "
            f"{xlsx.name}, {docx.name}"
        )

    def _report_target(self, campaign: Campaign, code: str, day: date) -> None:
        """A target on the day it is judged: its deadline, or the due date of the báo cáo nhanh counted to it."""
        from thidua.services.targets import target_progress

        with Session(self.engine) as session:
            target = target_progress(session, campaign_code=campaign.code, at=day, target_code=code)[0]
        if target.scope:
            progress = target.scope[0].progress
            self.report(
                f"{day:%d/%m/%Y}: chỉ tiêu “{target.title}” (hạn {target.deadline:%d/%m/%Y}): đạt "
                f"{fmt_number(progress.figure.value, missing=MISSING)} / {fmt_number(target.target)} "
                f"{target.unit_of_measure} — {progress.verdict}"
            )

    # -- the end ---------------------------------------------------------------------------------------
    def _summarise(self, campaign: Campaign, end: date) -> DemoSummary:
        from thidua.services.status import status_report
        from thidua.services.targets import target_progress

        summary = self.summary
        summary.days = (end - (self.options.start or date.fromisoformat(campaign.spec["plan_issued_on"]))).days + 1
        assert self.engine is not None
        with Session(self.engine) as session:
            O = OutboxMessage
            sent = session.execute(
                select(O.kind, O.rung, func.count()).where(O.status.in_(("sent", "partial"))).group_by(O.kind, O.rung)  # type: ignore[attr-defined]
            ).all()
            for kind, rung, count in sent:
                summary.mail_by_kind[kind] = summary.mail_by_kind.get(kind, 0) + count
                if kind == "reminder" and rung:
                    base = rung.split("#")[0].split(":")[0]
                    summary.reminders_by_rung[base] = summary.reminders_by_rung.get(base, 0) + count
            summary.mail_failed = session.execute(select(func.count()).where(O.status == "failed")).scalar_one()
            summary.mail_unknown = session.execute(select(func.count()).where(O.status == "unknown")).scalar_one()
            _summarise_timing(session, summary, end)
            for ob in (
                session.exec(
                    select(ObligationDef)
                    .where(
                        ObligationDef.campaign_id == campaign.id,  # type: ignore[call-overload]
                        ObligationDef.kind.in_(REPORT_KINDS),  # type: ignore[attr-defined]
                        ObligationDef.due_on <= end,
                    )
                    .order_by(ObligationDef.due_on)
                )
                .scalars()
                .all()
            ):
                report = status_report(
                    session,
                    campaign.code,
                    obligation_code=ob.code,
                    now=local_to_utc(datetime.combine(end, time(23, 0))),
                )
                late = _late_submitted(session, ob.id, [row.key for row in report.by_group])  # type: ignore[arg-type]
                summary.compliance[ob.title] = {
                    row.label: (row.counts.owed, row.counts.submitted - late[row.key], row.counts.late)
                    for row in report.by_group
                }
            obligations = (
                session.execute(select(ObligationDef).where(col(ObligationDef.campaign_id) == campaign.id))
                .scalars()
                .all()
            )
            for target in target_progress(session, campaign_code=campaign.code, at=end):
                # A target is judged at its own deadline, or when the báo cáo nhanh counted to it is due (8.000
                # initiatives by 31/08: the figures to 31/08 are due 08/09), or at the end of the run.
                spec = next(t for t in campaign.spec.get("targets", []) if t["code"] == target.code)
                at = min(judged_on(spec, obligations), end)
                judged = target_progress(session, campaign_code=campaign.code, at=at, target_code=target.code)[0]
                figure = judged.scope[0].progress.figure.value if judged.scope else None
                summary.targets.append((target.title, figure or 0.0, target.target, target.unit_of_measure, at))
        from thidua.simulation_awards import award_summary, commendation_summary

        summary.nominations, summary.awards_decided, award_files = award_summary(self, campaign)
        summary.files.update(award_files)
        summary.commendation = commendation_summary(self, campaign)
        summary.eml_files = (
            sum(1 for _ in self.settings.mail_dir.glob("**/*.eml")) if self.settings.mail_dir.exists() else 0
        )
        summary.files["Cơ sở dữ liệu"] = self.settings.data_dir / "thidua.db"
        summary.files["Thư đã gửi (.eml)"] = self.settings.mail_dir
        return summary


class _ReportWriter:
    """The report files, written in order by one worker process (spawned) beside the simulated year, or here.
    Only the files move there: the content, its consolidation and everything else the year reads stay in the
    simulation's process and order; the files touch no database and nothing of the year reads them.

    A file handed to the worker is first spooled (`spool_dir`: its pickled content, removed once written): the day
    that produced it is recorded as done right away, so after a hard kill (SIGKILL, power loss) `replay`, run by
    --resume, writes what the worker had not."""

    def __init__(self, in_worker: bool, spool_dir: Path) -> None:
        self.in_worker = in_worker
        self.spool_dir = spool_dir
        self._pool: Any = None
        self._pending: list[Any] = []
        self._spooled = 0

    def start(self) -> None:
        """Spawn the worker and let it load openpyxl, docxtpl and matplotlib while the year begins."""
        if not self.in_worker or self._pool is not None:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from thidua.services.reports import prepare_report_writer

        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_report_worker_init
        )
        self._pending.append(self._pool.submit(prepare_report_writer))

    def write(self, content: Any, out_dir: Path) -> None:  # noqa: ANN401
        from thidua.services.reports import write_report_files
        from thidua.settings import get_settings

        config_dir = get_settings().config_dir  # what write_docx reads in this process
        if self._pool is None:
            write_report_files(content, out_dir, config_dir)
            return
        spooled = self._spool((content, out_dir, config_dir))
        job = self._pool.submit(write_report_files, content, out_dir, config_dir)
        job.add_done_callback(partial(_unspool_when_written, spooled))
        self._pending.append(job)

    def _spool(self, job: tuple[Any, Path, Path]) -> Path:
        import pickle

        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._spooled += 1
        path = self.spool_dir / f"{os.getpid()}-{self._spooled:04d}.pickle"
        partial_path = path.with_suffix(".part")
        partial_path.write_bytes(pickle.dumps(job))
        partial_path.replace(path)  # a half-written job is never replayed
        return path

    def replay(self, report: Reporter) -> None:
        """Write the spooled files a killed run left (oldest first), saying so; a spool file that cannot be read
        is renamed `.hong` (damaged) and reported, and the year goes on."""
        import pickle

        from thidua.services.reports import write_report_files

        if not self.spool_dir.is_dir():
            return
        for path in sorted(self.spool_dir.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns):
            try:
                content, out_dir, config_dir = pickle.loads(path.read_bytes())
            except Exception as exc:  # noqa: BLE001 - anything in a damaged file; the content is in the database
                path.rename(path.with_name(path.name + ".hong"))
                report(
                    f"Tệp chờ ghi báo cáo {path.name} không đọc được ({exc.__class__.__name__}), đã đổi tên thành "
                    f"{path.name}.hong; lập lại báo cáo bằng lệnh 'thidua report'"
                )
                continue
            for written in write_report_files(content, out_dir, config_dir):
                report(f"Ghi lại tệp báo cáo của lần chạy trước: {written.name}")
            path.unlink()

    def finish(self, *, raise_errors: bool = True) -> None:
        """Wait for every file (raising the first error, unless told not to), then stop the worker."""
        pool, self._pool = self._pool, None
        pending, self._pending = self._pending, []
        if pool is None:
            return
        try:
            for job in pending:
                try:
                    job.result()
                except Exception:
                    if raise_errors:
                        raise
        finally:
            pool.shutdown(cancel_futures=True)


def _unspool_when_written(spooled: Path, job: Any) -> None:  # noqa: ANN401
    """A spooled report whose files the worker wrote is done; a failed or cancelled one stays for --resume."""
    if not job.cancelled() and job.exception() is None:
        spooled.unlink(missing_ok=True)


def _report_worker_init() -> None:
    """The worker ignores Ctrl-C (sent to the whole process group): it finishes the files of the days the
    simulation has recorded as done, while the simulation stops."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def judged_on(target: dict[str, Any], obligations: Sequence[ObligationDef]) -> date:
    """The day a target is judged: its deadline, or later when a source báo cáo nhanh counted to a day by the
    deadline is due later (its figures to 31/08 are only in hand at its due date)."""
    deadline = date.fromisoformat(target["deadline"])
    sources = set(target["source"]["obligations"])
    quick = [
        ob.due_on
        for ob in obligations
        if ob.kind == "interim_report"
        and (ob.code in sources or ob.series in sources)
        and date.fromisoformat(ob.definition["as_of"]) <= deadline
    ]
    return max([deadline, *quick])


def _action_rows(
    session: Session, actions: list[Action]
) -> tuple[dict[int, tuple[Assignment, ObligationDef, Unit]], dict[int, Unit]]:
    """The day's assignments with their obligation and unit (by assignment id), and their reviewing units (by id)."""
    # The obligations are read apart, once each: joined, every row would decode its obligation's definition.
    rows = session.execute(
        select(Assignment, Unit)
        .join(Unit, col(Unit.id) == col(Assignment.unit_id))
        .where(col(Assignment.id).in_([a.assignment_id for a in actions]))
    ).all()
    obligations = {
        ob.id: ob
        for ob in session.execute(
            select(ObligationDef).where(col(ObligationDef.id).in_({a.obligation_id for a, _ in rows}))
        ).scalars()
    }
    found = {a.id: (a, obligations[a.obligation_id], unit) for a, unit in rows if a.id is not None}
    reviewer_ids = {a.reviewer_unit_id for a, _ in rows if a.reviewer_unit_id}
    reviewers = {
        u.id: u
        for u in session.execute(select(Unit).where(col(Unit.id).in_(reviewer_ids))).scalars()
        if u.id is not None
    }
    return found, reviewers


def _summarise_timing(session: Session, summary: DemoSummary, end: date) -> None:
    """Mail left pending at the end, and campaign mail sent outside the calendar's working moments."""
    from thidua.services.reminders import WORKING_HOURS_KINDS, campaign_context

    O = OutboxMessage
    end_at = local_to_utc(datetime.combine(end + timedelta(days=1), time(0, 0)))
    pending = session.execute(select(O.scheduled_at).where(O.status.in_(("pending", "claimed")))).scalars().all()  # type: ignore[attr-defined]
    summary.mail_pending = sum(1 for at in pending if _aware(at) < end_at)
    summary.mail_after_end = len(pending) - summary.mail_pending
    ctx = campaign_context(session, "bd-2023")
    # Counted per distinct moment: a dispatch sends its whole batch at one simulated time.
    sent = session.execute(
        select(O.sent_at, func.count())  # type: ignore[call-overload]
        .where(
            O.status.in_(("sent", "partial")),  # type: ignore[attr-defined]
            O.kind.in_(sorted(WORKING_HOURS_KINDS)),  # type: ignore[attr-defined]
        )
        .group_by(O.sent_at)
    ).all()
    summary.mail_outside_working_hours = sum(
        count
        for at, count in sent
        if not ctx.calendar.is_working_moment(utc_to_local(_aware(at), ctx.timezone).replace(tzinfo=None))
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _late_submitted(session: Session, obligation_id: int, unit_codes: Sequence[str]) -> dict[str, int]:
    """Submitted-but-late assignments under each group unit, to split 'on time' from 'late' (one query for the
    late ones, counted per group by path range, as subtree_clause selects them)."""
    groups: dict[str, str] = dict(
        session.execute(select(col(Unit.code), col(Unit.path)).where(col(Unit.code).in_(unit_codes))).all()
    )
    late_paths = (
        session.execute(
            select(Unit.path)  # type: ignore[call-overload]
            .select_from(Assignment)
            .join(Unit, Unit.id == Assignment.unit_id)  # type: ignore[arg-type]
            .where(
                Assignment.obligation_id == obligation_id,  # type: ignore[arg-type]
                Assignment.active.is_(True),  # type: ignore[attr-defined]
                Assignment.late.is_(True),  # type: ignore[attr-defined]
                Assignment.status.in_(("da_gui", "da_duyet")),  # type: ignore[attr-defined]
            )
        )
        .scalars()
        .all()
    )
    counts = {}
    for code in unit_codes:
        low, high = subtree_range(groups[code])
        counts[code] = sum(1 for path in late_paths if low <= path < high)
    return counts


def _changed_count(result: Any) -> int:
    """New snapshot versions, from the flow (a dict) or the service (a ConsolidationResult)."""
    return int(result["new_versions"] if isinstance(result, dict) else result.new_versions)


def _vn(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else "?"
