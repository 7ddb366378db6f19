//! Providers: the seam behind which every cloud and cluster side effect sits. A provider
//! observes actual state for the planner and (in later work) executes plan steps.
//!
//! `Provider` uses `impl Future` methods, so dispatch goes through the [`AnyProvider`] enum
//! rather than trait objects; each provider keeps its SDK types inside its own file.

pub mod offline;

use std::future::Future;

use crate::fleet::types::ProviderKind;
use crate::plan::{Desired, Observed};
use crate::render::RenderedCluster;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} provider: {message}")]
    Unavailable {
        provider: ProviderKind,
        message: String,
    },
}

pub trait Provider: Send + Sync {
    /// Reads the actual state of what `desired` describes. Absent things are a normal state.
    fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;
}

/// Every provider gitfleet knows, for static dispatch.
pub enum AnyProvider {
    Offline(offline::OfflineProvider),
}

impl AnyProvider {
    /// The provider that observes clusters of `kind`. With `offline`, nothing is contacted.
    pub fn for_cluster(kind: ProviderKind, offline: bool) -> Result<Self, ProviderError> {
        if offline {
            return Ok(Self::Offline(offline::OfflineProvider));
        }
        Err(ProviderError::Unavailable {
            provider: kind,
            message: "this build cannot observe live clusters yet; run with --offline to plan against nothing existing".into(),
        })
    }

    pub async fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> Result<Observed, ProviderError> {
        match self {
            Self::Offline(p) => p.observe(desired, rendered).await,
        }
    }
}
