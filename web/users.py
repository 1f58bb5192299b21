"""Accounts moved to thidua.services.accounts (the CLI uses them too); re-exported here for the web routes."""

from thidua.services.accounts import ImportResult, add_user, create_api_token, import_from_units

__all__ = ["ImportResult", "add_user", "create_api_token", "import_from_units"]
