"""The whole-year simulation, shortened (six weeks around the round-1 deadline, a small tree): its summary
figures agree with the database and the SMTP sink, it is deterministic, and an interrupted run resumes to
exactly the same result."""

from __future__ import annotations

from datetime import date, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.submissions import ConsolidationSnapshot, ReviewStatus, Submission
from thidua.models.tables import Assignment, ObligationDef
from thidua.notifications.sink import EmlDirectoryHandler, free_port, start_sink
from thidua.db import make_engine
from thidua.models.clock import utc_to_local
from thidua.settings import Settings
from thidua.simulation import DemoOptions, DemoStateError, Simulation

START, END = date(2023, 5, 1), date(2023, 6, 20)
QUICK = "bao-cao-nhanh-sang-kien"


class Interrupted(Exception):
    pass


def _settings(root: Path) -> Settings:
    return Settings(data_dir=root, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")


def _run(settings: Settings, *, stop_after_days: int | None = None, **options) -> object:
    lines: list[str] = []

    def progress(done: int, total: int) -> None:
        if stop_after_days is not None and done >= stop_after_days:
            raise Interrupted

    sink = start_sink(EmlDirectoryHandler(settings.mail_dir), host="127.0.0.1", port=settings.smtp_port)
    try:
        defaults = dict(cdcs=24, start=START, end=END, use_prefect=False)
        return Simulation(settings, DemoOptions(**{**defaults, **options}), lines.append, progress).run()
    finally:
        sink.stop()


def _figures(settings: Settings) -> dict[str, object]:
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        statuses = dict(session.execute(select(Assignment.status, func.count()).group_by(Assignment.status)).all())
        outbox = dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        versions = session.execute(select(func.count()).select_from(Submission)).scalar_one()
    engine.dispose()
    return {
        "statuses": statuses,
        "outbox": outbox,
        "versions": versions,
        "eml": len(list(settings.mail_dir.glob("**/*.eml"))),
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Settings, object]:
    settings = _settings(tmp_path_factory.mktemp("demo"))
    return settings, _run(settings)


def test_summary_agrees_with_the_database_and_the_sink(finished):
    settings, summary = finished
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        O = OutboxMessage
        sent_reminders = session.execute(
            select(func.count()).where(O.kind == "reminder", O.status == "sent")
        ).scalar_one()
        sent_total = session.execute(select(func.count()).where(O.status.in_(("sent", "partial")))).scalar_one()
        demo_versions = session.execute(
            select(func.count()).select_from(Submission).where(Submission.source == "demo")
        ).scalar_one()
        round_1 = session.execute(select(ObligationDef).where(ObligationDef.code == "so-ket-dot-1")).scalars().one()
        owed = session.execute(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.obligation_id == round_1.id, Assignment.active.is_(True))
        ).scalar_one()
        snapshots = session.execute(
            select(func.count())
            .select_from(ConsolidationSnapshot)
            .where(ConsolidationSnapshot.obligation_id == round_1.id)
        ).scalar_one()
    engine.dispose()

    assert summary.days == (END - START).days + 1
    assert summary.submissions == demo_versions > 0
    assert sum(summary.reminders_by_rung.values()) == sent_reminders > 0
    assert {"truoc-7-ngay", "truoc-1-ngay", "qua-han-1-ngay"} <= set(summary.reminders_by_rung)
    assert summary.eml_files == sent_total == sum(summary.mail_by_kind.values())  # every mail reached the sink once
    assert summary.mail_failed == 0 and summary.mail_unknown == 0
    # Issue 11: nothing due is left pending at the end, and no campaign mail went out on a day off.
    assert summary.mail_pending == 0 and summary.mail_outside_working_hours == 0
    table = summary.compliance["Báo cáo sơ kết đợt 1"]
    assert (
        sum(owed_ for owed_, _, _ in table.values()) == owed
    )  # every owing unit sits under one district or sector union
    assert snapshots > 0  # consolidated the day after the deadline
    assert "bd-2023-so-ket-dot-1.xlsx" in summary.files and summary.files["bd-2023-so-ket-dot-1.docx"].exists()


def test_same_seed_same_year(finished, tmp_path):
    settings, _ = finished
    again = _settings(tmp_path / "again")
    _run(again)
    assert _figures(again) == _figures(settings)


