//! The one integration-test binary: modules per area, helpers in `support`.

mod cli;
mod corpus;
mod eks;
mod props;
mod snapshots;
mod support;
