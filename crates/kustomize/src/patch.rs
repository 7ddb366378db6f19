//! The `patches`, `patchesStrategicMerge` and `patchesJson6902` fields (owner: to be written).