def _details(settings: Settings) -> dict[str, object]:
    """Every submission, assignment and audited action, without row ids (the order of writes may differ)."""
    from thidua.models.tables import AuditLog

    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        submissions = sorted(
            (
                s.assignment_id,
                s.version,
                repr(sorted(s.data.items())),
                s.submitted_by,
                s.submitted_at,
                s.late,
                s.review_status,
                s.review_comment,
                s.reviewed_by,
                s.reviewed_at,
                s.appraised_rating,
                s.source,
            )
            for s in session.execute(select(Submission)).scalars()
        )
        assignments = sorted(
            (a.id, a.status, a.late, a.version, a.current_version, a.submitted_at, a.reviewed_at)
            for a in session.execute(select(Assignment)).scalars()
        )
        # outbox.* audit rows are written per recorder flush, which also happens on a wall-clock delay: their
        # number depends on the machine's speed, not on what was written.
        audited = dict(
            session.execute(
                select(AuditLog.action, func.count())
                .where(AuditLog.action.not_like("outbox.%"))
                .group_by(AuditLog.action)
            ).all()
        )
    engine.dispose()
    return {**_figures(settings), "submissions": submissions, "assignments": assignments, "audited": audited}


def _report_parts(settings: Settings) -> dict[str, dict[str, bytes]]:
    """Every part of every XLSX/DOCX report file, without the creation and modification times."""
    import re
    import zipfile

    out = {}
    for path in sorted([*settings.reports_dir.glob("*.xlsx"), *settings.reports_dir.glob("*.docx")]):
        with zipfile.ZipFile(path) as archive:
            out[path.name] = {
                name: re.sub(rb"<dcterms:(created|modified)[^<]*</dcterms:\w+>", b"", archive.read(name))
                for name in archive.namelist()
            }
    return out


def test_batched_actions_give_the_same_year_as_one_call_per_action(finished, tmp_path):
    """The simulation's fast path (a day's reports and reviews per obligation through submit_many/review_many,
    the report files written by a worker process) writes exactly what one submit_report/review_report call
    per action and the report files written in the simulation's own process write."""
    settings, summary = finished
    plain = _settings(tmp_path / "plain")
    plain_summary = _run(plain, batch_actions=False, report_worker=False)
    assert (plain_summary.submissions, plain_summary.reviews) == (summary.submissions, summary.reviews)
    assert _details(plain) == _details(settings)
    reports = _report_parts(settings)
    assert any(name.endswith(".docx") for name in reports) and any(name.endswith(".xlsx") for name in reports)
    assert _report_parts(plain) == reports


def test_an_interrupted_run_resumes_to_the_same_result(finished, tmp_path):
    settings, _ = finished
    interrupted = _settings(tmp_path / "resumed")
    with pytest.raises(Interrupted):
        _run(interrupted, stop_after_days=20)
    with pytest.raises(DemoStateError, match="--resume"):
        _run(interrupted)  # neither fresh nor resume: refuses to mix
    _run(interrupted, resume=True)
    assert _figures(interrupted) == _figures(settings)
    with pytest.raises(DemoStateError, match="--fresh"):
        _run(interrupted, resume=True)  # the year is finished


@pytest.mark.slow
def test_year_end_commendation_persons_evidence_publication_council_decision_certificates_bonuses(tmp_path):
    """November–December on a small tree: the register imported, persons proposed with evidence, the list
    published, the council's vote and minutes, a numbered decision with bonuses, certificates; all in the summary."""
    from pypdf import PdfReader

    settings = _settings(tmp_path / "nam")
    summary = _run(settings, cdcs=120, start=date(2023, 11, 1), end=date(2023, 12, 31))
    lines = summary.commendation
    assert lines["Sổ đoàn viên"].startswith("238 người")
    assert "tệp đính kèm" in lines["Hồ sơ minh chứng"]
    assert lines["Cụm, khối thi đua"].startswith(
        "3 bảng xếp hạng do đơn vị trưởng cụm gửi"
    )  # config/clusters/binh_dinh.yaml
    # A leader of a cụm/khối not proposed for the Cờ is explained, not left as a bare count.
    below = _leaders_below_excellent(settings)
    assert (f"({below}/3 đơn vị dẫn đầu không được đề nghị Cờ" in lines["Cụm, khối thi đua"]) == (below > 0)
    assert "5 ngày đến hết 11/12/2023" in lines["Công khai"]
    assert lines["Hội đồng thi đua, khen thưởng"].startswith("ngày 15/12/2023, có mặt 8/9")
    decision = next(label for label in lines if label.startswith("Quyết định số "))
    assert decision == "Quyết định số 1/QĐ-LĐLĐ" and "ngày 20/12/2023" in lines[decision]
    decided = sum(summary.awards_decided.values())
    assert decided > 0 and f"{decided} hồ sơ" in lines[decision]
    amount = f"{decided * 1_800_000:,}".replace(",", ".")  # Bằng khen cá nhân ×1,0 of 1.800.000 đ
    assert lines["Quỹ khen thưởng"] == f"{decided} lượt, {amount} đồng"
    pdf = summary.files["Giấy khen, bằng khen in trên phôi (PDF)"]
    assert len(PdfReader(str(pdf)).pages) == decided
    for label in (
        "Biên bản họp Hội đồng (DOCX)",
        "Quyết định khen thưởng kèm danh sách (DOCX)",
        "Quỹ khen thưởng (XLSX)",
        "Sổ đoàn viên (XLSX)",
    ):
        assert summary.files[label].exists()


