//! Providers: the seam behind which every cloud and cluster side effect sits. A provider
//! observes actual state for the planner and (in later work) executes plan steps.
//!
//! `Provider` uses `impl Future` methods, so dispatch goes through the [`AnyProvider`] enum
//! rather than trait objects; each provider keeps its SDK types inside its own file.

pub mod eks;
pub mod eks_token;
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
    #[error("{provider} {operation} failed: {message}")]
    Api {
        provider: ProviderKind,
        operation: &'static str,
        /// The service's error code (e.g. `ThrottlingException`), empty when unknown.
        code: String,
        message: String,
    },
    #[error("{what} reached status {status}")]
    Failed { what: String, status: String },
    #[error("timed out after {}s waiting for {what} (last status: {status})", waited.as_secs())]
    Timeout {
        what: String,
        status: String,
        waited: std::time::Duration,
    },
    #[error("{what} does not exist")]
    Missing { what: String },
    #[error(
        "{what} does not carry gitfleet's ownership tags; gitfleet never deletes what it did not create"
    )]
    NotOwned { what: String },
    #[error("cluster {cluster} is not a {provider} cluster")]
    WrongProvider {
        provider: ProviderKind,
        cluster: String,
    },
    #[error("`{step}` is not carried out by a cloud provider")]
    NotAProviderStep { step: String },
}

/// Where long waits report: a progress line per resource (the CLI draws it).
pub trait Progress: Send + Sync {
    fn status(&self, what: &str, status: &str, elapsed: std::time::Duration);
}

/// Progress that goes nowhere (tests, JSON output).
pub struct Silent;

impl Progress for Silent {
    fn status(&self, _: &str, _: &str, _: std::time::Duration) {}
}

pub trait Provider: Send + Sync {
    /// Reads the actual state of what `desired` describes. Absent things are a normal state.
    fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;
}

/// How to reach the providers.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// Contact nothing: everything is absent.
    pub offline: bool,
    /// AWS endpoint override (an emulator); `AWS_ENDPOINT_URL` is honoured as well.
    pub aws_endpoint_url: Option<String>,
}

/// Every provider gitfleet knows, for static dispatch.
pub enum AnyProvider {
    Offline(offline::OfflineProvider),
    Eks(eks::EksProvider),
}

impl AnyProvider {
    /// The provider that observes `rendered`'s cluster. With `offline`, nothing is contacted.
    pub async fn connect(
        rendered: &RenderedCluster,
        options: &ProviderOptions,
    ) -> Result<Self, ProviderError> {
        if options.offline {
            return Ok(Self::Offline(offline::OfflineProvider));
        }
        match &rendered.requests {
            crate::render::ProviderRequests::Eks { region, .. } => {
                let mut settings = eks::EksSettings::new(region);
                settings.endpoint_url = options.aws_endpoint_url.clone();
                Ok(Self::Eks(eks::EksProvider::connect(&settings).await))
            }
            _ => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "this build cannot observe live clusters of this provider yet; run with --offline to plan against nothing existing".into(),
            }),
        }
    }

    pub async fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> Result<Observed, ProviderError> {
        match self {
            Self::Offline(p) => p.observe(desired, rendered).await,
            Self::Eks(p) => p.observe(desired, &desired.fleet).await,
        }
    }
}
