"""A throwaway schema with identity's tables, the city, one county and two schools, for
integration tests against the local PostgreSQL; dropped afterwards, also after a failure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from identity.adapters.db.tables import metadata

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
COUNTY = "360702"
SCHOOL = "3607020001"
OTHER_SCHOOL = "3607020002"


@dataclass(frozen=True)
class Schema:
    name: str
    engine: AsyncEngine

    @property
    def options(self) -> str:
        return f"-csearch_path={self.name}"


@asynccontextmanager
async def two_school_schema(prefix: str) -> AsyncIterator[Schema]:
    name = f"tests_{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(DATABASE_URL, connect_args={"options": f"-csearch_path={name}"})
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                text(
                    "INSERT INTO org_units (code, kind, name, parent_code, county_code,"
                    " school_code) VALUES ('360700', 'city', '赣州市', NULL, NULL, NULL),"
                    " (:county, 'county', '章贡区', '360700', :county, NULL),"
                    " (:a, 'school', '一中', :county, :county, :a),"
                    " (:b, 'school', '二中', :county, :county, :b)"
                ),
                {"county": COUNTY, "a": SCHOOL, "b": OTHER_SCHOOL},
            )
            await connection.execute(
                text(
                    "INSERT INTO schools (school_code, school_type)"
                    " VALUES (:a, 'junior'), (:b, 'junior')"
                ),
                {"a": SCHOOL, "b": OTHER_SCHOOL},
            )
        yield Schema(name, engine)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()
