"""PDF of the reports (DOCX and XLSX) through LibreOffice, where it is installed.

Each call uses its own LibreOffice profile folder, so conversions may run side by side (a shared profile
makes a second `soffice` hand its work to the first and return at once). Many files go in one call: one
start of LibreOffice (seconds) serves them all.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from thidua.errors import UnavailableError


class PdfUnavailable(UnavailableError):
    """LibreOffice is not installed, or it failed to convert."""


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(files: Sequence[Path], out_dir: Path | None = None, *, timeout_s: float = 600) -> list[Path]:
    """Convert DOCX/XLSX files to PDF (beside them, or in `out_dir`); returns the PDFs in the same order."""
    soffice = soffice_path()
    if soffice is None:
        raise PdfUnavailable(
            "Chưa cài LibreOffice (soffice) nên không xuất được PDF; "
            "cài bằng: apt-get install libreoffice-writer libreoffice-calc"
        )
    files = [Path(f) for f in files]
    if not files:
        return []
    target = out_dir or files[0].parent
    target.mkdir(parents=True, exist_ok=True)
    stems = [f.stem for f in files]
    with tempfile.TemporaryDirectory(prefix="thidua-lo-") as work:
        sources = []
        for f in files:  # a report's .docx and .xlsx share a name: their PDFs are named after both
            if stems.count(f.stem) > 1:
                alias = Path(work) / f"{f.stem}-{f.suffix.lstrip('.')}{f.suffix}"
                shutil.copyfile(f, alias)
                sources.append(alias)
            else:
                sources.append(f)
        command = [
            soffice,
            f"-env:UserInstallation=file://{work}/profile",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(target),
            *map(str, sources),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PdfUnavailable(f"LibreOffice không chuyển xong sang PDF sau {int(timeout_s)} giây") from exc
    pdfs = [target / f"{f.stem}.pdf" for f in sources]
    missing = [p.name for p in pdfs if not p.is_file()]
    if done.returncode != 0 or missing:
        raise PdfUnavailable(
            f"LibreOffice không tạo được {', '.join(missing) or 'PDF'}: {(done.stderr or done.stdout).strip()[-300:]}"
        )
    return pdfs
