"""The index on disk: the manifest, immutable segments, what changed, builds and merges."""
