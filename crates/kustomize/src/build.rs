//! The build: a kustomization directory, recursively, into resources.

use std::sync::Arc;

use crate::{Diag, Loader, Resource};

pub struct Build {
    pub resources: Vec<Resource>,
    pub warnings: Vec<Diag>,
}

pub fn build(loader: Arc<dyn Loader>, dir: &str) -> Result<Build, Vec<Diag>> {
    let _ = (loader, dir);
    Err(vec![])
}
