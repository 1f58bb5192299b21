"""Schema of an award catalogue (danh mục khen thưởng): award forms and titles, who decides and who may propose
them, eligibility criteria, quotas, exclusivity rules and the dossier each needs. Every rule is data; the
behaviour that reads it lives in models/awards.py.

`validate_catalogue_file(path)` is what the campaign loader calls: every problem comes back at once with the
file, line and field (SpecError), including award and level codes that do not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, model_validator

from thidua.models.spec.common import Code, Strict, VNDate
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.validate import validate_doc
from thidua.models.spec.yamlsource import SourceDoc, decode_text, parse_yaml

AwardKind = Literal["title", "certificate", "banner"]  # danh hiệu / bằng khen, giấy khen / cờ thi đua
Subject = Literal["collective", "individual"]  # tập thể / cá nhân
Occasion = Literal["round", "year_end", "ad_hoc"]  # sơ kết đợt / tổng kết năm / đột xuất
AwardScope = Literal["comprehensive", "thematic", "none"]  # toàn diện / chuyên đề / không xét
CriterionKind = Literal[
    "registered", "year_end_rating", "round_report_accepted", "no_discipline", "council_vote", "cluster_rank"
]

KIND_LABELS = {"title": "Danh hiệu", "certificate": "Bằng khen / Giấy khen", "banner": "Cờ thi đua"}
SUBJECT_LABELS = {"collective": "Tập thể", "individual": "Cá nhân"}
OCCASION_LABELS = {"round": "Sơ kết đợt", "year_end": "Tổng kết năm", "ad_hoc": "Đột xuất"}
SCOPE_LABELS = {"comprehensive": "toàn diện", "thematic": "chuyên đề", "none": ""}

ALL_SUBJECTS: tuple[Subject, ...] = ("collective", "individual")


class DossierItem(Strict):
    """One document of a nomination file (hồ sơ)."""

    code: Code
    name: str
    needs_vote: bool = False  # the minutes must carry the vote result (votes for / members present)
    from_batch: bool = False  # provided by the tờ trình number of the batch that carries the nomination


class EvidenceRequirement(Strict):
    """One file of the award's dossier checklist (hồ sơ minh chứng) that units attach to a nomination."""

    item: Code  # a dossier_items code
    required: bool = True  # the nomination cannot be forwarded (or decided) while it is missing
    subjects: list[Subject] | None = None  # default: every subject the award is for


class HistoryRule(Strict):
    """A rule on a person's award history (individuals of the persons register):
    prior_awards  — got one of `awards` in at least `at_least` of the last `within_years` years;
    not_repeated  — did not get this same form in the last `within_years` years (default: last year)."""

    kind: Literal["prior_awards", "not_repeated"]
    awards: list[Code] | None = None
    at_least: int = Field(default=1, ge=1)
    within_years: int = Field(default=1, ge=1, le=20)
    title: str = ""

    @model_validator(mode="after")
    def _parameters(self) -> "HistoryRule":
        if self.kind == "prior_awards" and not self.awards:
            raise ValueError("quy tắc 'prior_awards' cần 'awards' (các hình thức được tính)")
        if self.kind == "prior_awards" and self.at_least > self.within_years:
            raise ValueError("'at_least' không được lớn hơn 'within_years'")
        if self.kind == "not_repeated" and self.awards:
            raise ValueError("'awards' chỉ dùng cho quy tắc 'prior_awards'")
        return self


