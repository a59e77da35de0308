"""Campaigns (a county's or the city's screening window and batteries), guardians' consent,
and live coverage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from screening.domain.access import (
    STAFF,
    contains,
    is_beyond_school_staff,
    is_school_staff,
    require,
    unit_kind,
)
from screening.domain.instruments import Respondent
from screening.domain.instruments.model import GradeBand
from screening.domain.model import (
    CITY_CODE,
    DEFAULT_CONSENT_AGE,
    Battery,
    Campaign,
    CampaignChanged,
    CampaignKind,
    CampaignStatus,
    Consent,
    Coverage,
    CoverageRow,
    InstrumentRef,
)
from screening.domain.ports import Clock, Identity, Store
from screening.domain.shelf import InstrumentShelf
from xinyu_core.auth import Principal
from xinyu_core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

MAX_NAME = 100


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    kind: CampaignKind | None
    scope_code: str
    school_codes: tuple[str, ...]
    cohorts: tuple[int, ...]
    opens_at: datetime | None
    closes_at: datetime | None
    batteries: tuple[tuple[str, tuple[InstrumentRef, ...]], ...]
    consent_required_under_age: int | None


def parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as error:
        raise InvalidArgument(field, "must be a UUID") from error


def may_open(principal: Principal, scope_code: str) -> bool:
    if scope_code == CITY_CODE:
        return principal.has_any_role("city_admin") and principal.org_unit == CITY_CODE
    return principal.has_any_role("county_admin") and principal.org_unit == scope_code


class Campaigns:
    def __init__(
        self,
        store: Store,
        shelf: InstrumentShelf,
        identity: Identity,
        clock: Clock,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._store = store
        self._shelf = shelf
        self._identity = identity
        self._clock = clock
        self._new_id = new_id

    async def _batteries(self, draft: CampaignDraft) -> tuple[Battery, ...]:
        if not draft.batteries:
            raise InvalidArgument("batteries", "give at least one grade band's instruments")
        batteries, seen = [], set()
        for n, (band_name, refs) in enumerate(draft.batteries):
            where = f"batteries[{n}]"
            try:
                band = GradeBand(band_name)
            except ValueError as error:
                known = ", ".join(b.value for b in GradeBand)
                raise InvalidArgument(f"{where}.grade_band", f"must be one of {known}") from error
            if band in seen:
                raise InvalidArgument(f"{where}.grade_band", "is given twice")
            seen.add(band)
            if not refs:
                raise InvalidArgument(f"{where}.instruments", "give at least one instrument")
            ids = [ref.instrument_id for ref in refs]
            for m, ref in enumerate(refs):
                at = f"{where}.instruments[{m}]"
                if ids.count(ref.instrument_id) > 1:
                    raise InvalidArgument(f"{at}.instrument_id", "is given twice")
                try:
                    definition = await self._shelf.definition(ref.instrument_id, ref.version)
                except InvalidArgument as error:
                    part = "version" if error.field == "instrument_version" else "instrument_id"
                    raise InvalidArgument(f"{at}.{part}", error.message) from error
                if band not in definition.applicability.grade_bands:
                    raise InvalidArgument(
                        f"{at}.instrument_id",
                        f"{ref.instrument_id} is not for {band.value} (it is for "
                        + ", ".join(b.value for b in definition.applicability.grade_bands)
                        + ")",
                    )
                if definition.respondent is not Respondent.STUDENT:
                    raise InvalidArgument(
                        f"{at}.instrument_id",
                        "is answered by a guardian; class sittings are for students",
                    )
            batteries.append(Battery(band, tuple(refs)))
        return tuple(batteries)

    async def open(self, principal: Principal, draft: CampaignDraft) -> Campaign:
        scope = draft.scope_code or principal.org_unit
        if unit_kind(scope) not in ("city", "county"):
            raise InvalidArgument("scope_code", "must be the city or a county code")
        require(may_open(principal, scope))
        name = draft.name.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidArgument("name", f"must be 1 to {MAX_NAME} characters")
        if draft.kind is None:
            raise InvalidArgument("kind", "is required")
        for n, school in enumerate(draft.school_codes):
            if unit_kind(school) != "school" or not contains(scope, school):
                raise InvalidArgument(f"school_codes[{n}]", "must be a school in the scope")
        for n, cohort in enumerate(draft.cohorts):
            if not 1990 <= cohort <= 2100:
                raise InvalidArgument(f"cohorts[{n}]", "must be an entry year, e.g. 2024")
        now = self._clock()
        if draft.opens_at is None:
            raise InvalidArgument("opens_at", "is required")
        if draft.closes_at is None or draft.closes_at <= draft.opens_at:
            raise InvalidArgument("closes_at", "must be after opens_at")
        if draft.closes_at <= now:
            raise InvalidArgument("closes_at", "must be in the future")
        age = (
            DEFAULT_CONSENT_AGE
            if draft.consent_required_under_age is None
            else draft.consent_required_under_age
        )
        if not 0 <= age <= 18:
            raise InvalidArgument("consent_required_under_age", "must be between 0 and 18")
        campaign = Campaign(
            campaign_id=self._new_id(),
            name=name,
            kind=draft.kind,
            scope_code=scope,
            school_codes=tuple(dict.fromkeys(draft.school_codes)),
            cohorts=tuple(sorted(set(draft.cohorts))),
            opens_at=draft.opens_at,
            closes_at=draft.closes_at,
            batteries=await self._batteries(draft),
            consent_required_under_age=age,
            status=CampaignStatus.OPEN,
            created_by=principal.subject,
            created_at=now,
        )
        async with self._store() as repository:
            await repository.save_campaign(campaign)
            await repository.publish(CampaignChanged(campaign))
        return campaign

    async def close(self, principal: Principal, campaign_id: str) -> Campaign:
        wanted = parse_uuid(campaign_id, "campaign_id")
        async with self._store() as repository:
            campaign = await repository.campaign(wanted)
            if campaign is None:
                raise NotFound("no such campaign")
            require(may_open(principal, campaign.scope_code))
            if campaign.status is CampaignStatus.CLOSED:
                return campaign
            closed = replace(campaign, status=CampaignStatus.CLOSED)
            await repository.save_campaign(closed)
            await repository.publish(CampaignChanged(closed))
        return closed

    def _may_see(self, principal: Principal, campaign: Campaign) -> bool:
        if principal.is_service:
            return True
        if not principal.has_any_role(*STAFF) or not principal.org_unit:
            return False
        if principal.org_unit == CITY_CODE:
            return True
        kind = unit_kind(principal.org_unit) if principal.org_unit[:1].isdigit() else ""
        if kind == "county":
            return campaign.scope_code in (CITY_CODE, principal.org_unit)
        if kind == "school":
            return campaign.covers_school(principal.org_unit)
        return False

    async def get(self, principal: Principal, campaign_id: str) -> Campaign:
        wanted = parse_uuid(campaign_id, "campaign_id")
        async with self._store() as repository:
            campaign = await repository.campaign(wanted)
        if campaign is None:
            raise NotFound("no such campaign")
        require(self._may_see(principal, campaign))
        return campaign

    async def list(
        self, principal: Principal, org_unit: str, include_closed: bool
    ) -> Sequence[Campaign]:
        unit = org_unit or principal.org_unit
        kind = unit_kind(unit)
        if not principal.is_service:
            require(
                principal.has_any_role(*STAFF)
                and bool(principal.org_unit)
                and contains(principal.org_unit, unit)
            )
        async with self._store() as repository:
            campaigns = await repository.campaigns()

        def covers(campaign: Campaign) -> bool:
            if kind == "city":
                return True
            if kind == "county":
                return campaign.scope_code in (CITY_CODE, unit)
            return campaign.covers_school(unit.split("-", 1)[0])

        return [
            c
            for c in campaigns
            if covers(c) and (include_closed or c.status is CampaignStatus.OPEN)
        ]

    async def record_consent(
        self, principal: Principal, campaign_id: str, student_id: str, granted: bool
    ) -> UUID:
        wanted = parse_uuid(campaign_id, "campaign_id")
        student = parse_uuid(student_id, "student_id")
        place = await self._identity.student_place(principal, str(student))
        if principal.has_any_role("guardian"):
            me = await self._identity.who_am_i(principal)
            if not me.is_guardian_of(str(student)):
                raise PermissionDenied("only the student's guardian may consent")
            via = "guardian"
        else:
            require(is_school_staff(principal, place.school_code))
            via = "school"
        consent = Consent(
            consent_id=self._new_id(),
            campaign_id=wanted,
            student_id=student,
            granted=granted,
            via=via,
            recorded_by=principal.subject,
            recorded_at=self._clock(),
        )
        async with self._store() as repository:
            campaign = await repository.campaign(wanted)
            if campaign is None:
                raise NotFound("no such campaign")
            if not campaign.covers_school(place.school_code):
                raise FailedPrecondition("the campaign does not cover the student's school")
            await repository.add_consent(consent)
        return consent.consent_id

    async def coverage(self, principal: Principal, campaign_id: str, org_unit: str) -> Coverage:
        campaign = await self.get(principal, campaign_id)
        unit = org_unit or principal.org_unit
        kind = unit_kind(unit)
        if kind == "class":
            raise InvalidArgument("org_unit", "coverage breaks down a city, county or school")
        if not principal.is_service:
            require(is_school_staff(principal, unit) or is_beyond_school_staff(principal, unit))
        group_column, unit_column = {
            "city": ("county_code", ""),
            "county": ("school_code", "county_code"),
            "school": ("class_code", "school_code"),
        }[kind]
        expected = await self._identity.count_students(
            principal, unit, campaign.cohorts, campaign.school_codes
        )
        async with self._store() as repository:
            counts = await repository.coverage(
                campaign.campaign_id, group_column, unit_column, unit
            )
        children = sorted(set(expected.children) | set(counts))
        rows = tuple(
            CoverageRow(
                org_unit=child,
                expected=expected.children.get(child, 0),
                started=counts.get(child, (0, 0))[0],
                submitted=counts.get(child, (0, 0))[1],
            )
            for child in children
        )
        total = CoverageRow(
            org_unit=unit,
            expected=expected.total,
            started=sum(r.started for r in rows),
            submitted=sum(r.submitted for r in rows),
        )
        return Coverage(total=total, rows=rows, as_of=self._clock())
