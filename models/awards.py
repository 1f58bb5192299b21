"""Award rules as pure functions over plain data: eligibility, dossier, quotas, exclusivity, the chain of
reviewing levels and their deadlines. No I/O: the service layer gathers the figures, these functions decide
and word the refusal (which rule, which figure)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping, Sequence

from thidua.models.clock import fmt_date
from thidua.models.clusters import ClusterStanding
from thidua.models.vnformat import fmt_percent
from thidua.models.spec.awards import (
    OCCASION_LABELS,
    SCOPE_LABELS,
    Award,
    AwardCatalogue,
    ExclusivityRule,
    Quota,
)


@dataclass(frozen=True)
class Refusal:
    """Why a rule refuses: `rule` names it (kind:code), `message` says it with the figures, in Vietnamese."""

    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DossierEntry:
    """One document handed in: its number/symbol or file name, and for minutes the vote."""

    ref: str = ""
    votes_for: int | None = None
    votes_total: int | None = None

    def vote_share(self) -> float | None:
        if self.votes_for is None or not self.votes_total:
            return None
        return 100.0 * self.votes_for / self.votes_total


@dataclass(frozen=True)
class Candidate:
    """What the rules need to know of one nomination."""

    award: Award
    subject: str
    occasion: str
    round_number: int | None
    nominee_label: str
    discipline: str = ""
    dossier: Mapping[str, DossierEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class NomineeFacts:
    """Facts about the nominee's unit for the nomination's campaign (gathered by the service)."""

    registered: bool
    rating: str | None
    round_report_accepted: bool
    cluster: ClusterStanding | None = None  # criterion cluster_rank: the nominee's place in its cụm/khối ranking


# ---------------------------------------------------------------------------------------------------
# Eligibility and dossier
# ---------------------------------------------------------------------------------------------------
def rating_meets(ratings: Sequence[str], rating: str | None, at_least: str) -> bool:
    """Ratings are listed best first; a rating qualifies when it is at or above `at_least`."""
    if rating is None or rating not in ratings:
        return False
    return ratings.index(rating) <= ratings.index(at_least)


def eligibility_refusals(catalogue: AwardCatalogue, candidate: Candidate, facts: NomineeFacts) -> list[Refusal]:
    out: list[Refusal] = []
    award, who = candidate.award, candidate.nominee_label
    for criterion in award.criteria:
        if not criterion.applies(candidate.subject, candidate.occasion):
            continue
        rule = f"tieu-chuan:{criterion.kind}"
        if criterion.kind == "registered" and not facts.registered:
            out.append(
                Refusal(
                    rule,
                    f"Không đủ tiêu chuẩn {award.name}: {who} chưa đăng ký thi đua năm "
                    "(bản đăng ký chưa gửi hoặc chưa được duyệt)",
                )
            )
        elif criterion.kind == "year_end_rating":
            assert criterion.at_least is not None  # schema guarantees it
            if not rating_meets(catalogue.ratings, facts.rating, criterion.at_least):
                got = f"'{facts.rating}'" if facts.rating else "chưa có xếp loại"
                out.append(
                    Refusal(
                        rule,
                        f"Không đủ tiêu chuẩn {award.name}: cần xếp loại cuối năm từ "
                        f"'{criterion.at_least}' trở lên; {who}: {got}",
                    )
                )
        elif criterion.kind == "round_report_accepted" and not facts.round_report_accepted:
            out.append(
                Refusal(
                    rule,
                    f"Không đủ tiêu chuẩn {award.name}: báo cáo sơ kết đợt "
                    f"{candidate.round_number or '?'} của {who} chưa được duyệt",
                )
            )
        elif criterion.kind == "no_discipline" and candidate.discipline.strip():
            out.append(
                Refusal(
                    rule,
                    f"Không đủ tiêu chuẩn {award.name}: {who} bị kỷ luật trong năm ({candidate.discipline.strip()})",
                )
            )
        elif criterion.kind == "cluster_rank" and facts.cluster is not None:
            out.extend(_cluster_refusal(rule, award.name, who, criterion.top or 1, facts.cluster))
        elif criterion.kind == "council_vote":
            assert criterion.min_percent is not None
            share = _council_share(catalogue, candidate)
            if share is None:
                out.append(
                    Refusal(
                        rule,
                        f"Không đủ tiêu chuẩn {award.name}: thiếu kết quả biểu quyết của Hội đồng "
                        f"thi đua, khen thưởng (cần từ {fmt_percent(criterion.min_percent)} phiếu đồng ý)",
                    )
                )
            elif share < criterion.min_percent:
                out.append(
                    Refusal(
                        rule,
                        f"Không đủ tiêu chuẩn {award.name}: cần từ {fmt_percent(criterion.min_percent)} phiếu "
                        f"đồng ý của Hội đồng thi đua, khen thưởng; đạt {fmt_percent(share)}",
                    )
                )
    return out


def _cluster_refusal(rule: str, award: str, who: str, top: int, standing: ClusterStanding) -> list[Refusal]:
    """Cờ thi đua backed by the cụm/khối ranking: only the first `top` units of the submitted ranking."""
    first = "đơn vị xếp thứ nhất" if top == 1 else f"{top} đơn vị dẫn đầu"
    if standing.cluster_name is None:
        return [
            Refusal(
                rule,
                f"Không đủ tiêu chuẩn {award}: {who} không thuộc cụm/khối thi đua nào năm {standing.year}; "
                f"đề nghị {award} phải căn cứ kết quả xếp hạng của cụm/khối",
            )
        ]
    if standing.rank is None:
        return [
            Refusal(
                rule,
                f"Không đủ tiêu chuẩn {award}: {standing.cluster_name} năm {standing.year} chưa có bảng "
                "xếp hạng do đơn vị trưởng cụm gửi (biên bản họp cụm); đề nghị phải căn cứ kết quả "
                "xếp hạng của cụm/khối",
            )
        ]
    if standing.rank > top:
        return [
            Refusal(
                rule,
                f"Không đủ tiêu chuẩn {award}: {who} xếp thứ {standing.rank}/{standing.size} trong "
                f"{standing.cluster_name} năm {standing.year}; chỉ {first} của cụm/khối được đề nghị",
            )
        ]
    if standing.rank + standing.tie_size - 1 > top:
        return [
            Refusal(
                rule,
                f"Không đủ tiêu chuẩn {award}: {who} đồng hạng {standing.rank} trong {standing.cluster_name} "
                f"năm {standing.year}; cụm cần biểu quyết thứ tự giữa các đơn vị bằng điểm (biên bản họp "
                "cụm) và gửi lại bảng xếp hạng",
            )
        ]
    return []


def _council_share(catalogue: AwardCatalogue, candidate: Candidate) -> float | None:
    for code in candidate.award.dossier:
        item = catalogue.dossier_item(code)
        entry = candidate.dossier.get(code)
        if item is not None and item.needs_vote and entry is not None:
            share = entry.vote_share()
            if share is not None:
                return share
    return None


def dossier_refusals(catalogue: AwardCatalogue, candidate: Candidate) -> list[Refusal]:
    """Missing documents of the nominee's file. Items provided by the batch (the tờ trình) are checked when the
    batch is sent; minutes that need a vote need a coherent one."""
    out: list[Refusal] = []
    for code in candidate.award.dossier:
        item = catalogue.dossier_item(code)
        if item is None or item.from_batch:
            continue
        entry = candidate.dossier.get(code)
        if entry is None or not entry.ref.strip():
            out.append(Refusal(f"ho-so:{code}", f"Thiếu hồ sơ: {item.name}"))
            continue
        if item.needs_vote:
            if entry.votes_for is None or entry.votes_total is None:
                out.append(
                    Refusal(
                        f"ho-so:{code}", f"Hồ sơ '{item.name}' thiếu kết quả biểu quyết (số phiếu đồng ý / tổng số)"
                    )
                )
            elif entry.votes_total <= 0 or not 0 <= entry.votes_for <= entry.votes_total:
                out.append(
                    Refusal(
                        f"ho-so:{code}",
                        f"Hồ sơ '{item.name}': kết quả biểu quyết không hợp lệ ({entry.votes_for}/{entry.votes_total})",
                    )
                )
    unknown = sorted(set(candidate.dossier) - set(candidate.award.dossier))
    for code in unknown:
        out.append(
            Refusal(
                f"ho-so:{code}",
                f"Hồ sơ '{code}' không thuộc hồ sơ của {candidate.award.name} "
                f"(gồm: {', '.join(candidate.award.dossier) or 'không có'})",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Quotas
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuotaGroup:
    """One counted group of a quota, e.g. quota 'bk-tld-chuyen-de-moi-tinh' for the subtree of unit 7 in 2023."""

    quota_code: str
    scope_id: int | None  # proposer unit id, subtree root unit id, or None for the whole campaign
    round_number: int | None  # set for per-round quotas


def quota_group(
    quota: Quota, *, origin_unit_id: int, subtree_root_id: int | None, occasion: str, round_number: int | None
) -> QuotaGroup | None:
    """The group a nomination counts in, or None when the quota does not apply to it (a per-round quota and a
    year-end nomination; a subtree quota and a nominee outside any unit of that level)."""
    if quota.period == "round":
        if occasion != "round" or round_number is None:
            return None
        rnd: int | None = round_number
    else:
        rnd = None
    if quota.per == "proposer":
        return QuotaGroup(quota.code, origin_unit_id, rnd)
    if quota.per == "subtree":
        return None if subtree_root_id is None else QuotaGroup(quota.code, subtree_root_id, rnd)
    return QuotaGroup(quota.code, None, rnd)


def quota_refusal(
    quota: Quota,
    *,
    existing: int,
    adding: int,
    level_name: str = "",
    scope_name: str = "",
    round_number: int | None = None,
) -> Refusal | None:
    """`existing`: live proposals already counted in the group (not those being moved now); `adding`: those
    being moved now. Refused when together they exceed the maximum."""
    if existing + adding <= quota.max:
        return None
    if quota.per == "proposer":
        per = "cho mỗi đơn vị đề nghị"
    elif quota.per == "subtree":
        per = f"cho mỗi {level_name or quota.level}"
    else:
        per = "trong toàn chiến dịch"
    period = f"mỗi đợt (đợt {round_number})" if quota.period == "round" else "mỗi năm"
    where = f" ({scope_name})" if scope_name else ""
    figures = f"đã có {existing}" + (f", đề nghị thêm {adding}" if adding > 1 else "")
    return Refusal(
        f"han-muc:{quota.code}", f"Vượt hạn mức: tối đa {quota.max} {quota.title} {per} {period}{where}; {figures}"
    )


# ---------------------------------------------------------------------------------------------------
# Exclusivity (checked at decision)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrantedAward:
    """An award decided (or being decided) for a nominee."""

    nomination_id: int
    award_code: str
    award_name: str
    award_kind: str
    scope: str
    deciding_level: str
    occasion: str
    subject: str
    nominee_key: str
    achievement_key: str
    decision_number: str = ""
    decision_date: date | None = None


def _decision_text(other: GrantedAward) -> str:
    if other.decision_number:
        return f"quyết định số {other.decision_number} ngày {fmt_date(other.decision_date)}, đề nghị #{other.nomination_id}"
    return f"cùng đợt quyết định này, đề nghị #{other.nomination_id}"


def _rule_covers(rule: ExclusivityRule, award: GrantedAward) -> bool:
    return (
        (rule.award_kinds is None or award.award_kind in rule.award_kinds)
        and (rule.subjects is None or award.subject in rule.subjects)
        and award.occasion not in rule.except_occasions
    )


def exclusivity_refusals(
    catalogue: AwardCatalogue, candidate: GrantedAward, granted: Sequence[GrantedAward], nominee_label: str
) -> list[Refusal]:
    """Refusals for granting `candidate` given the awards already granted to anyone (filtered here to the
    same nominee) in the same year."""
    out: list[Refusal] = []
    same_nominee = [
        g for g in granted if g.nominee_key == candidate.nominee_key and g.nomination_id != candidate.nomination_id
    ]
    for rule in catalogue.exclusivity:
        if not _rule_covers(rule, candidate):
            continue
        for other in same_nominee:
            if not _rule_covers(rule, other):
                continue
            if rule.kind == "one_award_per_achievement" and other.achievement_key == candidate.achievement_key:
                out.append(
                    Refusal(
                        f"loai-tru:{rule.code}",
                        f"{rule.title}: {nominee_label} đã được {other.award_name} cho cùng thành tích "
                        f"({_decision_text(other)})",
                    )
                )
                break
            if (
                rule.kind == "comprehensive_or_thematic"
                and other.deciding_level == candidate.deciding_level
                and {other.scope, candidate.scope} == {"comprehensive", "thematic"}
            ):
                out.append(
                    Refusal(
                        f"loai-tru:{rule.code}",
                        f"{rule.title}: {nominee_label} đã được {other.award_name} "
                        f"(khen {SCOPE_LABELS[other.scope]}) ở cùng cấp quyết định trong năm "
                        f"({_decision_text(other)}); không thể nhận thêm khen {SCOPE_LABELS[candidate.scope]}",
                    )
                )
                break
    return out


# ---------------------------------------------------------------------------------------------------
# Identity keys, route and deadlines
# ---------------------------------------------------------------------------------------------------
def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().casefold()


def nominee_key(subject: str, unit_id: int, person_name: str = "") -> str:
    """Identity of a nominee across nominations: the unit for a collective, name within unit for a person."""
    return f"u:{unit_id}" if subject == "collective" else f"p:{unit_id}:{_normalise(person_name)}"


def achievement_key(campaign_id: int, occasion: str, round_number: int | None, theme: str = "") -> str:
    """One achievement: a campaign's year (or round, or ad-hoc feat), per theme for thematic awards."""
    return f"{campaign_id}:{occasion}:{round_number or 0}:{_normalise(theme)}"


