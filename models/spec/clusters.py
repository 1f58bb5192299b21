"""Cluster scoring of a campaign (chấm điểm, xếp hạng trong cụm/khối thi đua): the criteria each member of a
cụm/khối is scored on, declared in the campaign file under `cluster_scoring`. The ranking the cluster head
submits backs the Cờ thi đua proposals (award criterion `cluster_rank` in the catalogue)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from thidua.models.spec.common import Code, ObligationRef, Strict


class ScoringCriterion(Strict):
    """One scored criterion. Points = weight × value, where value is:
    field   — the member's own reported figure `field`, summed over `obligations` (the reports that count);
              `over: subtree` sums its whole subtree's reports (a district with its CĐCS);
    rating  — `points[rating]` of the year-end rating `field` (assessment self: the unit's own; appraisal: the
              rating its reviewer gave; appraisal_or_self: the reviewer's, else the unit's own, as the award
              criterion year_end_rating reads it);
    target  — 1 for each of `targets` whose breakdown row for the member is achieved (chỉ tiêu đạt)."""

    code: Code
    title: str
    source: Literal["field", "rating", "target"]
    obligations: list[ObligationRef] = Field(default_factory=list)
    field: Code | None = None
    over: Literal["unit", "subtree"] = "unit"
    assessment: Literal["self", "appraisal", "appraisal_or_self"] = "self"
    points: dict[str, float] = Field(default_factory=dict)
    targets: list[Code] = Field(default_factory=list)
    weight: float = Field(default=1, ge=0, le=1000)

    @model_validator(mode="after")
    def _parameters(self) -> "ScoringCriterion":
        if self.source in ("field", "rating") and (not self.obligations or not self.field):
            raise ValueError(f"tiêu chí nguồn '{self.source}' cần 'obligations' và 'field'")
        if self.source == "rating" and not self.points:
            raise ValueError("tiêu chí nguồn 'rating' cần 'points' (điểm của từng mức xếp loại)")
        if self.source != "rating" and (self.points or self.assessment != "self"):
            raise ValueError("'points' và 'assessment' chỉ dùng cho nguồn 'rating'")
        if self.source == "target" and not self.targets:
            raise ValueError("tiêu chí nguồn 'target' cần 'targets' (mã các chỉ tiêu)")
        if self.source != "target" and self.targets:
            raise ValueError("'targets' chỉ dùng cho nguồn 'target'")
        return self


class ClusterScoring(Strict):
    """How the members of each cụm/khối are scored in this campaign; ties: `tie_break` criteria in order, then
    the order voted at the cluster's meeting (biên bản họp cụm), else the same rank (đồng hạng)."""

    assumption: str | None = None
    criteria: list[ScoringCriterion] = Field(min_length=1)
    tie_break: list[Code] = Field(default_factory=list)

    @model_validator(mode="after")
    def _codes(self) -> "ClusterScoring":
        codes = [c.code for c in self.criteria]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"mã tiêu chí chấm điểm trùng: {', '.join(repeated)}")
        unknown = [c for c in self.tie_break if c not in codes]
        if unknown:
            raise ValueError(f"'tie_break' nêu tiêu chí không có: {', '.join(unknown)}")
        return self
