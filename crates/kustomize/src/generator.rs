//! `configMapGenerator` and `secretGenerator` (owner: to be written).