def reviewer_levels(levels_top_down: Sequence[str], origin_level: str, deciding_level: str) -> list[str]:
    """Levels that review a proposal, bottom-up, ending with the deciding level. A unit at the deciding level
    reviews its own proposals (its emulation council decides)."""
    rank = {code: i for i, code in enumerate(levels_top_down)}
    if rank[origin_level] == rank[deciding_level]:
        return [deciding_level]
    return [lvl for lvl in reversed(levels_top_down) if rank[deciding_level] <= rank[lvl] < rank[origin_level]]


def window_closes(due: date, levels_top_down: Sequence[str], review_days: Mapping[str, int]) -> dict[str, date]:
    """When each level's proposal window closes: the lowest level on the window's due date, each level above
    after its review period (campaign file: awards.review_days_per_level)."""
    closes: dict[str, date] = {}
    day = due
    for i, level in enumerate(reversed(levels_top_down)):
        if i > 0:
            day = day + timedelta(days=review_days.get(level, 0))
        closes[level] = day
    return closes


def review_due_on(arrived_on: date, level: str, review_days: Mapping[str, int]) -> date | None:
    days = review_days.get(level)
    return None if days is None else arrived_on + timedelta(days=days)


def occasion_label(occasion: str, round_number: int | None) -> str:
    label = OCCASION_LABELS.get(occasion, occasion)
    return f"{label} {round_number}" if occasion == "round" and round_number else label