class Criterion(Strict):
    """One eligibility condition over data the engine has."""

    kind: CriterionKind
    subjects: list[Subject] | None = None  # default: every subject the award is for
    occasions: list[Occasion] | None = None  # default: every occasion
    at_least: str | None = None  # year_end_rating: the lowest rating that qualifies
    min_percent: float | None = Field(default=None, gt=0, le=100)  # council_vote: share of votes for
    top: int | None = Field(default=None, ge=1, le=50)  # cluster_rank: only the first `top` of the cụm/khối ranking
    levels: list[Code] | None = None  # cluster_rank: nominees of these levels only (default: every level)

    @model_validator(mode="after")
    def _parameters(self) -> "Criterion":
        if self.kind == "year_end_rating" and not self.at_least:
            raise ValueError("tiêu chuẩn 'year_end_rating' cần 'at_least' (mức xếp loại thấp nhất được xét)")
        if self.kind != "year_end_rating" and self.at_least is not None:
            raise ValueError("'at_least' chỉ dùng cho tiêu chuẩn 'year_end_rating'")
        if self.kind == "council_vote" and self.min_percent is None:
            raise ValueError("tiêu chuẩn 'council_vote' cần 'min_percent' (tỉ lệ phiếu đồng ý tối thiểu)")
        if self.kind != "council_vote" and self.min_percent is not None:
            raise ValueError("'min_percent' chỉ dùng cho tiêu chuẩn 'council_vote'")
        if self.kind == "cluster_rank" and self.top is None:
            raise ValueError("tiêu chuẩn 'cluster_rank' cần 'top' (số đơn vị dẫn đầu cụm/khối được đề nghị)")
        if self.kind != "cluster_rank" and (self.top is not None or self.levels is not None):
            raise ValueError("'top' và 'levels' chỉ dùng cho tiêu chuẩn 'cluster_rank'")
        return self

    def applies(self, subject: str, occasion: str) -> bool:
        return (self.subjects is None or subject in self.subjects) and (
            self.occasions is None or occasion in self.occasions
        )


class Award(Strict):
    """An award form or title."""

    code: Code
    name: str
    kind: AwardKind
    scope: AwardScope = "none"
    decided_by: Code  # level whose council decides
    proposed_by: list[Code] = Field(min_length=1)  # levels whose units may originate a proposal
    subjects: list[Subject] = Field(min_length=1)
    nominee_levels: list[Code] | None = None  # collectives: levels of the units that may receive it
    occasions: list[Occasion] = Field(min_length=1)
    criteria: list[Criterion] = Field(default_factory=list)
    dossier: list[Code] = Field(default_factory=list)
    evidence: list[EvidenceRequirement] = Field(default_factory=list)  # files to attach (checklist)
    history: list[HistoryRule] = Field(default_factory=list)  # individuals: rules on the person's past awards
    bonus: Bonus | None = None  # tiền thưởng (hệ số × lương cơ sở)
    certificate: CertificateLayout | None = None  # default: the catalogue's certificate layout
    note: str = ""

    def evidence_for(self, subject: str) -> list[EvidenceRequirement]:
        return [e for e in self.evidence if e.subjects is None or subject in e.subjects]


class Quota(Strict):
    """At most `max` live proposals of the listed awards per proposer / subtree / campaign, per year or round."""

    code: Code
    title: str  # what is counted, e.g. "đề nghị Bằng khen chuyên đề của Tổng LĐLĐ"
    awards: list[Code] = Field(min_length=1)
    subjects: list[Subject] | None = None
    max: int = Field(ge=0)
    per: Literal["proposer", "subtree", "campaign"]
    level: Code | None = None  # per subtree: the level whose unit's subtree is counted (e.g. ldld_tinh)
    period: Literal["year", "round"] = "year"

    @model_validator(mode="after")
    def _level_for_subtree(self) -> "Quota":
        if self.per == "subtree" and not self.level:
            raise ValueError("hạn mức theo cây đơn vị ('per: subtree') cần 'level'")
        if self.per != "subtree" and self.level:
            raise ValueError("'level' chỉ dùng cho hạn mức 'per: subtree'")
        return self


class ExclusivityRule(Strict):
    code: Code
    kind: Literal["one_award_per_achievement", "comprehensive_or_thematic"]
    title: str
    award_kinds: list[AwardKind] | None = None  # default: every kind
    subjects: list[Subject] | None = None  # default: both
    except_occasions: list[Occasion] = Field(default_factory=list)