@pytest.fixture(scope="module")
def quick_report_weeks(tmp_path_factory) -> tuple[Settings, object, list[str]]:
    """25/08–30/09 on the small tree: the báo cáo nhanh of the 31/8 target (as_of 31/08, due 08/09)."""
    settings = _settings(tmp_path_factory.mktemp("bao-cao-nhanh"))
    lines: list[str] = []
    sink = start_sink(EmlDirectoryHandler(settings.mail_dir), host="127.0.0.1", port=settings.smtp_port)
    try:
        options = DemoOptions(cdcs=24, start=date(2023, 8, 25), end=date(2023, 9, 30), use_prefect=False)
        summary = Simulation(settings, options, lines.append, lambda done, total: None).run()
    finally:
        sink.stop()
    return settings, summary, lines


def test_the_units_owing_the_quick_report_file_it_and_are_reminded_in_working_hours(quick_report_weeks):
    from thidua.models.tables import Unit
    from thidua.services.reminders import campaign_context

    settings, summary, _ = quick_report_weeks
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        quick = session.execute(select(ObligationDef).where(ObligationDef.code == QUICK)).scalars().one()
        statuses = dict(
            session.execute(
                select(Assignment.status, func.count())
                .where(Assignment.obligation_id == quick.id, Assignment.active.is_(True))
                .group_by(Assignment.status)
            ).all()
        )
        under_province = session.execute(
            select(func.count()).select_from(Unit).where(Unit.level_code == "cap_tren_truc_tiep")
        ).scalar_one()
        O = OutboxMessage
        reminded = (
            session.execute(
                select(O.sent_at)
                .join(Assignment, Assignment.id == O.assignment_id)
                .where(Assignment.obligation_id == quick.id, O.kind == "reminder", O.status == "sent")
            )
            .scalars()
            .all()
        )
        ctx = campaign_context(session, "bd-2023")
    engine.dispose()

    table = summary.compliance["Báo cáo nhanh số sáng kiến đến hết ngày 31/8/2023"]
    assert sum(owed for owed, _, _ in table.values()) == under_province == 19  # LĐLĐ huyện and công đoàn ngành
    assert statuses == {"da_duyet": 19}  # every owing unit filed (some late) and was accepted: none left overdue
    assert summary.mail_pending == 0 and summary.mail_outside_working_hours == 0
    assert reminded and all(
        ctx.calendar.is_working_moment(utc_to_local(at.replace(tzinfo=timezone.utc), ctx.timezone).replace(tzinfo=None))
        for at in reminded
    )


def test_the_31_8_target_is_judged_when_the_quick_report_is_due(quick_report_weeks):
    settings, summary, lines = quick_report_weeks
    engine = make_engine(settings.db_url)
    with Session(engine) as session:  # the running figures to 31/8 accepted by the end of 08/09 (the due date)
        quick = session.execute(select(ObligationDef).where(ObligationDef.code == QUICK)).scalars().one()
        accepted = [
            int(s.data["so_sang_kien_luy_ke"])
            for s in session.execute(
                select(Submission)
                .join(Assignment, Assignment.id == Submission.assignment_id)
                .where(Assignment.obligation_id == quick.id, Submission.review_status == ReviewStatus.ACCEPTED.value)
            ).scalars()
            if utc_to_local(s.reviewed_at.replace(tzinfo=timezone.utc), "Asia/Ho_Chi_Minh").date() <= date(2023, 9, 8)
        ]
    engine.dispose()
    title, reached, goal, unit, at = summary.targets[0]
    assert (goal, unit, at) == (8000, "sáng kiến", date(2023, 9, 8)) and reached == sum(accepted) > 0
    line = next(line for line in lines if line.startswith("08/09/2023: chỉ tiêu “Toàn tỉnh đạt 8.000"))
    assert "(hạn 31/08/2023)" in line and f"đạt {reached:,.0f}".replace(",", ".") in line
    assert line.endswith("Đã đạt" if reached >= 8000 else "Chưa đạt")


