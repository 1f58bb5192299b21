"""Year-end award proposals in the simulation: CĐCS propose their best members — persons of the register, with
their award history — for the provincial Bằng khen, attach the report as evidence and send it under a numbered
tờ trình; districts check them (approve, return, reject), add their own banner proposals and send one list
upward; the province publishes the list for comments, its council votes (minutes), the decision is numbered
(with bonuses), certificates are printed and the awards handed over. Everything goes through the services;
refusals by the rules are reported, as a user would see them."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.awards import DossierEntry
from thidua.models.clock import local_to_utc
from thidua.models.vnwords import group_thousands
from thidua.models.nominations import NominationError
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.services import nominations as nom
from thidua.services.commendation import bonuses, certificates, council, decisions, evidence, persons, publication
from thidua.services.submissions import year_end_rating, year_end_ratings

if TYPE_CHECKING:
    from thidua.simulation import Simulation

OCCASION = "year_end"
PERSON_AWARD = "bang-khen-ldld-tinh"
BANNER_AWARD = "co-thi-dua-ldld-tinh"
GOOD_RATINGS = ("Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ")
GIVEN = (
    "Văn An",
    "Thị Bình",
    "Minh Châu",
    "Quốc Dũng",
    "Thị Hạnh",
    "Văn Hùng",
    "Thị Lan",
    "Ngọc Mai",
    "Văn Phúc",
    "Thị Thu",
)

# The year-end calendar (after the tổng kết of 15/11 has been reviewed).
REGISTER_ON = date(2023, 11, 20)  # the persons register (đoàn viên, cán bộ) imported from XLSX
PROPOSE_ON = date(2023, 11, 21)
DISTRICT_REVIEW_ON = date(2023, 11, 27)
RESUBMIT_ON = date(2023, 11, 29)
CLUSTERS_ON = date(2023, 12, 1)  # the cụm/khối meet; each head submits its ranking (biên bản họp cụm)
DISTRICT_SEND_ON = date(2023, 12, 4)
PUBLISH_ON = date(2023, 12, 7)  # công khai 5 ngày (catalogue): 07–11/12
COMMENT_ON = date(2023, 12, 9)
COUNCIL_ON = date(2023, 12, 15)
DECIDE_ON = date(2023, 12, 20)
AWARD_ON = date(2023, 12, 28)
COUNCIL = [
    ("Nguyễn Văn Bình", "Chủ tịch Hội đồng"),
    ("Trần Thị Cúc", "Phó Chủ tịch Hội đồng"),
    ("Lê Văn Dũng", "Ủy viên"),
    ("Phạm Thị Em", "Ủy viên"),
    ("Hồ Văn Giang", "Ủy viên"),
    ("Đỗ Thị Hoa", "Ủy viên"),
    ("Bùi Văn Khánh", "Ủy viên"),
    ("Đặng Thị Liên", "Ủy viên"),
    ("Võ Văn Phong", "Thư ký"),
]
SIGNER = "Nguyễn Văn Bình"
REGISTER_FILE = "so-doan-vien-2023.xlsx"
MINUTES_FILE = "bien-ban-hoi-dong-thi-dua-2023.docx"
DECISION_FILE = "quyet-dinh-khen-thuong-2023.docx"
CERTIFICATES_FILE = "bang-khen-2023.pdf"
FUND_FILE = "quy-khen-thuong-2023.xlsx"


def _uid(unit: Unit) -> int:
    assert unit.id is not None
    return unit.id


def _at(day: date, hour: int = 9) -> datetime:
    return local_to_utc(datetime.combine(day, time(hour, 0)))


def _dossier(catalogue, award_code: str) -> dict[str, DossierEntry]:  # noqa: ANN001
    award = catalogue.award(award_code)
    out = {}
    for code in award.dossier if award else ():
        item = catalogue.dossier_item(code)
        if item is None or item.from_batch:
            continue  # the tờ trình comes with the list
        out[code] = DossierEntry(f"{code}-01", 9, 11) if item.needs_vote else DossierEntry(f"{code}-01")
    return out


def award_milestones(sim: "Simulation", campaign: Campaign) -> dict[date, list[Callable[[date], None]]]:
    play = _AwardPlay(sim, campaign)
    return {
        REGISTER_ON: [play.import_register],
        PROPOSE_ON: [play.cdcs_propose],
        DISTRICT_REVIEW_ON: [play.district_review],
        RESUBMIT_ON: [play.resubmit_returned],
        CLUSTERS_ON: [play.cluster_rankings],
        DISTRICT_SEND_ON: [play.district_send],
        PUBLISH_ON: [play.province_publish],
        COMMENT_ON: [play.public_comments],
        COUNCIL_ON: [play.council_session],
        DECIDE_ON: [play.province_decide],
        AWARD_ON: [play.hand_over],
    }


def _pdf(text: str) -> bytes:
    """A small real PDF (the scanned report a CĐCS would attach), made with reportlab."""
    import io

    from reportlab.pdfgen import canvas as pdf_canvas

    buffer = io.BytesIO()
    page = pdf_canvas.Canvas(buffer)
    page.drawString(72, 760, text.encode("ascii", "replace").decode())
    page.save()
    return buffer.getvalue()


class _AwardPlay:
    def __init__(self, sim: "Simulation", campaign: Campaign):
        self.sim = sim
        self.campaign = campaign
        assert campaign.id is not None
        self.campaign_id: int = campaign.id
        self.rng = random.Random(f"{sim.options.seed}:awards")
        self.refusals: Counter = Counter()

    @property
    def engine(self):  # noqa: ANN201
        return self.sim.engine

    def _units(self, level: str) -> list[Unit]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(Unit)
                    .where(Unit.level_code == level, Unit.active.is_(True))  # type: ignore[call-overload,attr-defined]
                    .order_by(Unit.code)
                ).scalars()
            )

    def _catalogue(self):  # noqa: ANN202
        with Session(self.engine) as session:
            return nom.campaign_catalogue(session, self.campaign)

    def _try(self, what: str, action: Callable[[], object]) -> bool:
        try:
            action()
            return True
        except NominationError as exc:
            self.refusals[type(exc).__name__] += 1
            self.sim.report(f"[bị từ chối] {what}: {exc}")
            return False

    def import_register(self, day: date) -> None:
        """Each CĐCS's members in an XLSX, with the awards some got in 2021 and 2022, imported into the register."""
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = persons.PERSON_SHEET
        sheet.append(["Mã đơn vị", "Họ và tên", "Chức vụ", "Năm sinh", "Số định danh", "Loại"])
        history = book.create_sheet(persons.AWARD_SHEET)
        history.append(["Số định danh", "Năm", "Hình thức", "Số quyết định"])
        rng = random.Random(f"{self.sim.options.seed}:register")
        for index, unit in enumerate(self._units("cdcs")):
            for k in range(2):
                id_number = f"0520{index:04d}{k:04d}"
                sheet.append(
                    [
                        unit.code,
                        f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}",
                        "Tổ trưởng công đoàn" if k == 0 else "Ủy viên Ban Chấp hành",
                        rng.randint(1970, 1998),
                        id_number,
                        "Đoàn viên" if k == 0 else "Cán bộ công đoàn",
                    ]
                )
                if rng.random() < 0.15:  # some won the provincial Bằng khen in 2022 (or 2021)
                    year = rng.choice((2021, 2022))
                    history.append([id_number, year, PERSON_AWARD, f"{rng.randint(100, 300)}/QĐ-LĐLĐ"])
        path = self.sim.settings.reports_dir / REGISTER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        book.save(str(path))
        codes = {a.code: a.name for a in self._catalogue().awards}
        result = persons.import_persons(self.engine, path, actor="demo:van-phong", award_codes=codes, now=_at(day))
        self.sim.report(
            f"{day:%d/%m/%Y}: nhập sổ đoàn viên: {result.created} người, {result.awards} lượt khen thưởng trước đây"
        )

    def cdcs_propose(self, day: date) -> None:
        catalogue = self._catalogue()
        proposed = 0
        units = self._units("cdcs")
        with Session(self.engine) as session:  # proposals change no report: every rating read at once
            ratings = year_end_ratings(session, self.campaign_id, [_uid(unit) for unit in units])
        for unit in units:
            rating = ratings[_uid(unit)]
            if rating not in GOOD_RATINGS or self.rng.random() > 0.08:
                continue
            members = persons.persons_in_subtree(self.engine, _uid(unit))
            person = members[0] if members else None
            proposal = nom.ProposalInput(
                award_code=PERSON_AWARD,
                subject="individual",
                nominee_unit_id=_uid(unit),
                person_name=person.full_name if person else f"{self.rng.choice(FAMILY)} {self.rng.choice(GIVEN)}",
                person_position=person.position if person else "Tổ trưởng công đoàn",
                occasion=OCCASION,
                achievement="Hoàn thành xuất sắc nhiệm vụ năm 2023; có sáng kiến được áp dụng",
                dossier=_dossier(catalogue, PERSON_AWARD),
                person_id=person.id if person else None,
            )
            actor = nom.Actor(_uid(unit), f"demo:{unit.code}")
            ids: list[int] = []
            if not self._try(
                f"{unit.code} đề nghị {PERSON_AWARD}",
                lambda: ids.extend(
                    nom.propose(self.engine, self.campaign_id, actor, [proposal], now=_at(day)).nomination_ids
                ),
            ):
                continue
            self._try(
                "đính kèm minh chứng",
                lambda: evidence.attach(
                    self.engine,
                    ids[0],
                    actor,
                    item_code="bao-cao-thanh-tich",
                    file_name=f"bao-cao-thanh-tich-{ids[0]}.pdf",
                    data=_pdf(f"Bao cao thanh tich - de nghi #{ids[0]}"),
                    now=_at(day, 10),
                    data_dir=self.sim.settings.data_dir,
                ),
            )
            self._try(
                f"{unit.code} lấy số tờ trình",
                lambda: decisions.issue_to_trinh(self.engine, self.campaign_id, actor, on=day, now=_at(day, 11)),
            )
            if self._try(
                f"{unit.code} gửi danh sách",
                lambda: nom.send_batch(self.engine, self.campaign_id, actor, occasion=OCCASION, now=_at(day, 11)),
            ):
                proposed += 1
        self.sim.report(
            f"{day:%d/%m/%Y}: các CĐCS gửi {proposed} đề nghị {PERSON_AWARD} (kèm minh chứng, tờ trình có số) "
            "lên công đoàn cấp trên"
        )

    def district_review(self, day: date) -> None:
        tally: Counter = Counter()
        for district in self._units("cap_tren_truc_tiep"):
            actor = nom.Actor(_uid(district), f"demo:{district.code}")
            for view in nom.reviewer_queue(self.engine, self.campaign_id, _uid(district)):
                roll = self.rng.random()
                if roll < 0.08:
                    ok = self._try(
                        "trả lại",
                        lambda: nom.return_for_revision(
                            self.engine,
                            self.campaign_id,
                            [view.id],
                            actor,
                            now=_at(day),
                            comment="Đề nghị bổ sung xác nhận sáng kiến của cơ quan chuyên môn",
                        ),
                    )
                    tally["trả lại"] += ok
                elif roll < 0.12:
                    ok = self._try(
                        "không đề nghị",
                        lambda: nom.reject(
                            self.engine,
                            self.campaign_id,
                            [view.id],
                            actor,
                            now=_at(day),
                            comment="Thành tích chưa đủ tiêu chuẩn Bằng khen cấp tỉnh",
                        ),
                    )
                    tally["không đề nghị"] += ok
                else:
                    tally["đồng ý"] += self._try(
                        "đồng ý", lambda: nom.approve(self.engine, self.campaign_id, [view.id], actor, now=_at(day))
                    )
        self.sim.report(
            f"{day:%d/%m/%Y}: công đoàn cấp trên xét đề nghị: " + ", ".join(f"{k} {v}" for k, v in tally.items())
        )

    def resubmit_returned(self, day: date) -> None:
        count = 0
        for view in nom.list_nominations(self.engine, self.campaign_id, statuses=["returned"]):
            actor = nom.Actor(view.origin_unit_id, "demo:resubmit")
            count += self._try(
                "gửi lại",
                lambda: nom.resubmit(
                    self.engine, self.campaign_id, view.id, actor, now=_at(day), comment="Đã bổ sung xác nhận sáng kiến"
                ),
            )
        self.sim.report(f"{day:%d/%m/%Y}: {count} hồ sơ bị trả lại đã được bổ sung và gửi lại")

    def cluster_rankings(self, day: date) -> None:
        """The province's cụm/khối of 2023 (config/clusters/binh_dinh.yaml) meet: each head submits the ranking
        scored from the year's reports (campaign file, cluster_scoring); a tie at the top is settled by the
        meeting's vote (here: in code order). The first of each cụm/khối may then be proposed for the Cờ thi đua."""
        from thidua.services import clusters
        from thidua.settings import get_settings

        path = get_settings().config_dir / "clusters" / "binh_dinh.yaml"
        if not path.exists() or not self.campaign.spec.get("cluster_scoring"):
            return
        clusters.import_clusters(self.engine, path, actor="demo:van-phong")
        self.cluster_leaders: dict[int, str] = {}
        lines = []
        with Session(self.engine) as session:
            infos = clusters.list_clusters(session, year=self.campaign.year)
            ranked = {c.code: clusters.compute_ranking(session, self.campaign, c) for c in infos}
            head_ids = {c.code: clusters.members_of(session, c) for c in infos}
        for info in infos:
            rows = ranked[info.code]
            tied_top = [r.unit_code for r in rows if r.rank == 1 and r.tied]
            head = next(m for m in head_ids[info.code] if m.is_head)
            clusters.submit_ranking(
                self.engine,
                self.campaign.code,
                info.code,
                head.unit_id,
                actor=f"demo:{head.code}",
                minutes=f"Biên bản họp {info.name} ngày {day:%d/%m/%Y}",
                meeting_order=sorted(tied_top),
                now=_at(day),
            )
            with Session(self.engine) as session:
                submitted = clusters.submitted_ranking(session, self.campaign_id, info.id)
            assert submitted is not None
            first = submitted.rows[0]
            leader = next(m for m in head_ids[info.code] if m.code == first.unit_code)
            self.cluster_leaders[leader.unit_id] = info.name
            lines.append(f"{info.name}: {first.unit_name} ({group_thousands(round(first.score))} điểm)")
        self.sim.report(
            f"{day:%d/%m/%Y}: {len(infos)} cụm/khối thi đua gửi bảng xếp hạng; dẫn đầu: " + "; ".join(lines)
        )

    def district_send(self, day: date) -> None:
        catalogue = self._catalogue()
        sent = 0
        leaders = getattr(self, "cluster_leaders", {})
        for district in self._units("cap_tren_truc_tiep"):
            actor = nom.Actor(_uid(district), f"demo:{district.code}")
            for view in nom.reviewer_queue(self.engine, self.campaign_id, _uid(district)):  # the resubmitted files
                self._try(
                    "đồng ý", lambda: nom.approve(self.engine, self.campaign_id, [view.id], actor, now=_at(day, 8))
                )
            best = self._best_cdcs(district)
            with Session(self.engine) as session:
                leads = (
                    _uid(district) in leaders
                    and year_end_rating(session, self.campaign_id, _uid(district)) == GOOD_RATINGS[0]
                )
            if leads:  # first of its cụm/khối: the district's own Cờ thi đua, backed by the cluster's ranking
                banner = nom.ProposalInput(
                    award_code=BANNER_AWARD,
                    subject="collective",
                    nominee_unit_id=_uid(district),
                    occasion=OCCASION,
                    achievement=f"Dẫn đầu {leaders[_uid(district)]} năm 2023",
                    dossier=_dossier(catalogue, BANNER_AWARD),
                )
                self._try(
                    f"{district.code} đề nghị {BANNER_AWARD} (dẫn đầu cụm)",
                    lambda: nom.propose(self.engine, self.campaign_id, actor, [banner], now=_at(day, 9)),
                )
            elif best is not None:
                banner = nom.ProposalInput(
                    award_code=BANNER_AWARD,
                    subject="collective",
                    nominee_unit_id=_uid(best),
                    occasion=OCCASION,
                    achievement="Dẫn đầu phong trào thi đua năm 2023 của khối",
                    dossier=_dossier(catalogue, BANNER_AWARD),
                )
                self._try(
                    f"{district.code} đề nghị {BANNER_AWARD}",
                    lambda: nom.propose(self.engine, self.campaign_id, actor, [banner], now=_at(day, 9)),
                )
            if not any(
                b["from_unit_id"] == _uid(district) and b["status"] == "open"
                for b in nom.list_batches(self.engine, self.campaign_id, unit_id=_uid(district))
            ):
                continue  # nothing proposed or approved here this year
            self._try(
                f"{district.code} lấy số tờ trình",
                lambda: decisions.issue_to_trinh(self.engine, self.campaign_id, actor, on=day, now=_at(day, 10)),
            )
            sent += self._try(
                f"{district.code} gửi danh sách",
                lambda: nom.send_batch(self.engine, self.campaign_id, actor, occasion=OCCASION, now=_at(day, 10)),
            )
        self.sim.report(f"{day:%d/%m/%Y}: {sent} danh sách đề nghị (kèm tờ trình) gửi lên LĐLĐ tỉnh")

    def _best_cdcs(self, district: Unit) -> Unit | None:
        """The first child CĐCS rated excellent whose emulation registration was accepted."""
        with Session(self.engine) as session:
            registered = (
                select(Assignment.unit_id)  # type: ignore[call-overload]
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(
                    ObligationDef.campaign_id == self.campaign_id,
                    ObligationDef.kind == "registration",
                    Assignment.status == "da_duyet",
                )
            )
            children = (
                session.exec(
                    select(Unit)
                    .where(
                        Unit.parent_id == _uid(district),
                        Unit.level_code == "cdcs",  # type: ignore[call-overload]
                        Unit.id.in_(registered),
                    )
                    .order_by(Unit.code)
                )
                .scalars()
                .all()
            )  # type: ignore[attr-defined]
            ratings = year_end_ratings(session, self.campaign_id, [_uid(child) for child in children])
            for child in children:
                if ratings[_uid(child)] == GOOD_RATINGS[0]:
                    return child
        return None

    def _province(self) -> tuple[Unit, nom.Actor]:
        province = self._units("ldld_tinh")[0]
        return province, nom.Actor(_uid(province), "demo:hoi-dong-thi-dua")

    def _waiting(self, province: Unit) -> list[int]:
        return [
            v.id
            for v in nom.list_nominations(self.engine, self.campaign_id, holder_unit_id=_uid(province))
            if v.status == "under_review" and v.deciding_unit_id == _uid(province)
        ]

    def province_publish(self, day: date) -> None:
        province, actor = self._province()
        ids = self._waiting(province)
        pages: list[publication.PublicationView] = []
        if ids and self._try(
            "công khai",
            lambda: pages.append(publication.publish(self.engine, self.campaign_id, actor, ids, now=_at(day))),
        ):
            page = pages[0]
            self.sim.report(
                f"{day:%d/%m/%Y}: LĐLĐ tỉnh công khai {len(ids)} đề nghị {page.days} ngày "
                f"(đến hết ngày {publication.last_day(page.closes_at)}) tại /cong-khai/{page.token}"
            )

    def public_comments(self, day: date) -> None:
        province, _ = self._province()
        published = publication.list_publications(self.engine, self.campaign_id, _uid(province))
        if not published:
            return
        page = publication.get_publication(self.engine, published[-1]["token"], now=_at(day))
        for item in page.items[:2]:
            self._try(
                "góp ý",
                lambda: publication.add_comment(
                    self.engine,
                    page.token,
                    name="Đoàn viên (giả lập)",
                    contact="gopy@example.vn",
                    content=f"Đồng ý đề nghị khen thưởng {item['nominee_name']}.",
                    nomination_id=item["id"],
                    now=_at(day),
                ),
            )
        self.sim.report(f"{day:%d/%m/%Y}: nhận {min(2, len(page.items))} ý kiến trên trang công khai")

    def council_session(self, day: date) -> None:
        province, actor = self._province()
        ids = self._waiting(province)
        if not ids:
            return
        members = [council.Member(name, role, present=name != "Đặng Thị Liên") for name, role in COUNCIL]
        sessions: list[int] = []
        if not self._try(
            "họp Hội đồng",
            lambda: sessions.append(
                council.convene(
                    self.engine,
                    self.campaign_id,
                    actor,
                    title="Họp Hội đồng thi đua, khen thưởng xét khen thưởng năm 2023",
                    held_on=day,
                    members=members,
                    place="Hội trường LĐLĐ tỉnh",
                    nomination_ids=ids,
                    now=_at(day),
                )
            ),
        ):
            return
        session_id = sessions[0]
        present = [i for i, m in enumerate(members, start=1) if m.present]
        for position, nomination_id in enumerate(ids):
            against = 5 if position % 11 == 5 else self.rng.randint(0, 2)  # now and then one does not pass
            votes = {seq: ("against" if k < against else "for") for k, seq in enumerate(present)}
            self._try(
                "biểu quyết",
                lambda: council.record_votes(self.engine, session_id, actor, nomination_id, votes, now=_at(day, 10)),
            )
        view = council.close(self.engine, session_id, actor, now=_at(day, 11))
        council.write_minutes_docx(self.engine, session_id, self.sim.settings.reports_dir / MINUTES_FILE)
        passed = sum(1 for i in view.agenda if i["result"] == "passed")
        self.sim.report(
            f"{day:%d/%m/%Y}: Hội đồng thi đua, khen thưởng họp ({view.present_count}/{view.member_count} "
            f"thành viên), {passed}/{len(view.agenda)} đề nghị đạt; biên bản số {view.minutes_symbol}"
        )

    def province_decide(self, day: date) -> None:
        province, actor = self._province()
        closed = [
            s for s in council.list_sessions(self.engine, self.campaign_id, _uid(province)) if s["status"] == "closed"
        ]
        if not closed:
            return
        session_id = closed[-1]["id"]
        passed = council.passed_nominations(self.engine, session_id)
        issued: list[decisions.IssuedDecision] = []
        if passed and self._try(
            "quyết định",
            lambda: issued.append(
                decisions.issue_decision(
                    self.engine,
                    self.campaign_id,
                    actor,
                    decisions.DecisionInput(day, SIGNER, council_session_id=session_id),
                    nomination_ids=passed,
                    now=_at(day),
                )
            ),
        ):
            decision = issued[0]
            reports = self.sim.settings.reports_dir
            decisions.write_decision_docx(self.engine, decision.id, reports / DECISION_FILE)
            certificates.write_certificates(self.engine, decision.id, reports / CERTIFICATES_FILE)
            bonuses.write_reward_fund_xlsx(self.engine, self.campaign_id, reports / FUND_FILE)
            self.sim.report(
                f"{day:%d/%m/%Y}: LĐLĐ tỉnh ra Quyết định số {decision.symbol} khen thưởng "
                f"{len(decision.nomination_ids)} hồ sơ, tiền thưởng {group_thousands(decision.total_amount)} đồng"
            )

    def hand_over(self, day: date) -> None:
        province = self._units("ldld_tinh")[0]
        ids = [v.id for v in nom.list_nominations(self.engine, self.campaign_id, statuses=["decided"])]
        if ids:
            self._try(
                "trao tặng",
                lambda: nom.mark_awarded(
                    self.engine,
                    self.campaign_id,
                    ids,
                    nom.Actor(_uid(province), "demo"),
                    awarded_on=day,
                    now=_at(day, 15),
                ),
            )
        self.sim.report(f"{day:%d/%m/%Y}: trao tặng {len(ids)} khen thưởng")


