"""The pipeline's one partitioning: a dataset commit, added by the sensor as commits appear."""

from dagster import DynamicPartitionsDefinition

DATASET_COMMITS = "dataset_commits"
dataset_commits = DynamicPartitionsDefinition(name=DATASET_COMMITS)
