//! The offline provider: contacts nothing and reports everything as absent, so `plan --offline`
//! shows the full plan of a first `up`.

use super::{Provider, ProviderError};
use crate::plan::{Desired, Observed};
use crate::render::RenderedCluster;

pub struct OfflineProvider;

impl Provider for OfflineProvider {
    async fn observe(
        &self,
        _desired: &Desired,
        _rendered: &RenderedCluster,
    ) -> Result<Observed, ProviderError> {
        Ok(Observed::default())
    }
}
