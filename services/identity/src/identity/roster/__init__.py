"""Roster import: a school's (or a county's, or the city's) student list, uploaded as the CSV or
XLSX the national student registry exports, validated row by row and applied all at once.

``columns`` maps the registry's headers, ``values`` validates one row, ``reading`` turns the
uploaded bytes into rows, ``importer`` stages, checks and merges them with PostgreSQL COPY and
set-based statements, ``service`` is the use cases behind ``RosterService``. See
docs/decisions/0011-roster-import.md for why it is built this way.
"""
