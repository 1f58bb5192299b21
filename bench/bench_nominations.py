"""Benchmark: award nominations proposed and moved through three reviewing levels, side by side with the same
workload in SpiffWorkflow running an equivalent BPMN approval process (bench/nomination_approval.bpmn).

Workload (defaults: 10 provinces × 20 districts × 50 CĐCS = 10,000 nominations): every CĐCS proposes one
member for the Bằng khen of the Tổng LĐLĐ and sends its list under a tờ trình; each district approves its
CĐCS' files and sends its list; each province approves and sends; the Tổng LĐLĐ decides each province's list.
Seven durable state changes per nomination in thidua (propose, send, approve, send, approve, send, decide),
each with its step row, audit row and e-mail to the proposer in the same transaction, every eligibility
and quota rule checked. A sample of reviewer actions is also run one nomination per call (interactive).

SpiffWorkflow runs the four user tasks of the BPMN process per nomination (propose, district review,
province review, decision): (a) in memory only, (b) persisting the serialized workflow to SQLite after
every task (one transaction each, as an engine that survives restarts must), (c) persisting once per level
in one executemany (the batching thidua uses).

    /work/venv/bin/python bench/bench_nominations.py [--provinces 10 --districts 20 --cdcs 50]
                                                      [--database-url URL] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import re
import math
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from thidua.models.awards import DossierEntry  # noqa: E402
from thidua.models.clock import utcnow  # noqa: E402
from thidua.models.tables import Campaign, Level, ObligationDef, Unit  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from sqlmodel import Session  # noqa: E402
from thidua.services import nominations as nom  # noqa: E402

BPMN = Path(__file__).resolve().parent / "nomination_approval.bpmn"
AWARD = "bang-khen-tld"
PROPOSE_AT = datetime(2023, 11, 10, 9)
DISTRICTS_AT = datetime(2023, 12, 2, 9)
PROVINCES_AT = datetime(2023, 12, 12, 9)
DECIDE_AT = datetime(2024, 1, 10, 9)
LEVELS = [
    ("tong_ldld", "Tổng LĐLĐ"),
    ("ldld_tinh", "LĐLĐ tỉnh"),
    ("cap_tren_truc_tiep", "CĐ cấp trên trực tiếp"),
    ("cdcs", "CĐCS"),
]


@dataclass
class Phase:
    name: str
    transitions: int
    seconds: float
    calls: int
    latencies_ms: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        out = {
            "phase": self.name,
            "transitions": self.transitions,
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "ms_per_transition": round(1000 * self.seconds / max(self.transitions, 1), 3),
        }
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["p50_ms_per_call"] = round(statistics.median(ordered), 2)
            out["p95_ms_per_call"] = round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 2)
        return out


@dataclass
class Tree:
    tld: int
    provinces: list[int]
    districts: dict[int, list[int]]  # province -> districts
    cdcs: dict[int, list[int]]  # district -> CĐCS


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def bench_catalogue(folder: Path) -> Path:
    """The 2019 catalogue with the national per-province quota raised to fit the synthetic provinces (the
    quota is still counted on every proposal and forward)."""
    text = (REPO / "config" / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8")
    text = text.replace("awards: [bang-khen-tld]\n    max: 10", "awards: [bang-khen-tld]\n    max: 100000")
    # The individuals here are not in the persons register: no award-history rule (added after this bench).
    text = re.sub(r"    history:[^\n]*\n(?:      [^\n]*\n)*", "", text)
    path = folder / "awards" / "bench.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def build(engine: Engine, catalogue: Path, provinces: int, districts: int, cdcs: int) -> tuple[int, Tree]:
    """Levels, units (explicit ids, so paths are computed here), a campaign and its year-end window, with Core."""
    rows: list[dict[str, Any]] = []
    next_id = iter(range(1, 10_000_000))

    def unit(code: str, name: str, level: str, parent: dict[str, Any] | None) -> dict[str, Any]:
        unit_id = next(next_id)
        path = (parent["path"] if parent else "") + f"{unit_id:08d}."
        row = {
            "id": unit_id,
            "code": code,
            "name": name,
            "level_code": level,
            "parent_id": parent["id"] if parent else None,
            "path": path,
            "depth": path.count(".") - 1,
            "sector": None,
            "emails": [f"{code.lower()}@example.vn"],
            "active": True,
            "cluster": None,
            "updated_at": utcnow(),
        }
        rows.append(row)
        return row

    top = unit("TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld", None)
    tree = Tree(top["id"], [], {}, {})
    for p in range(1, provinces + 1):
        province = unit(f"P{p}", f"LĐLĐ tỉnh {p}", "ldld_tinh", top)
        tree.provinces.append(province["id"])
        tree.districts[province["id"]] = []
        for d in range(1, districts + 1):
            district = unit(f"P{p}.D{d}", f"LĐLĐ huyện {p}-{d}", "cap_tren_truc_tiep", province)
            tree.districts[province["id"]].append(district["id"])
            tree.cdcs[district["id"]] = [
                unit(f"P{p}.D{d}.{k}", f"CĐCS {p}-{d}-{k}", "cdcs", district)["id"] for k in range(1, cdcs + 1)
            ]
    with engine.begin() as conn:
        conn.execute(
            insert(Level), [{"code": c, "name": n, "short_name": n, "rank": i} for i, (c, n) in enumerate(LEVELS)]
        )
        conn.execute(insert(Unit), rows)
        spec = {
            "awards": {
                "catalogue": str(catalogue),
                "review_days_per_level": {"cap_tren_truc_tiep": 10, "ldld_tinh": 15, "tong_ldld": 30},
            }
        }
        campaign_id = conn.execute(
            insert(Campaign).returning(Campaign.id),
            {  # type: ignore[arg-type]
                "code": "bench",
                "title": "Thi đua toàn quốc (benchmark)",
                "theme": "",
                "year": 2023,
                "timezone": "Asia/Ho_Chi_Minh",
                "issuing_unit_id": top["id"],
                "root_unit_id": top["id"],
                "owner_department": "Ban Thi đua",
                "owner_email": "thidua@example.vn",
                "starts_on": date(2023, 1, 1),
                "ends_on": date(2023, 12, 31),
                "status": "active",
                "source_file": "",
                "source_hash": "",
                "spec": spec,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            },
        ).scalar_one()
        conn.execute(
            insert(ObligationDef),
            {
                "campaign_id": campaign_id,
                "code": "de-xuat-nam",
                "kind": "nomination_window",
                "title": "Đề xuất khen thưởng năm",
                "round_number": None,
                "opens_on": date(2023, 11, 1),
                "due_on": date(2023, 11, 30),
                "levels": ["cdcs"],
                "sectors": [],
                "reviewer": "parent",
                "ladder": None,
                "definition": {},
                "active": True,
            },
        )
    return campaign_id, tree


DOSSIER = {
    "bao-cao-thanh-tich": DossierEntry("BC/CĐCS"),
    "bien-ban-hoi-dong": DossierEntry("BB/CĐCS", 9, 11),
    "danh-sach-trich-ngang": DossierEntry("DS/CĐCS"),
}


def no_rating(session, campaign_id: int, unit_id: int) -> str | None:  # noqa: ANN001
    raise AssertionError("individual Bằng khen of the Tổng LĐLĐ asks no year-end rating")


# ---------------------------------------------------------------------------------------------------
# thidua
# ---------------------------------------------------------------------------------------------------
def timed(name: str, transitions: int, calls: list[Callable[[], object]]) -> Phase:
    latencies = []
    started = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        call()
        latencies.append(1000 * (time.perf_counter() - t0))
    return Phase(name, transitions, time.perf_counter() - started, len(calls), latencies)


def run_thidua(engine: Engine, campaign_id: int, tree: Tree, interactive_sample: int) -> list[Phase]:
    phases = []
    cdcs_ids = [c for district in tree.cdcs.values() for c in district]

    def propose(unit_id: int, k: int) -> Callable[[], object]:
        proposal = nom.ProposalInput(
            AWARD,
            "individual",
            unit_id,
            "Hoàn thành xuất sắc nhiệm vụ năm 2023",
            person_name=f"Đoàn viên {k}",
            person_position="Tổ trưởng",
            dossier=DOSSIER,
        )
        return lambda: nom.propose(
            engine,
            campaign_id,
            nom.Actor(unit_id, f"cdcs{k}@example.vn"),
            [proposal],
            send=nom.DocumentRef(f"{k}/TTr-CĐCS", PROPOSE_AT.date()),
            rating=no_rating,
            now=PROPOSE_AT,
        )

    phases.append(
        timed(
            "CĐCS: đề nghị + gửi tờ trình (1 lần gọi / CĐCS)",
            2 * len(cdcs_ids),
            [propose(unit_id, k) for k, unit_id in enumerate(cdcs_ids, start=1)],
        )
    )

    districts = [d for province in tree.provinces for d in tree.districts[province]]
    queues = {d: [v.id for v in nom.reviewer_queue(engine, campaign_id, d)] for d in districts}
    sample_district = districts[0]
    sample = queues[sample_district][:interactive_sample]
    phases.append(
        timed(
            "Huyện: duyệt từng đề nghị (mẫu, 1 lần gọi / đề nghị)",
            len(sample),
            [
                lambda i=i: nom.approve(
                    engine,
                    campaign_id,
                    [i],
                    nom.Actor(sample_district, "huyen@x"),
                    expected_versions={i: 3},
                    rating=no_rating,
                    now=DISTRICTS_AT,
                )
                for i in sample
            ],
        )
    )
    rest = {d: [i for i in ids if i not in set(sample)] for d, ids in queues.items()}
    phases.append(
        timed(
            "Huyện: duyệt cả danh sách (1 lần gọi / huyện)",
            sum(len(v) for v in rest.values()),
            [
                lambda d=d: nom.approve(
                    engine, campaign_id, rest[d], nom.Actor(d, "huyen@x"), rating=no_rating, now=DISTRICTS_AT
                )
                for d in districts
                if rest[d]
            ],
        )
    )
    phases.append(
        timed(
            "Huyện: gửi danh sách lên tỉnh (1 lần gọi / huyện)",
            len(cdcs_ids),
            [
                lambda d=d: nom.send_batch(
                    engine,
                    campaign_id,
                    nom.Actor(d, "huyen@x"),
                    to_trinh=nom.DocumentRef(f"{d}/TTr-LĐLĐ", DISTRICTS_AT.date()),
                    rating=no_rating,
                    now=DISTRICTS_AT,
                )
                for d in districts
            ],
        )
    )
    province_queues = {p: [v.id for v in nom.reviewer_queue(engine, campaign_id, p)] for p in tree.provinces}
    phases.append(
        timed(
            "Tỉnh: duyệt cả danh sách (1 lần gọi / tỉnh)",
            len(cdcs_ids),
            [
                lambda p=p: nom.approve(
                    engine, campaign_id, province_queues[p], nom.Actor(p, "tinh@x"), rating=no_rating, now=PROVINCES_AT
                )
                for p in tree.provinces
            ],
        )
    )
    batches = {}
    phases.append(
        timed(
            "Tỉnh: gửi danh sách lên Tổng LĐLĐ (1 lần gọi / tỉnh)",
            len(cdcs_ids),
            [
                lambda p=p: batches.__setitem__(
                    p,
                    nom.send_batch(
                        engine,
                        campaign_id,
                        nom.Actor(p, "tinh@x"),
                        to_trinh=nom.DocumentRef(f"{p}/TTr-LĐLĐ", PROVINCES_AT.date()),
                        rating=no_rating,
                        now=PROVINCES_AT,
                    ).batch_id,
                )
                for p in tree.provinces
            ],
        )
    )
    phases.append(
        timed(
            "Tổng LĐLĐ: quyết định theo danh sách (1 lần gọi / tỉnh)",
            len(cdcs_ids),
            [
                lambda p=p: nom.decide(
                    engine,
                    campaign_id,
                    nom.Actor(tree.tld, "tld@x"),
                    nom.Decision(f"{p}/QĐ-TLĐ", DECIDE_AT.date(), "Chủ tịch"),
                    batch_id=batches[p],
                    now=DECIDE_AT,
                )
                for p in tree.provinces
            ],
        )
    )
    decided = nom.list_nominations(engine, campaign_id, statuses=["decided"], limit=None)
    assert len(decided) == len(cdcs_ids), f"{len(decided)} of {len(cdcs_ids)} decided"
    return phases


# ---------------------------------------------------------------------------------------------------
# Proposal cost against the number of existing nominations (issue 17)
# ---------------------------------------------------------------------------------------------------
def _load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def proposal_scaling(engine: Engine, campaign_id: int, tree: Tree, sizes: list[int], calls: int, repeats: int) -> None:
    """Single proposals (one call each, not sent) by CĐCS of province 1 while the campaign already holds
    `size` live nominations of the same award in that province (inserted with Core: copies of a real one).
    Beside each figure: the same proposals with the quota recounted on every call (the behaviour before the
    counters), and the floor — the bare INSERTs one proposal writes (nomination, step, audit row) in one
    transaction, no rule checked."""
    from sqlalchemy import delete, func, select

    from thidua.models.nominations import Nomination, NominationStep
    from thidua.models.tables import AuditLog

    N_ = Nomination.__table__  # type: ignore[attr-defined]
    S_ = NominationStep.__table__  # type: ignore[attr-defined]
    A_ = AuditLog.__table__  # type: ignore[attr-defined]
    province = tree.provinces[0]
    cdcs = [c for d in tree.districts[province] for c in tree.cdcs[d]]
    proposers = iter(cdcs)

    def proposal(unit_id: int, k: int) -> nom.ProposalInput:
        return nom.ProposalInput(
            AWARD,
            "individual",
            unit_id,
            "Hoàn thành xuất sắc nhiệm vụ năm 2023",
            person_name=f"Đoàn viên {k}",
            person_position="Tổ trưởng",
            dossier=DOSSIER,
        )

    first = next(proposers)
    nom.propose(
        engine, campaign_id, nom.Actor(first, "cdcs@example.vn"), [proposal(first, 0)], rating=no_rating, now=PROPOSE_AT
    )
    with engine.connect() as conn:
        template = dict(conn.execute(select(N_)).mappings().first())
    template.pop("id")
    existing = 1
    # `propose` looks the counter read up in the rules module: patch it there (patching the package re-export
    # silently measured the counters twice).
    from thidua.services.nominations import rules as nomination_rules

    fresh_count = nomination_rules._live_counts
    recount = lambda session, ctx, groups, quotas, roots: (  # noqa: E731
        nom._count_live(session, ctx, list(groups), quotas, roots)
    )
    print(
        f"\nChi phí một lần đề nghị (1 lần gọi, không gửi) theo số đề nghị đã có trong tỉnh; {calls} lần gọi mỗi phép đo, "
        f"trung vị của {repeats} lần đo; tải máy {_load_avg()}"
    )
    for size in sizes:
        rows = []
        for k in range(existing, size):
            unit_id = cdcs[k % len(cdcs)]
            rows.append(
                {
                    **template,
                    "nominee_unit_id": unit_id,
                    "origin_unit_id": unit_id,
                    "current_unit_id": unit_id,
                    "nominee_name": f"Đoàn viên có sẵn {k}",
                    "nominee_key": f"bench-existing-{k}",
                }
            )
        if rows:
            with engine.begin() as conn:
                for start in range(0, len(rows), 5000):
                    conn.execute(insert(N_), rows[start : start + 5000])
        existing = max(existing, size)
        runs: dict[str, list[float]] = {"counters": [], "recount": [], "floor": []}
        cpu: dict[str, list[float]] = {"counters": [], "recount": []}  # this process's CPU (SQLite: all of it)
        for _ in range(repeats):
            for mode in ("counters", "recount"):
                nomination_rules._live_counts = fresh_count if mode == "counters" else recount  # type: ignore[assignment]
                count = calls if mode == "counters" else max(3, calls // 5)  # recounting 50,000 is slow
                batch = [next(proposers) for _ in range(count)]
                started, cpu_started = time.perf_counter(), time.process_time()
                made = [
                    nom.propose(
                        engine,
                        campaign_id,
                        nom.Actor(u, "cdcs@example.vn"),
                        [proposal(u, i)],
                        rating=no_rating,
                        now=PROPOSE_AT,
                    ).nomination_ids[0]
                    for i, u in enumerate(batch)
                ]
                runs[mode].append(1000 * (time.perf_counter() - started) / count)
                cpu[mode].append(1000 * (time.process_time() - cpu_started) / count)
                with engine.begin() as conn:  # back to `size` live nominations (and their counter)
                    conn.execute(delete(S_).where(S_.c.nomination_id.in_(made)))
                    conn.execute(delete(N_).where(N_.c.id.in_(made)))
                nomination_rules._live_counts = fresh_count  # type: ignore[assignment]
                with Session(engine) as session:  # the rows went behind the counters' back: count again, untimed
                    session.execute(nom.QC.delete())
                    session.commit()
                warm = next(proposers)
                nom.propose(
                    engine,
                    campaign_id,
                    nom.Actor(warm, "cdcs@example.vn"),
                    [proposal(warm, -1)],
                    rating=no_rating,
                    now=PROPOSE_AT,
                )
            started = time.perf_counter()
            floor_ids = []
            for i in range(calls):
                with engine.begin() as conn:
                    nid = conn.execute(
                        insert(N_).returning(N_.c.id), {**template, "nominee_key": f"floor-{i}"}
                    ).scalar_one()
                    conn.execute(
                        insert(S_),
                        {
                            "nomination_id": nid,
                            "seq": 1,
                            "action": "propose",
                            "from_status": "draft",
                            "to_status": "proposed",
                            "at_unit_id": first,
                            "to_unit_id": first,
                            "actor": "x",
                            "at": utcnow(),
                            "comment": "",
                        },
                    )
                    conn.execute(
                        insert(A_),
                        {
                            "at": utcnow(),
                            "actor": "x",
                            "action": "nomination.propose",
                            "entity": "nomination",
                            "entity_id": str(nid),
                            "before": None,
                            "after": {"status": "proposed"},
                            "note": "",
                        },
                    )
                floor_ids.append(nid)
            runs["floor"].append(1000 * (time.perf_counter() - started) / calls)
            with engine.begin() as conn:
                conn.execute(delete(S_).where(S_.c.nomination_id.in_(floor_ids)))
                conn.execute(delete(N_).where(N_.c.id.in_(floor_ids)))
        with engine.connect() as conn:
            live = conn.execute(select(func.count()).select_from(N_)).scalar_one()
        med = {k: statistics.median(v) for k, v in runs.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        print(
            f"  {live:>7,} đề nghị có sẵn: {med['counters']:6.2f} ms/đề nghị với bộ đếm hạn mức "
            f"(đếm lại mỗi lần: {med['recount']:6.2f} ms; sàn — chỉ các lệnh INSERT trần: {med['floor']:5.2f} ms); "
            f"CPU tiến trình {med_cpu['counters']:.2f} ms (đếm lại {med_cpu['recount']:.2f} ms)  "
            f"[từng lần: {', '.join(f'{x:.2f}' for x in runs['counters'])} | "
            f"{', '.join(f'{x:.2f}' for x in runs['recount'])} | {', '.join(f'{x:.2f}' for x in runs['floor'])}]; "
            f"tải {_load_avg()}".replace(",", "."),
            flush=True,
        )


# ---------------------------------------------------------------------------------------------------
# SpiffWorkflow
# ---------------------------------------------------------------------------------------------------
def run_spiff(count: int, folder: Path) -> list[Phase]:
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("de_nghi_khen_thuong")
    serializer = BpmnWorkflowSerializer()
    steps = [
        ("de_nghi", {"ho_ten": "Đoàn viên", "thanh_tich": "Hoàn thành xuất sắc"}),
        ("xet_huyen", {"ket_qua": "duyet"}),
        ("xet_tinh", {"ket_qua": "duyet"}),
        ("quyet_dinh_tld", {"ket_qua": "khen", "so_quyet_dinh": "1/QĐ-TLĐ"}),
    ]

    def complete(workflow: BpmnWorkflow, name: str, data: dict[str, Any]) -> None:
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert task.task_spec.name == name
        task.data.update(data)
        task.run()
        workflow.do_engine_steps()

    def start() -> list[BpmnWorkflow]:
        workflows = []
        for _ in range(count):
            workflow = BpmnWorkflow(spec)
            workflow.do_engine_steps()
            workflows.append(workflow)
        return workflows

    phases = []
    workflows = start()
    started = time.perf_counter()
    for name, data in steps:
        for workflow in workflows:
            complete(workflow, name, data)
    phases.append(Phase("SpiffWorkflow trong bộ nhớ (không lưu)", 4 * count, time.perf_counter() - started, 4 * count))
    assert all(w.is_completed() for w in workflows)

    for batched in (False, True):
        db = sqlite3.connect(folder / f"spiff_{int(batched)}.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE workflow (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
        workflows = start()
        with db:
            db.executemany(
                "INSERT INTO workflow (id, state) VALUES (?, ?)",
                [(i, serializer.serialize_json(w)) for i, w in enumerate(workflows)],
            )
        started = time.perf_counter()
        for name, data in steps:
            if batched:
                for workflow in workflows:
                    complete(workflow, name, data)
                with db:
                    db.executemany(
                        "UPDATE workflow SET state = ? WHERE id = ?",
                        [(serializer.serialize_json(w), i) for i, w in enumerate(workflows)],
                    )
            else:
                for i, workflow in enumerate(workflows):
                    complete(workflow, name, data)
                    with db:
                        db.execute(
                            "UPDATE workflow SET state = ? WHERE id = ?", (serializer.serialize_json(workflow), i)
                        )
        label = (
            "SpiffWorkflow + lưu SQLite theo cấp (1 executemany / bước)"
            if batched
            else "SpiffWorkflow + lưu SQLite sau mỗi bước (1 giao dịch / bước)"
        )
        phases.append(Phase(label, 4 * count, time.perf_counter() - started, 4 * count))
        db.close()
    return phases


# ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provinces", type=int, default=10)
    parser.add_argument("--districts", type=int, default=20, help="per province")
    parser.add_argument("--cdcs", type=int, default=50, help="per district")
    parser.add_argument("--interactive-sample", type=int, default=50, help="reviewer actions run one per call")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a SQLite file in a temporary folder; a PostgreSQL URL gets a fresh schema, dropped afterwards",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--scaling",
        default=None,
        metavar="SIZES",
        help="only the proposal cost at these numbers of existing nominations, e.g. 1000,50000",
    )
    parser.add_argument("--calls", type=int, default=100, help="--scaling: proposals per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="--scaling: measurements per size (median)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench_nominations_"))
    schema = None
    if args.database_url and args.database_url.startswith("postgresql"):  # a fresh schema, dropped at the end
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with make_engine(args.database_url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(f"{args.database_url}?options=-csearch_path%3D{schema}")
    else:
        engine = make_engine(args.database_url or f"sqlite:///{folder / 'thidua.db'}")
    create_schema(engine)
    t0 = time.perf_counter()
    campaign_id, tree = build(engine, bench_catalogue(folder), args.provinces, args.districts, args.cdcs)
    count = args.provinces * args.districts * args.cdcs
    print(
        f"{count} đề nghị; {args.provinces} tỉnh × {args.districts} huyện × {args.cdcs} CĐCS; CSDL {engine.url.drivername}; "
        f"dựng dữ liệu {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    if args.scaling:
        proposal_scaling(engine, campaign_id, tree, [int(x) for x in args.scaling.split(",")], args.calls, args.repeats)
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
        if schema:
            admin = make_engine(args.database_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        return
    thidua = run_thidua(engine, campaign_id, tree, args.interactive_sample)
    total = sum(p.seconds for p in thidua)
    durable = sum(p.transitions for p in thidua)
    spiff = run_spiff(count, folder)

    rows = [p.row() for p in thidua]
    print(
        "\nthidua (mỗi chuyển trạng thái: UPDATE có kiểm tra phiên bản + bước + nhật ký + thư, kiểm tra tiêu chuẩn/hạn mức)"
    )
    for row in rows:
        extra = (
            f"  p50 {row['p50_ms_per_call']} ms, p95 {row['p95_ms_per_call']} ms / lần gọi"
            if "p50_ms_per_call" in row
            else ""
        )
        print(
            f"  {row['phase']:<62} {row['transitions']:>7} chuyển  {row['seconds']:>8.2f} s  "
            f"{row['ms_per_transition']:>7.3f} ms/chuyển{extra}"
        )
    print(
        f"  {'Tổng (7 chuyển trạng thái / đề nghị)':<62} {durable:>7} chuyển  {total:>8.2f} s  "
        f"{1000 * total / durable:>7.3f} ms/chuyển; {1000 * total / count:.2f} ms / đề nghị"
    )
    print("\nSpiffWorkflow 3 (4 user task / đề nghị: đề nghị, huyện xét, tỉnh xét, Tổng LĐLĐ quyết định)")
    for phase in spiff:
        row = phase.row()
        print(
            f"  {row['phase']:<62} {row['transitions']:>7} bước    {row['seconds']:>8.2f} s  "
            f"{row['ms_per_transition']:>7.3f} ms/bước;  {1000 * phase.seconds / count:.2f} ms / đề nghị"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "nominations": count,
                    "database": engine.url.drivername,
                    "thidua": rows,
                    "thidua_total_seconds": round(total, 3),
                    "spiff": [p.row() for p in spiff],
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)  # hundreds of MB at full size
    if schema:
        admin = make_engine(args.database_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
