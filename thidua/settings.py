"""The one Settings object: every knob, read from the environment (prefix THIDUA_) or a .env file."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from thidua.errors import InvalidInputError
from thidua.paths import CONFIG_DIR, IN_SOURCE_CHECKOUT, REPO_ROOT  # noqa: F401  (re-exported)


# Keys printed in earlier defaults and in docs/operations.md: anyone can read them, so they must never sign anything.
EXAMPLE_SECRET_KEYS = frozenset({"doi-khoa-nay-khi-trien-khai", "doi-chuoi-ngau-nhien-dai-nay"})
MIN_SECRET_KEY_LENGTH = 16
SECRET_KEY_FILE_NAME = "secret_key"


class SecretKeyRefused(InvalidInputError):
    """The configured secret key is a published example or too short: nothing may start with it."""


def _default_data_dir() -> Path:
    """data/ beside the checkout when run from source; the user's data folder when installed."""
    if IN_SOURCE_CHECKOUT:
        return REPO_ROOT / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "thidua"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THIDUA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Database, mail, reports, Prefect home")
    config_dir: Path = Field(
        default=CONFIG_DIR, description="Levels, calendars, catalogues; `thidua init DIR` copies them"
    )
    database_url: str | None = Field(default=None, description="Default: SQLite file in data_dir")
    timezone: str = "Asia/Ho_Chi_Minh"
    # How long a SQLite write waits for another program's write lock before the command gives up with a message.
    sqlite_busy_timeout_s: float = 30.0
    base_url: str = "http://127.0.0.1:8000"
    # Signs e-mail links, session cookies and CSRF tokens. Unset: a random key generated on first use into
    # data_dir/secret_key (mode 0600). Read it with signing_key(), never directly.
    secret_key: str | None = Field(default=None, repr=False)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks, comma
    # separated; e.g. "127.0.0.1" behind nginx on the same machine). Default: nobody, so that no client can
    # choose the address the sign-in rate limit counts.
    trusted_proxies: str = ""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_security: str = "none"  # none | starttls | tls
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "thidua@ldld.binhdinh.vn"
    smtp_sender_name: str = "Hệ thống thi đua LĐLĐ tỉnh Bình Định"  # mail of a campaign names its office instead
    smtp_reply_to: str | None = None  # where replies to mail without a campaign (sign-in links) go
    smtp_connections: int = 4
    mail_domain: str = ""  # Message-ID and List-Id domain; default: the domain of smtp_sender

    @model_validator(mode="after")
    def _mail_domain_from_sender(self) -> "Settings":
        if not self.mail_domain:
            self.mail_domain = self.smtp_sender.rpartition("@")[2] or "localhost"
        return self

    scheduler_enabled: bool = True  # off in scale-out mode: Prefect holds the schedules
    tick_seconds: int = 60
    housekeeping_seconds: int = 900  # consolidation when deadlines pass, nomination windows, late reviewers
    dispatch_batch_size: int = 500

    _signing_key: str | None = PrivateAttr(default=None)

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / SECRET_KEY_FILE_NAME

    def signing_key(self) -> str:
        """The key that signs links, sessions and CSRF tokens (SecretKeyRefused for an example or short key)."""
        if self._signing_key is None:
            self._signing_key = _resolve_secret_key(self)
        return self._signing_key

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'thidua.db'}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.data_dir / "prefect"


def _check_secret_key(key: str, where: str) -> str:
    if key in EXAMPLE_SECRET_KEYS:
        raise SecretKeyRefused(
            f"Khoá bí mật ({where}) là khoá ví dụ in trong tài liệu; ai cũng biết nên không được dùng. "
            "Bỏ THIDUA_SECRET_KEY để hệ thống tự tạo khoá ngẫu nhiên trong thư mục dữ liệu, hoặc đặt một chuỗi "
            'ngẫu nhiên: python -c "import secrets; print(secrets.token_urlsafe(48))".'
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SecretKeyRefused(
            f"Khoá bí mật ({where}) quá ngắn ({len(key)} ký tự; cần ít nhất {MIN_SECRET_KEY_LENGTH}). "
            "Bỏ THIDUA_SECRET_KEY để hệ thống tự tạo khoá ngẫu nhiên trong thư mục dữ liệu."
        )
    return key


def _resolve_secret_key(settings: Settings) -> str:
    """THIDUA_SECRET_KEY when set; else the key file in the data directory, created (0600) on first use."""
    if settings.secret_key is not None and settings.secret_key.strip():
        return _check_secret_key(settings.secret_key.strip(), "THIDUA_SECRET_KEY")
    path = settings.secret_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made earlier, or by another process at this moment
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
    key = ""
    for _ in range(50):  # a process that just created the file may not have written it yet
        key = path.read_text(encoding="ascii", errors="replace").strip()
        if key:
            break
        time.sleep(0.01)
    return _check_secret_key(key, f"tệp {path}")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def configure_prefect_environment(settings: Settings) -> None:
    """Keep Prefect local and quiet. Must run before `import prefect`."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The temporary server needs more than Prefect's default 20 s to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
