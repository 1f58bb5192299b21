"""Commendation services beyond the route of a nomination: document numbers and decisions (numbers,
decisions), evidence files, persons, publication, council sessions, bonuses and certificates."""
