"""The Dagster code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from dagster import Definitions

from imagehub_assets.assets import ASSETS
from imagehub_assets.automation import new_commits, process_commit, reprocess_stale
from imagehub_assets.resources import ImageHubResource, RayResource

defs = Definitions(
    assets=ASSETS,
    jobs=[process_commit],
    sensors=[new_commits],
    schedules=[reprocess_stale],
    resources={"imagehub": ImageHubResource(), "ray": RayResource()},
)