def _leaders_below_excellent(settings: Settings) -> int:
    """Leaders of the submitted cụm/khối rankings whose year-end rating is not the best one, read independently."""
    from thidua.models.clusters import ClusterRanking, ClusterScore
    from thidua.services.submissions import year_end_rating

    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        leaders = session.execute(
            select(ClusterRanking.campaign_id, ClusterScore.unit_id)
            .join(ClusterRanking, ClusterRanking.id == ClusterScore.ranking_id)
            .where(ClusterScore.rank == 1)
        ).all()
        below = sum(
            1
            for campaign_id, unit_id in leaders
            if year_end_rating(session, campaign_id, unit_id) != "Hoàn thành xuất sắc nhiệm vụ"
        )
    engine.dispose()
    return below


def test_report_files_of_days_already_done_are_written_on_resume_after_a_hard_kill(finished, tmp_path, monkeypatch):
    """The round-1 report of 17/06 goes to the report worker, and 17/06 is recorded as done at once. A run killed
    (SIGKILL, power cut) before the worker wrote it leaves the job spooled; --resume writes it."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from thidua import simulation

    settings, _ = finished
    expected = sorted(p.name for p in settings.reports_dir.glob("*.*x"))
    assert expected, "the full run wrote the round-1 report"

    class LostWorker:
        """A worker that dies with every job unwritten."""

        def submit(self, fn, *args):  # noqa: ANN001, ANN002, ANN202
            job: Future = Future()
            job.set_exception(BrokenProcessPool("killed"))
            return job

        def shutdown(self, cancel_futures: bool = False) -> None:
            pass

    def start_a_worker_that_dies(self) -> None:  # noqa: ANN001
        self._pool = LostWorker()

    killed = _settings(tmp_path / "killed")
    with monkeypatch.context() as patch:
        patch.setattr(simulation._ReportWriter, "start", start_a_worker_that_dies)
        with pytest.raises(Interrupted):
            _run(killed, stop_after_days=49)  # 01/05 … 18/06 done, the report of 17/06 among them
    assert not list(killed.reports_dir.glob("*.*x"))  # never written
    assert len(list((killed.data_dir / "report-spool").glob("*.pickle"))) == 1
    _run(killed, resume=True)
    assert sorted(p.name for p in killed.reports_dir.glob("*.*x")) == expected
    assert not list((killed.data_dir / "report-spool").glob("*"))
    assert _figures(killed) == _figures(settings)


def test_a_damaged_spooled_report_is_set_aside_and_the_year_resumes(finished, tmp_path):
    """A spool file that cannot be read (a damaged disk, a stray file) does not stop --resume: it is renamed
    .hong and said so; the year goes on."""
    settings, _ = finished
    resumed = _settings(tmp_path / "damaged")
    with pytest.raises(Interrupted):
        _run(resumed, stop_after_days=5)
    spool = resumed.data_dir / "report-spool"
    spool.mkdir(exist_ok=True)
    (spool / "1-0001.pickle").write_bytes(b"not a pickle")
    lines: list[str] = []
    sink = start_sink(EmlDirectoryHandler(resumed.mail_dir), host="127.0.0.1", port=resumed.smtp_port)
    try:
        options = DemoOptions(cdcs=24, start=START, end=END, use_prefect=False, resume=True)
        Simulation(resumed, options, lines.append, lambda done, total: None).run()
    finally:
        sink.stop()
    assert any("1-0001.pickle" in line and "không đọc được" in line for line in lines), lines
    assert [p.name for p in spool.iterdir()] == ["1-0001.pickle.hong"]
    assert _figures(resumed) == _figures(settings)


@pytest.mark.parametrize("year", ["2023", "2025"])
def test_a_refused_secret_key_stops_the_demo_before_it_wipes_the_last_run(tmp_path, monkeypatch, year):
    """`thidua demo --fresh` deletes the previous run: a key the system refuses must stop it first, not after the
    old run is gone and half a year is rebuilt."""
    from typer.testing import CliRunner

    from thidua.cli.main import app
    from thidua.settings import get_settings

    data = tmp_path / "data"
    data.mkdir()
    previous = data / "thidua.db"
    previous.write_bytes(b"the last run's database")
    monkeypatch.setenv("THIDUA_DATA_DIR", str(data))
    monkeypatch.setenv("THIDUA_SECRET_KEY", "ngan")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--year", year, "--fresh", "--no-prefect"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "Khoá bí mật (THIDUA_SECRET_KEY) quá ngắn" in result.output and "Traceback" not in result.output
    assert previous.read_bytes() == b"the last run's database"
    assert sorted(p.name for p in data.iterdir()) == ["thidua.db"]  # no sink, no mail folder, no Prefect home
