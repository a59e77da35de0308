"""Where screening's integration tests keep their throwaway schemas, and how they read rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

DATABASE_URL = "postgresql+psycopg://screening:dev-db-screening@127.0.0.1:5433/screening"


@dataclass
class Database:
    schema: str
    engine: AsyncEngine

    @property
    def url(self) -> str:
        """The service's database URL with this schema first on the search path."""
        return f"{DATABASE_URL}?options=-csearch_path%3D{self.schema}"

    def rows(self, query: str) -> list[dict[str, Any]]:
        conninfo = DATABASE_URL.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(conninfo, options=f"-csearch_path={self.schema}") as connection:
            cursor = connection.execute(query)
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
