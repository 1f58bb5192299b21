"""submissions tables and rules (filled in by their issue)."""
