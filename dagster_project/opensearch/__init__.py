"""What the pipeline sends to OpenSearch, without a connection: ``templates`` (the two index
templates) and ``documents`` (warehouse rows -> documents with deterministic ids). The Dagster
resource that talks to a cluster is ``dagster_project.resources.opensearch.OpenSearchResource``."""
