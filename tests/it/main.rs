//! The one integration-test binary: modules per area, helpers in `support`.

mod cli;
mod corpus;
mod props;
mod snapshots;
mod support;
