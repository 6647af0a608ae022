"""The pipeline's one partitioning: a dataset commit, added by the sensor as commits appear."""

from dagster import DynamicPartitionsDefinition

dataset_commits = DynamicPartitionsDefinition(name="dataset_commits")
