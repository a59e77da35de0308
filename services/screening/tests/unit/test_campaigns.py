"""Campaigns: who may open them, what a battery must be, and who sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes import (
    CITY,
    CITY_ADMIN,
    COUNSELLOR,
    COUNTY,
    COUNTY_ADMIN,
    NOW,
    OTHER_COUNSELLOR,
    OTHER_COUNTY,
    PSYCH,
    SCHOOL,
    STUDENT,
    World,
)

from screening.domain.model import CampaignChanged, CampaignStatus, InstrumentRef
from xinyu_core.errors import InvalidArgument, PermissionDenied


@pytest.fixture
def world() -> World:
    return World()


async def test_a_county_admin_opens_a_campaign_for_the_county(world: World) -> None:
    campaign = await world.campaigns.open(
        COUNTY_ADMIN, world.draft(consent_required_under_age=None)
    )
    assert campaign.scope_code == COUNTY
    assert campaign.status is CampaignStatus.OPEN
    # PIPL: under 14 needs a guardian's consent unless the campaign says otherwise.
    assert campaign.consent_required_under_age == 14
    assert world.t.events == [CampaignChanged(campaign)]


async def test_the_city_admin_opens_for_the_city_only(world: World) -> None:
    campaign = await world.campaigns.open(CITY_ADMIN, world.draft(scope_code=CITY))
    assert campaign.scope_code == CITY
    with pytest.raises(PermissionDenied):
        await world.campaigns.open(CITY_ADMIN, world.draft(scope_code=COUNTY))
    with pytest.raises(PermissionDenied):
        await world.campaigns.open(COUNTY_ADMIN, world.draft(scope_code=OTHER_COUNTY))
    with pytest.raises(PermissionDenied):
        await world.campaigns.open(COUNTY_ADMIN, world.draft(scope_code=CITY))
    with pytest.raises(PermissionDenied):
        await world.campaigns.open(PSYCH, world.draft())


@pytest.mark.parametrize(
    ("batteries", "field"),
    [
        ((), "batteries"),
        ((("kindergarten", (InstrumentRef("gad-7", "1.0.0"),)),), "batteries[0].grade_band"),
        (
            (("junior_secondary", (InstrumentRef("gad-7", "1.0.0"), InstrumentRef("x", "1.0.0"))),),
            "batteries[0].instruments[1].instrument_id",
        ),
        (
            (("junior_secondary", (InstrumentRef("gad-7", "9.9.9"),)),),
            "batteries[0].instruments[0].version",
        ),
        # PHQ-9 is for senior secondary and tertiary students, not juniors.
        (
            (("junior_secondary", (InstrumentRef("phq-9", "1.0.0"),)),),
            "batteries[0].instruments[0].instrument_id",
        ),
        (
            (
                ("junior_secondary", (InstrumentRef("gad-7", "1.0.0"),)),
                ("junior_secondary", (InstrumentRef("phq-a", "1.0.0"),)),
            ),
            "batteries[1].grade_band",
        ),
    ],
)
async def test_batteries_are_checked_against_the_catalogue(
    world: World, batteries: tuple[object, ...], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.campaigns.open(COUNTY_ADMIN, world.draft(batteries=batteries))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"kind": None}, "kind"),
        ({"school_codes": ("3607030001",)}, "school_codes[0]"),
        ({"cohorts": (1900,)}, "cohorts[0]"),
        ({"closes_at": NOW - timedelta(days=2)}, "closes_at"),
        ({"consent_required_under_age": 30}, "consent_required_under_age"),
    ],
)
async def test_campaign_fields_are_checked(
    world: World, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.campaigns.open(COUNTY_ADMIN, world.draft(**changes))
    assert caught.value.field == field


async def test_closing_tells_the_platform(world: World) -> None:
    campaign = await world.campaign()
    with pytest.raises(PermissionDenied):
        await world.campaigns.close(CITY_ADMIN, str(campaign.campaign_id))
    closed = await world.campaigns.close(COUNTY_ADMIN, str(campaign.campaign_id))
    assert closed.status is CampaignStatus.CLOSED
    assert world.t.events[-1] == CampaignChanged(closed)


async def test_who_sees_a_campaign(world: World) -> None:
    campaign = await world.campaign()
    for caller in (PSYCH, COUNSELLOR, CITY_ADMIN, COUNTY_ADMIN):
        assert (await world.campaigns.get(caller, str(campaign.campaign_id))) == campaign
    for caller in (OTHER_COUNSELLOR, STUDENT):
        with pytest.raises(PermissionDenied):
            await world.campaigns.get(caller, str(campaign.campaign_id))
    assert [c.campaign_id for c in await world.campaigns.list(PSYCH, "", False)] == [
        campaign.campaign_id
    ]
    assert await world.campaigns.list(OTHER_COUNSELLOR, "", False) == []
    with pytest.raises(PermissionDenied):
        await world.campaigns.list(PSYCH, COUNTY, False)
    await world.campaigns.close(COUNTY_ADMIN, str(campaign.campaign_id))
    assert await world.campaigns.list(PSYCH, SCHOOL, False) == []
    assert len(await world.campaigns.list(PSYCH, SCHOOL, True)) == 1
