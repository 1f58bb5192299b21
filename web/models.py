"""The account tables now live in thidua.models.accounts (below the services, which use them); re-exported here."""

from thidua.models.accounts import ApiToken, CalendarFeed, LoginToken, RevokedSession  # noqa: F401

__all__ = ["ApiToken", "CalendarFeed", "LoginToken"]
