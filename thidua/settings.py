"""The one Settings object: every knob, read from the environment (prefix THIDUA_) or a .env file."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from thidua.paths import CONFIG_DIR, IN_SOURCE_CHECKOUT, REPO_ROOT  # noqa: F401  (re-exported)


def _default_data_dir() -> Path:
    """data/ beside the checkout when run from source; the user's data folder when installed."""
    if IN_SOURCE_CHECKOUT:
        return REPO_ROOT / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "thidua"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THIDUA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Database, mail, reports, Prefect home")
    config_dir: Path = Field(default=CONFIG_DIR, description="Levels, calendars, catalogues; `thidua init DIR` copies them")
    database_url: str | None = Field(default=None, description="Default: SQLite file in data_dir")
    timezone: str = "Asia/Ho_Chi_Minh"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = "doi-khoa-nay-khi-trien-khai"  # signs e-mail links and sessions; change in production

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