class PublicationRule(Strict):
    """Công khai danh sách trước khi quyết định: số ngày, và các cấp quyết định bắt buộc công khai."""

    days: int = Field(default=5, ge=1, le=60)
    required_for: list[Code] = Field(default_factory=list)  # deciding levels that must publish before deciding


class CouncilRule(Strict):
    """Hội đồng thi đua, khen thưởng: số thành viên có mặt tối thiểu và ngưỡng đồng ý, theo % ."""

    quorum_percent: float = Field(default=50, gt=0, le=100)  # members present / members of the council
    quorum_strict: bool = True  # True: more than quorum_percent ("trên 1/2"); False: at least
    threshold_percent: float = Field(default=50, gt=0, le=100)  # votes for / threshold_base
    threshold_strict: bool = True
    threshold_base: Literal["members", "present"] = "members"  # of all members, or of those present
    required_for: list[Code] = Field(default_factory=list)  # deciding levels whose decisions need a passing vote


CertificateFieldName = Literal[
    "ho_ten", "chuc_vu", "don_vi", "hinh_thuc", "thanh_tich", "so_quyet_dinh", "ngay", "nguoi_ky", "dia_danh_ngay"
]


class CertificateField(Strict):
    """Where one text goes on the pre-printed stock: mm from the page's top-left corner (as a ruler reads it)."""

    x_mm: float = Field(ge=0, le=420)
    y_mm: float = Field(ge=0, le=420)
    size: float = Field(default=16, gt=4, le=72)  # points
    bold: bool = False
    align: Literal["left", "center", "right"] = "center"
    max_width_mm: float | None = Field(default=None, gt=0)  # shrink the font to fit


class CertificateLayout(Strict):
    """Giấy khen / Bằng khen printed on pre-printed stock: page and the position of each text."""

    page: Literal["A4", "A3"] = "A4"
    orientation: Literal["landscape", "portrait"] = "landscape"
    place: str = ""  # địa danh before the date, e.g. "Bình Định"
    fields: dict[CertificateFieldName, CertificateField] = Field(default_factory=lambda: _default_fields())


def _default_fields() -> dict[CertificateFieldName, CertificateField]:
    return {
        "hinh_thuc": CertificateField(x_mm=148.5, y_mm=62, size=20, bold=True, max_width_mm=240),
        "ho_ten": CertificateField(x_mm=148.5, y_mm=88, size=26, bold=True, max_width_mm=240),
        "chuc_vu": CertificateField(x_mm=148.5, y_mm=100, size=15),
        "don_vi": CertificateField(x_mm=148.5, y_mm=110, size=15, max_width_mm=240),
        "thanh_tich": CertificateField(x_mm=148.5, y_mm=125, size=14, max_width_mm=240),
        "so_quyet_dinh": CertificateField(x_mm=40, y_mm=180, size=11, align="left"),
        "dia_danh_ngay": CertificateField(x_mm=210, y_mm=150, size=13),
        "nguoi_ky": CertificateField(x_mm=210, y_mm=185, size=15, bold=True),
    }


class Bonus(Strict):
    """Tiền thưởng: multiplier of the base salary (lương cơ sở) at the decision date, per subject."""

    individual: float | None = Field(default=None, ge=0, le=50)
    collective: float | None = Field(default=None, ge=0, le=50)
    note: str = ""


class AwardCatalogue(Strict):
    code: Code
    title: str
    regulation: str
    effective_from: VNDate | None = None
    effective_until: VNDate | None = None
    ratings: list[str] = Field(min_length=1)  # year-end ratings, best first
    dossier_items: list[DossierItem] = Field(default_factory=list)
    evidence_max_mb: float = Field(default=10, gt=0, le=100)  # size limit of one attached file
    publication: PublicationRule = Field(default_factory=PublicationRule)
    certificate: CertificateLayout = Field(default_factory=CertificateLayout)
    council: CouncilRule = Field(default_factory=CouncilRule)
    awards: list[Award] = Field(min_length=1)
    quotas: list[Quota] = Field(default_factory=list)
    exclusivity: list[ExclusivityRule] = Field(default_factory=list)
    # Where a returned file goes: the unit that sent it up (which fixes it or passes it down, and whose
    # resubmission climbs back through it), or straight to the proposing unit.
    return_to: Literal["sender", "proposer"] = "sender"

    def award(self, code: str) -> Award | None:
        return next((a for a in self.awards if a.code == code), None)

    def dossier_item(self, code: str) -> DossierItem | None:
        return next((d for d in self.dossier_items if d.code == code), None)

    def quotas_for(self, award_code: str, subject: str) -> list[Quota]:
        return [q for q in self.quotas if award_code in q.awards and (q.subjects is None or subject in q.subjects)]