def award_summary(sim: "Simulation", campaign: Campaign) -> tuple[dict[str, int], dict[str, int], dict[str, Path]]:
    views = nom.list_nominations(sim.engine, campaign.id)
    by_status = Counter(v.status_label for v in views)
    decided: dict[str, int] = defaultdict(int)
    for view in views:
        if view.status in ("decided", "awarded"):
            decided[view.award_name] += 1
    files: dict[str, Path] = {}
    if views:
        register = nom.write_award_register(
            sim.engine, campaign.id, sim.settings.reports_dir / "so-theo-doi-khen-thuong-2023.xlsx"
        )
        files[register.name] = register
    for label, name in (
        ("Sổ đoàn viên (XLSX)", REGISTER_FILE),
        ("Biên bản họp Hội đồng (DOCX)", MINUTES_FILE),
        ("Quyết định khen thưởng kèm danh sách (DOCX)", DECISION_FILE),
        ("Giấy khen, bằng khen in trên phôi (PDF)", CERTIFICATES_FILE),
        ("Quỹ khen thưởng (XLSX)", FUND_FILE),
    ):
        if (sim.settings.reports_dir / name).exists():
            files[label] = sim.settings.reports_dir / name
    return dict(by_status), dict(decided), files


def commendation_summary(sim: "Simulation", campaign: Campaign) -> dict[str, str]:
    """What the year-end commendation produced, one line each, for the demo's summary (read from the database)."""
    from sqlalchemy import func

    from thidua.models.nominations import Nomination
    from thidua.models.persons import Person, PersonAward

    out: dict[str, str] = {}
    with Session(sim.engine) as session:
        people = session.execute(select(func.count()).select_from(Person)).scalar_one()
        history = session.execute(
            select(func.count()).select_from(PersonAward).where(PersonAward.source == "import")  # type: ignore[arg-type]
        ).scalar_one()
        named = session.execute(
            select(func.count())
            .select_from(Nomination)
            .where(Nomination.campaign_id == campaign.id, Nomination.person_id.is_not(None))  # type: ignore[arg-type, union-attr, union-attr]
        ).scalar_one()  # type: ignore[union-attr]
    if people:
        out["Sổ đoàn viên"] = f"{people} người, {history} lượt khen thưởng các năm trước; {named} người được đề nghị"
    from thidua.models.clusters import ClusterRanking, ClusterScore

    with Session(sim.engine) as session:
        rankings = session.execute(
            select(func.count()).select_from(ClusterRanking).where(ClusterRanking.campaign_id == campaign.id)  # type: ignore[arg-type]
        ).scalar_one()
        leader_ids: list[int] = list(
            session.execute(
                select(ClusterScore.unit_id)  # type: ignore[call-overload]
                .join(ClusterRanking, ClusterRanking.id == ClusterScore.ranking_id)
                .where(ClusterRanking.campaign_id == campaign.id, ClusterScore.rank == 1)
            ).scalars()
        )
        ratings = year_end_ratings(session, campaign.id or 0, leader_ids)
        below_excellent = sum(1 for rating in ratings.values() if rating != GOOD_RATINGS[0])
        leaders = session.execute(
            select(func.count())
            .select_from(Nomination)
            .join(Unit, Unit.id == Nomination.nominee_unit_id)  # type: ignore[arg-type]
            .where(
                Nomination.campaign_id == campaign.id,
                Nomination.award_code == BANNER_AWARD,  # type: ignore[arg-type]
                Unit.level_code == "cap_tren_truc_tiep",  # type: ignore[arg-type]
            )
        ).scalar_one()
    if rankings:
        out["Cụm, khối thi đua"] = (
            f"{rankings} bảng xếp hạng do đơn vị trưởng cụm gửi (biên bản họp cụm); {leaders} đề nghị "
            "Cờ thi đua của đơn vị dẫn đầu cụm/khối"
        )
        if below_excellent:  # say why a leader was not proposed, instead of a bare 0
            out["Cụm, khối thi đua"] += (
                f" ({below_excellent}/{len(leader_ids)} đơn vị dẫn đầu không được đề nghị Cờ: xếp loại năm dưới "
                f"“{GOOD_RATINGS[0]}”)"
            )
    files = evidence.evidence_count(sim.engine, campaign.id)
    if files:
        out["Hồ sơ minh chứng"] = f"{files} tệp đính kèm (kiểm tra theo nội dung, lưu theo mã băm)"
    for page in publication.list_publications(sim.engine, campaign.id):
        view = publication.get_publication(sim.engine, page["token"])
        out["Công khai"] = (
            f"{len(view.items)} đề nghị, {view.days} ngày đến hết {publication.last_day(view.closes_at)}, "
            f"{len(view.comments)} ý kiến — /cong-khai/{view.token}"
        )
    for row in council.list_sessions(sim.engine, campaign.id):
        view = council.get_session(sim.engine, row["id"])
        passed = sum(1 for i in view.agenda if i["result"] == "passed")
        out["Hội đồng thi đua, khen thưởng"] = (
            f"ngày {view.held_on:%d/%m/%Y}, có mặt {view.present_count}/{view.member_count}, "
            f"{passed}/{len(view.agenda)} đề nghị đạt, biên bản số {view.minutes_symbol}"
        )
    for row in decisions.list_decisions(sim.engine, campaign.id):
        out[f"Quyết định số {row['symbol']}"] = (
            f"ngày {row['decision_date']:%d/%m/%Y}, "
            f"{len(decisions.get_decision(sim.engine, row['id'])['items'])} hồ sơ, "
            f"tiền thưởng {group_thousands(row['total_amount'])} đồng"
        )
    fund = bonuses.reward_fund(sim.engine, campaign.id)  # type: ignore[arg-type]
    if fund["decisions"]:
        out["Quỹ khen thưởng"] = f"{fund['count']} lượt, {group_thousands(fund['total'])} đồng"
    return out
