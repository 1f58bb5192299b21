"""Synthetic unit lists for demos and benchmarks, deterministic for a seed.

Names end in "(giả lập)" and e-mails use *.example.vn domains so that nobody mistakes a generated unit for
a real union. Rows are plain dicts keyed by the ascii CSV headers (CSV_COLUMNS), ready for
`write_units_csv` and for `thidua units import`.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

CSV_COLUMNS = ("ma_don_vi", "ten_don_vi", "cap", "ma_cap_tren", "khu_vuc", "email", "hoat_dong", "cum_thi_dua")
Row = dict[str, str]

_SXKD_KINDS = ("Công ty TNHH", "Công ty Cổ phần", "Chi nhánh Công ty", "Hợp tác xã", "Doanh nghiệp tư nhân")
_DISTRICT_HCSN = ("UBND xã", "Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trung tâm Văn hóa - Thể thao")
INACTIVE_SHARE = 0.02
SECOND_EMAIL_SHARE = 0.4


@dataclass(frozen=True)
class _Superior:
    """A directly-superior union of the Bình Định tree (config/units/binh_dinh.yaml) and its CĐCS mix."""

    code: str
    short: str  # used in cluster names
    weight: int  # relative number of CĐCS
    sxkd_share: float
    hcsn_kinds: tuple[str, ...] = _DISTRICT_HCSN
    sxkd_kinds: tuple[str, ...] = _SXKD_KINDS


BINH_DINH_SUPERIORS = (
    _Superior("BDH.QNH", "Quy Nhơn", 190, 0.6),
    _Superior("BDH.ANH", "An Nhơn", 75, 0.5),
    _Superior("BDH.HNH", "Hoài Nhơn", 80, 0.5),
    _Superior("BDH.ALA", "An Lão", 22, 0.25),
    _Superior("BDH.HAN", "Hoài Ân", 40, 0.3),
    _Superior("BDH.PMY", "Phù Mỹ", 55, 0.4),
    _Superior("BDH.PCA", "Phù Cát", 60, 0.45),
    _Superior("BDH.TSO", "Tây Sơn", 55, 0.4),
    _Superior("BDH.TPH", "Tuy Phước", 55, 0.5),
    _Superior("BDH.VCA", "Vân Canh", 18, 0.25),
    _Superior("BDH.VTH", "Vĩnh Thạnh", 22, 0.25),
    _Superior("BDH.GD", "Giáo dục", 130, 0.03, ("Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trường THPT")),
    _Superior("BDH.YT", "Y tế", 50, 0.05, ("Bệnh viện", "Trung tâm Y tế", "Trung tâm Kiểm soát bệnh tật")),
    _Superior("BDH.CT", "Công Thương", 65, 0.9, ("Trung tâm Khuyến công",)),
    _Superior("BDH.GTVT", "Giao thông vận tải", 30, 0.75, ("Trung tâm Đăng kiểm", "Ban Quản lý dự án")),
    _Superior("BDH.XD", "Xây dựng", 30, 0.75, ("Viện Quy hoạch", "Ban Quản lý dự án")),
    _Superior(
        "BDH.NN",
        "Nông nghiệp và PTNT",
        28,
        0.4,
        ("Chi cục", "Trung tâm Khuyến nông"),
        ("Công ty TNHH Lâm nghiệp", "Hợp tác xã nông nghiệp"),
    ),
    _Superior("BDH.VC", "Viên chức", 55, 0.05, ("Sở", "Văn phòng", "Trung tâm", "Ban Quản lý")),
    _Superior("BDH.KKT", "Khu kinh tế", 110, 0.92, ("Ban Quản lý Khu kinh tế",)),
)


def _split(total: int, weights: list[float]) -> list[int]:
    """Exactly `total`, proportional to weights (largest remainders get the leftover units)."""
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _cdcs_row(
    rng: random.Random, number: int, code: str, parent: str, sector: str, kind: str, cluster: str, width: int
) -> Row:
    host = f"cdcs{number:0{width}d}.example.vn"
    emails = [f"congdoan@{host}"]
    if rng.random() < SECOND_EMAIL_SHARE:
        emails.append(f"chutich@{host}")
    return {
        "ma_don_vi": code,
        "ten_don_vi": f"CĐCS {kind} Mẫu số {number:0{width}d} (giả lập)",
        "cap": "cdcs",
        "ma_cap_tren": parent,
        "khu_vuc": sector,
        "email": "; ".join(emails),
        "hoat_dong": "không" if rng.random() < INACTIVE_SHARE else "có",
        "cum_thi_dua": cluster,
    }


def binh_dinh_cdcs(seed: int = 2023, total: int = 1200) -> list[Row]:
    """CĐCS under the 19 directly-superior unions of config/units/binh_dinh.yaml."""
    rng = random.Random(seed)
    rows: list[Row] = []
    counts = _split(total, [s.weight for s in BINH_DINH_SUPERIORS])
    for superior, count in zip(BINH_DINH_SUPERIORS, counts):
        for _ in range(count):
            number = len(rows) + 1
            sxkd = rng.random() < superior.sxkd_share
            sector = "sxkd" if sxkd else "hcsn"
            kind = rng.choice(superior.sxkd_kinds if sxkd else superior.hcsn_kinds)
            cluster = f"Khối {sector.upper()} {superior.short}"
            code = f"{superior.code}.CS{number:04d}"
            rows.append(_cdcs_row(rng, number, code, superior.code, sector, kind, cluster, 4))
    return rows


def national_tree(seed: int = 2025, provinces: int = 63, cdcs_total: int = 130_000) -> Iterator[Row]:
    """TLD → `provinces` LĐLĐ tỉnh → 10–20 directly-superior unions each → `cdcs_total` CĐCS in all.

    Yields rows one at a time (parents before children); only the per-union counts are held in memory."""
    rng = random.Random(seed)
    superiors_per_province = [rng.randint(10, 20) for _ in range(provinces)]
    cdcs_counts = iter(_split(cdcs_total, [rng.uniform(0.3, 3.0) for _ in range(sum(superiors_per_province))]))
    yield _upper_row("TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld", "", "", "tongliendoan", "")
    number = 0
    for p, superior_count in enumerate(superiors_per_province, start=1):
        province = f"T{p:02d}"
        yield _upper_row(
            province,
            f"LĐLĐ tỉnh Mẫu số {p:02d} (giả lập)",
            "ldld_tinh",
            "TLD",
            "",
            f"ldld-t{p:02d}",
            f"Cụm thi đua số {(p - 1) // 8 + 1:d}",
        )
        for s in range(1, superior_count + 1):
            superior = f"{province}.S{s:02d}"
            district = s % 3 != 0  # two thirds district federations, one third sector unions
            sector = "" if district else rng.choice(("sxkd", "hcsn"))
            name = "LĐLĐ huyện" if district else "Công đoàn ngành"
            yield _upper_row(
                superior,
                f"{name} Mẫu số {p:02d}.{s:02d} (giả lập)",
                "cap_tren_truc_tiep",
                province,
                sector,
                f"cd-t{p:02d}s{s:02d}",
                "Cụm các LĐLĐ huyện" if district else "Khối các công đoàn ngành",
            )
            for _ in range(next(cdcs_counts)):
                number += 1
                unit_sector = sector or ("sxkd" if rng.random() < 0.5 else "hcsn")
                kinds = _SXKD_KINDS if unit_sector == "sxkd" else _DISTRICT_HCSN
                yield _cdcs_row(
                    rng,
                    number,
                    f"{superior}.{number:06d}",
                    superior,
                    unit_sector,
                    rng.choice(kinds),
                    f"Khối {unit_sector.upper()} {superior}",
                    6,
                )


def _upper_row(code: str, name: str, level: str, parent: str, sector: str, host: str, cluster: str) -> Row:
    return {
        "ma_don_vi": code,
        "ten_don_vi": name,
        "cap": level,
        "ma_cap_tren": parent,
        "khu_vuc": sector,
        "email": f"vanphong@{host}.example.vn",
        "hoat_dong": "có",
        "cum_thi_dua": cluster,
    }


def write_units_csv(rows: Iterable[Row], path: Path | str) -> int:
    """Write rows as a unit CSV; returns the number of units. UTF-8 with BOM so that Excel shows the
    Vietnamese text correctly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
