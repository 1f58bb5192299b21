"""Year-end award proposals in the simulation: CĐCS propose their best members for the provincial Bằng khen,
districts check them (approve, return, reject), add their own banner proposals and send one list upward under
a tờ trình; the province's council decides by list and the awards are handed over. Everything goes through
thidua.services.nominations; refusals by the rules are reported, as a user would see them."""
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
from thidua.models.nominations import NominationError
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.services import nominations as nom
from thidua.services.submissions import year_end_rating

if TYPE_CHECKING:
    from thidua.simulation import Simulation

OCCASION = "year_end"
PERSON_AWARD = "bang-khen-ldld-tinh"
BANNER_AWARD = "co-thi-dua-ldld-tinh"
GOOD_RATINGS = ("Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ")
GIVEN = ("Văn An", "Thị Bình", "Minh Châu", "Quốc Dũng", "Thị Hạnh", "Văn Hùng", "Thị Lan", "Ngọc Mai", "Văn Phúc", "Thị Thu")

# The year-end calendar (after the tổng kết of 15/11 has been reviewed).
PROPOSE_ON = date(2023, 11, 21)
DISTRICT_REVIEW_ON = date(2023, 11, 27)
RESUBMIT_ON = date(2023, 11, 29)
DISTRICT_SEND_ON = date(2023, 12, 4)
DECIDE_ON = date(2023, 12, 20)
AWARD_ON = date(2023, 12, 28)


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
        PROPOSE_ON: [play.cdcs_propose],
        DISTRICT_REVIEW_ON: [play.district_review],
        RESUBMIT_ON: [play.resubmit_returned],
        DISTRICT_SEND_ON: [play.district_send],
        DECIDE_ON: [play.province_decide],
        AWARD_ON: [play.hand_over],
    }