Loc = tuple[object, ...]


def catalogue_problems(catalogue: AwardCatalogue, levels_top_down: Sequence[str]) -> list[tuple[Loc, str]]:
    """Rules spanning fields and files: unknown award, dossier and level codes; a proposing level above the
    deciding one; a rating threshold missing from the rating scale."""
    problems: list[tuple[Loc, str]] = []
    rank = {code: i for i, code in enumerate(levels_top_down)}
    known_levels = ", ".join(levels_top_down)

    def check_level(loc: Loc, code: str) -> bool:
        if code not in rank:
            problems.append((loc, f"không có cấp '{code}' (các cấp: {known_levels})"))
            return False
        return True

    def duplicates(items: Sequence[object], key: str, loc: str, what: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            code = getattr(item, key)
            if code in seen:
                problems.append(((loc, i, key), f"mã {what} bị trùng: '{code}'"))
            seen.add(code)

    duplicates(catalogue.awards, "code", "awards", "hình thức khen thưởng")
    duplicates(catalogue.dossier_items, "code", "dossier_items", "hồ sơ")
    duplicates(catalogue.quotas, "code", "quotas", "hạn mức")
    duplicates(catalogue.exclusivity, "code", "exclusivity", "quy tắc")
    if len(set(catalogue.ratings)) != len(catalogue.ratings):
        problems.append((("ratings",), "thang xếp loại có mức bị trùng"))
    if catalogue.effective_from and catalogue.effective_until and catalogue.effective_from > catalogue.effective_until:
        problems.append((("effective_until",), "ngày hết hiệu lực trước ngày có hiệu lực"))

    dossier_codes = {d.code for d in catalogue.dossier_items}
    award_codes = {a.code for a in catalogue.awards}
    for i, award in enumerate(catalogue.awards):
        loc: Loc = ("awards", i)
        decides_ok = check_level(loc + ("decided_by",), award.decided_by)
        for j, level in enumerate(award.proposed_by):
            if check_level(loc + ("proposed_by", j), level) and decides_ok and rank[level] < rank[award.decided_by]:
                problems.append(
                    (
                        loc + ("proposed_by", j),
                        f"cấp '{level}' cao hơn cấp quyết định '{award.decided_by}': không thể đề nghị lên cấp dưới",
                    )
                )
        for j, level in enumerate(award.nominee_levels or []):
            check_level(loc + ("nominee_levels", j), level)
        for j, criterion in enumerate(award.criteria):
            for k, level in enumerate(criterion.levels or []):  # cluster_rank: nominees of these levels
                check_level(loc + ("criteria", j, "levels", k), level)
            if criterion.kind == "cluster_rank" and "collective" not in award.subjects:
                problems.append((loc + ("criteria", j, "kind"), "'cluster_rank' chỉ dùng cho hình thức khen tập thể"))
        if award.nominee_levels is not None and "collective" not in award.subjects:
            problems.append((loc + ("nominee_levels",), "'nominee_levels' chỉ dùng cho hình thức khen tập thể"))
        if len(set(award.subjects)) != len(award.subjects):
            problems.append((loc + ("subjects",), "đối tượng bị trùng"))
        for j, item in enumerate(award.dossier):
            if item not in dossier_codes:
                problems.append((loc + ("dossier", j), f"không có hồ sơ '{item}' trong 'dossier_items'"))
        for j, requirement in enumerate(award.evidence):
            if requirement.item not in dossier_codes:
                problems.append(
                    (loc + ("evidence", j, "item"), f"không có hồ sơ '{requirement.item}' trong 'dossier_items'")
                )
            for k, subject in enumerate(requirement.subjects or []):
                if subject not in award.subjects:
                    problems.append(
                        (loc + ("evidence", j, "subjects", k), f"hình thức này không khen đối tượng '{subject}'")
                    )
        for j, rule in enumerate(award.history):
            for k, code in enumerate(rule.awards or []):
                if code not in award_codes:
                    problems.append(
                        (loc + ("history", j, "awards", k), f"không có hình thức khen thưởng '{code}' trong danh mục")
                    )
        if award.history and "individual" not in award.subjects:
            problems.append((loc + ("history",), "quy tắc lịch sử khen thưởng chỉ dùng cho hình thức khen cá nhân"))
        for j, criterion in enumerate(award.criteria):
            if criterion.at_least is not None and criterion.at_least not in catalogue.ratings:
                problems.append(
                    (loc + ("criteria", j, "at_least"), f"mức xếp loại '{criterion.at_least}' không có trong 'ratings'")
                )
            for k, subject in enumerate(criterion.subjects or []):
                if subject not in award.subjects:
                    problems.append(
                        (loc + ("criteria", j, "subjects", k), f"hình thức này không khen đối tượng '{subject}'")
                    )
            for k, occasion in enumerate(criterion.occasions or []):
                if occasion not in award.occasions:
                    problems.append(
                        (loc + ("criteria", j, "occasions", k), f"hình thức này không xét dịp '{occasion}'")
                    )
    for key in ("publication", "council"):
        for j, level in enumerate(getattr(catalogue, key).required_for):
            check_level((key, "required_for", j), level)
    for i, quota in enumerate(catalogue.quotas):
        for j, code in enumerate(quota.awards):
            if code not in award_codes:
                problems.append((("quotas", i, "awards", j), f"không có hình thức khen thưởng '{code}' trong danh mục"))
        if quota.level:
            check_level(("quotas", i, "level"), quota.level)
        if quota.period == "round":
            for code in quota.awards:
                quota_award = catalogue.award(code)
                if quota_award is not None and "round" not in quota_award.occasions:
                    problems.append((("quotas", i, "period"), f"hạn mức theo đợt nhưng '{code}' không xét sơ kết đợt"))
    return problems


def _levels_from_file(path: Path) -> list[str]:
    doc = parse_yaml(decode_text(path.read_bytes(), str(path)), str(path))
    levels = doc.data.get("levels") if isinstance(doc.data, dict) else None
    if not isinstance(levels, list):
        raise SpecError([Problem(str(path), 1, "levels", "tệp cấp công đoàn cần danh sách 'levels'")])
    return [str(item["code"]) for item in levels if isinstance(item, dict) and "code" in item]


def default_levels_file(catalogue_path: Path) -> Path:
    """config/levels.yaml beside the catalogue's config folder, else the repository's."""
    beside = catalogue_path.resolve().parent.parent / "levels.yaml"
    if beside.exists():
        return beside
    return Path(__file__).resolve().parents[2] / "config" / "levels.yaml"


def validate_catalogue_text(text: str, file: str, levels_top_down: Sequence[str]) -> AwardCatalogue:
    doc: SourceDoc = parse_yaml(text, file)
    catalogue = validate_doc(doc, AwardCatalogue)
    problems = [doc.problem(loc, message) for loc, message in catalogue_problems(catalogue, levels_top_down)]
    if problems:
        raise SpecError(problems)
    return catalogue


def validate_catalogue_file(path: Path, levels_top_down: Sequence[str] | None = None) -> AwardCatalogue:
    """Read and validate a catalogue. Levels default to config/levels.yaml (top first)."""
    path = Path(path)
    if levels_top_down is None:
        levels_top_down = _levels_from_file(default_levels_file(path))
    return validate_catalogue_text(decode_text(path.read_bytes(), str(path)), str(path), list(levels_top_down))