class _AwardPlay:
    def __init__(self, sim: "Simulation", campaign: Campaign):
        self.sim = sim
        self.campaign = campaign
        self.rng = random.Random(f"{sim.options.seed}:awards")
        self.refusals: Counter = Counter()

    @property
    def engine(self):  # noqa: ANN201
        return self.sim.engine

    def _units(self, level: str) -> list[Unit]:
        with Session(self.engine) as session:
            return list(session.exec(select(Unit).where(Unit.level_code == level, Unit.active.is_(True))  # type: ignore[call-overload,attr-defined]
                                     .order_by(Unit.code)).scalars())

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

    def cdcs_propose(self, day: date) -> None:
        catalogue = self._catalogue()
        proposed = 0
        for unit in self._units("cdcs"):
            with Session(self.engine) as session:
                rating = year_end_rating(session, self.campaign.id, unit.id)
            if rating not in GOOD_RATINGS or self.rng.random() > 0.08:
                continue
            person = f"{self.rng.choice(FAMILY)} {self.rng.choice(GIVEN)}"
            proposal = nom.ProposalInput(
                award_code=PERSON_AWARD, subject="individual", nominee_unit_id=unit.id, person_name=person,
                person_position="Tổ trưởng công đoàn", occasion=OCCASION,
                achievement="Hoàn thành xuất sắc nhiệm vụ năm 2023; có sáng kiến được áp dụng",
                dossier=_dossier(catalogue, PERSON_AWARD),
            )
            number = f"{self.rng.randint(10, 99)}/TTr-CĐCS"
            if self._try(f"{unit.code} đề nghị {PERSON_AWARD}", lambda: nom.propose(
                    self.engine, self.campaign.id, nom.Actor(unit.id, f"demo:{unit.code}"), [proposal],
                    send=nom.DocumentRef(number, day), now=_at(day))):
                proposed += 1
        self.sim.report(f"{day:%d/%m/%Y}: các CĐCS gửi {proposed} đề nghị {PERSON_AWARD} lên công đoàn cấp trên")

    def district_review(self, day: date) -> None:
        tally: Counter = Counter()
        for district in self._units("cap_tren_truc_tiep"):
            actor = nom.Actor(district.id, f"demo:{district.code}")
            for view in nom.reviewer_queue(self.engine, self.campaign.id, district.id):
                roll = self.rng.random()
                if roll < 0.08:
                    ok = self._try("trả lại", lambda: nom.return_for_revision(
                        self.engine, self.campaign.id, [view.id], actor, now=_at(day),
                        comment="Đề nghị bổ sung xác nhận sáng kiến của cơ quan chuyên môn"))
                    tally["trả lại"] += ok
                elif roll < 0.12:
                    ok = self._try("không đề nghị", lambda: nom.reject(
                        self.engine, self.campaign.id, [view.id], actor, now=_at(day),
                        comment="Thành tích chưa đủ tiêu chuẩn Bằng khen cấp tỉnh"))
                    tally["không đề nghị"] += ok
                else:
                    tally["đồng ý"] += self._try("đồng ý", lambda: nom.approve(
                        self.engine, self.campaign.id, [view.id], actor, now=_at(day)))
        self.sim.report(f"{day:%d/%m/%Y}: công đoàn cấp trên xét đề nghị: "
                        + ", ".join(f"{k} {v}" for k, v in tally.items()))

    def resubmit_returned(self, day: date) -> None:
        count = 0
        for view in nom.list_nominations(self.engine, self.campaign.id, statuses=["returned"]):
            actor = nom.Actor(view.origin_unit_id, "demo:resubmit")
            count += self._try("gửi lại", lambda: nom.resubmit(
                self.engine, self.campaign.id, view.id, actor, now=_at(day),
                comment="Đã bổ sung xác nhận sáng kiến"))
        self.sim.report(f"{day:%d/%m/%Y}: {count} hồ sơ bị trả lại đã được bổ sung và gửi lại")

    def district_send(self, day: date) -> None:
        catalogue = self._catalogue()
        sent = 0
        for district in self._units("cap_tren_truc_tiep"):
            actor = nom.Actor(district.id, f"demo:{district.code}")
            for view in nom.reviewer_queue(self.engine, self.campaign.id, district.id):  # the resubmitted files
                self._try("đồng ý", lambda: nom.approve(self.engine, self.campaign.id, [view.id], actor, now=_at(day, 8)))
            best = self._best_cdcs(district)
            if best is not None:
                banner = nom.ProposalInput(award_code=BANNER_AWARD, subject="collective", nominee_unit_id=best.id,
                                           occasion=OCCASION, achievement="Dẫn đầu phong trào thi đua năm 2023 của khối",
                                           dossier=_dossier(catalogue, BANNER_AWARD))
                self._try(f"{district.code} đề nghị {BANNER_AWARD}", lambda: nom.propose(
                    self.engine, self.campaign.id, actor, [banner], now=_at(day, 9)))
            if not any(b["from_unit_id"] == district.id and b["status"] == "open"
                       for b in nom.list_batches(self.engine, self.campaign.id, unit_id=district.id)):
                continue  # nothing proposed or approved here this year
            number = f"{self.rng.randint(100, 199)}/TTr-LĐLĐ"
            sent += self._try(f"{district.code} gửi danh sách", lambda: nom.send_batch(
                self.engine, self.campaign.id, actor, occasion=OCCASION, to_trinh=nom.DocumentRef(number, day),
                now=_at(day, 10)))
        self.sim.report(f"{day:%d/%m/%Y}: {sent} danh sách đề nghị (kèm tờ trình) gửi lên LĐLĐ tỉnh")

    def _best_cdcs(self, district: Unit) -> Unit | None:
        """The first child CĐCS rated excellent whose emulation registration was accepted."""
        with Session(self.engine) as session:
            registered = select(Assignment.unit_id).join(ObligationDef, ObligationDef.id == Assignment.obligation_id).where(  # type: ignore[call-overload]
                ObligationDef.campaign_id == self.campaign.id, ObligationDef.kind == "registration",
                Assignment.status == "da_duyet")
            children = session.exec(select(Unit).where(Unit.parent_id == district.id, Unit.level_code == "cdcs",  # type: ignore[call-overload]
                                                       Unit.id.in_(registered)).order_by(Unit.code)).scalars().all()  # type: ignore[attr-defined]
            for child in children:
                if year_end_rating(session, self.campaign.id, child.id) == GOOD_RATINGS[0]:
                    return child
        return None

    def province_decide(self, day: date) -> None:
        province = self._units("ldld_tinh")[0]
        actor = nom.Actor(province.id, "demo:hoi-dong-thi-dua")
        decided = 0
        for number, batch in enumerate(sorted(
                (b for b in nom.list_batches(self.engine, self.campaign.id, unit_id=province.id) if b["to_unit_id"] == province.id),
                key=lambda b: b["id"]), start=1):
            decision = nom.Decision(f"{200 + number}/QĐ-LĐLĐ", day, "Chủ tịch LĐLĐ tỉnh")
            ids: list[int] = []
            self._try("quyết định", lambda: ids.extend(nom.decide(self.engine, self.campaign.id, actor, decision,
                                                                  batch_id=batch["id"], now=_at(day))))
            decided += len(ids)
        self.sim.report(f"{day:%d/%m/%Y}: Hội đồng thi đua, khen thưởng LĐLĐ tỉnh quyết định khen thưởng {decided} hồ sơ")

    def hand_over(self, day: date) -> None:
        province = self._units("ldld_tinh")[0]
        ids = [v.id for v in nom.list_nominations(self.engine, self.campaign.id, statuses=["decided"])]
        if ids:
            self._try("trao tặng", lambda: nom.mark_awarded(self.engine, self.campaign.id, ids, nom.Actor(province.id, "demo"),
                                                            awarded_on=day, now=_at(day, 15)))
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
        register = nom.write_award_register(sim.engine, campaign.id, sim.settings.reports_dir / "so-theo-doi-khen-thuong-2023.xlsx")
        files[register.name] = register
    return dict(by_status), dict(decided), files
