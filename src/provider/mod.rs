//! Providers: the seam behind which every cloud and cluster side effect sits. A provider
//! observes actual state for the planner and (in later work) executes plan steps.
//!
//! `Provider` uses `impl Future` methods, so dispatch goes through the [`AnyProvider`] enum
//! rather than trait objects; each provider keeps its SDK types inside its own file.

// A build without a cloud provider leaves the parameters only that provider reads unused.
#![cfg_attr(
    not(all(feature = "aws", feature = "azure")),
    allow(unused_variables, dead_code)
)]

// The cloud providers are cargo features (on by default): the in-cluster agent is built without
// them (the Dockerfile's agent image), as it never calls a cloud and their SDKs' code and static
// data are most of a full build's resident memory.
#[cfg(feature = "azure")]
pub mod aks;
#[cfg(feature = "aws")]
pub mod eks;
#[cfg(feature = "aws")]
pub mod eks_token;
pub mod kind;
pub mod offline;
pub mod wait;

use std::future::Future;

use crate::fleet::types::ProviderKind;
use crate::plan::{Desired, Observed};
use crate::render::RenderedCluster;

/// The error of a provider this build was made without.
#[cfg(not(all(feature = "aws", feature = "azure")))]
fn not_built(rendered: &RenderedCluster, feature: &str) -> ProviderError {
    ProviderError::Unavailable {
        provider: rendered.provider,
        message: format!(
            "this build of gitfleet has no {} provider (it was built without the cargo feature `{feature}`, as the in-cluster agent image is); use the gitfleet CLI release, or build with `--features {feature}`",
            rendered.provider
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} provider: {message}")]
    Unavailable {
        provider: ProviderKind,
        message: String,
    },
    /// A cloud API call that failed, as one line: the operation, the HTTP status, the
    /// service's error code and message, and a hint. Built by each provider's formatter
    /// (`eks::api`, `aks::api`), never from an SDK error's `Debug`.
    #[error("{provider} {operation} failed: {}", api_line(*.status, .code, .message, .hint.as_deref()))]
    Api {
        provider: ProviderKind,
        operation: &'static str,
        /// The HTTP status of the answer; `None` when none came (no connection, no
        /// credentials, a timeout).
        status: Option<u16>,
        /// The service's error code (e.g. `ThrottlingException`), empty when unknown.
        code: String,
        /// The service's message, or what went wrong without an answer (one line).
        message: String,
        /// What to do about it.
        hint: Option<String>,
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
        "{what} does not carry gitfleet's ownership tags; gitfleet never deletes what it did not create{}",
        .remedy.map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    NotOwned {
        what: String,
        /// What the user can do about it, e.g. "delete it yourself first".
        remedy: Option<&'static str>,
    },
    #[error("cluster {cluster} is not a {provider} cluster")]
    WrongProvider {
        provider: ProviderKind,
        cluster: String,
    },
    #[error("`{step}` is not carried out by a cloud provider")]
    NotAProviderStep { step: String },
}

/// `HTTP 404 ResourceNotFoundException: No cluster found; hint: ...`, always one line.
fn api_line(status: Option<u16>, code: &str, message: &str, hint: Option<&str>) -> String {
    let mut head = Vec::new();
    if let Some(s) = status {
        head.push(format!("HTTP {s}"));
    }
    if !code.is_empty() {
        head.push(code.to_string());
    }
    let mut line = head.join(" ");
    if !message.is_empty() {
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(message);
    }
    if let Some(h) = hint {
        line.push_str("; hint: ");
        line.push_str(h);
    }
    one_line(&line, 600)
}

/// `text` on one line (every run of whitespace, newlines included, becomes one space) and at
/// most `max` characters, cut with `…`. For messages that come from services and SDKs.
pub fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A hint from the HTTP status alone, for codes a provider has no better word for.
pub(crate) fn status_hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("the credentials were refused: check that they are valid and not expired"),
        403 => Some("the credentials lack a permission this call needs"),
        404 => Some(
            "the endpoint does not know this call or resource: check the endpoint override and the region",
        ),
        408 | 504 => Some("the service did not answer in time; re-run to continue"),
        409 => Some("another operation is in progress on the resource; wait and re-run"),
        429 => Some("the service is throttling requests; re-run later or lower --parallel"),
        500..=599 => Some("the service failed; re-run to continue (every step resumes)"),
        _ => None,
    }
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
    /// Azure Resource Manager endpoint override (a stand-in or sovereign cloud).
    pub azure_endpoint: Option<String>,
    /// How long to wait for a resource to become ready (default: the provider's).
    pub wait_timeout: Option<std::time::Duration>,
    /// How often to poll a resource while waiting (default: the provider's, 15 s).
    pub poll_interval: Option<std::time::Duration>,
}

/// Every provider gitfleet knows, for static dispatch.
pub enum AnyProvider {
    Offline(offline::OfflineProvider),
    #[cfg(feature = "aws")]
    Eks(eks::EksProvider),
    #[cfg(feature = "azure")]
    Aks(aks::AksProvider),
    Kind(kind::KindProvider),
    /// A cluster gitfleet does not provision: nothing to observe or change in a cloud.
    Existing,
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
            #[cfg(not(feature = "aws"))]
            crate::render::ProviderRequests::Eks { .. } => Err(not_built(rendered, "aws")),
            #[cfg(feature = "aws")]
            crate::render::ProviderRequests::Eks { region, .. } => {
                let region = eks::region_for(region.as_deref(), &rendered.name).await?;
                let mut settings = eks::EksSettings::new(&region);
                settings.endpoint_url = options.aws_endpoint_url.clone();
                if let Some(t) = options.wait_timeout {
                    settings.wait.timeout = t;
                }
                if let Some(p) = options.poll_interval {
                    settings.wait.poll = p;
                }
                Ok(Self::Eks(eks::EksProvider::connect(&settings).await))
            }
            #[cfg(not(feature = "azure"))]
            crate::render::ProviderRequests::Aks { .. } => Err(not_built(rendered, "azure")),
            #[cfg(feature = "azure")]
            crate::render::ProviderRequests::Aks { .. } => {
                let mut settings = aks::AksSettings {
                    endpoint: options.azure_endpoint.clone(),
                    ..aks::AksSettings::default()
                };
                if let Some(t) = options.wait_timeout {
                    settings.wait.timeout = t;
                }
                if let Some(p) = options.poll_interval {
                    settings.wait.poll = p;
                }
                Ok(Self::Aks(aks::AksProvider::connect(&settings)))
            }
            crate::render::ProviderRequests::Kind { .. } => {
                Ok(Self::Kind(kind::KindProvider::default()))
            }
            crate::render::ProviderRequests::Existing { .. } => Ok(Self::Existing),
        }
    }

    /// Carries out one provider step of a plan (cloud resources only).
    pub async fn apply(
        &self,
        step: &crate::plan::Step,
        rendered: &RenderedCluster,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        match self {
            Self::Offline(_) => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "offline: nothing can be changed".into(),
            }),
            #[cfg(feature = "aws")]
            Self::Eks(p) => p.apply(step, rendered, progress).await,
            #[cfg(feature = "azure")]
            Self::Aks(p) => p.apply(step, rendered, progress).await,
            Self::Kind(p) => p.apply(step, rendered, progress).await,
            Self::Existing => Err(ProviderError::NotAProviderStep {
                step: step.to_string(),
            }),
        }
    }

    /// How to reach the cluster's API server: endpoint, CA and an authentication method that
    /// keeps working after short-lived tokens expire.
    pub async fn access(
        &self,
        rendered: &RenderedCluster,
        gitfleet: &str,
    ) -> Result<crate::kubeconfig::ClusterAccess, ProviderError> {
        match (self, &rendered.requests) {
            #[cfg(feature = "aws")]
            (Self::Eks(p), crate::render::ProviderRequests::Eks { .. }) => {
                let (server, ca) = p.endpoint(&rendered.name).await?;
                Ok(crate::kubeconfig::ClusterAccess {
                    name: rendered.name.clone(),
                    server,
                    ca_data_base64: ca,
                    auth: crate::kubeconfig::Auth::Exec {
                        command: gitfleet.to_string(),
                        args: vec![
                            "token".into(),
                            "eks".into(),
                            "--cluster".into(),
                            rendered.name.clone(),
                            "--region".into(),
                            p.region().to_string(),
                        ],
                        env: Vec::new(),
                    },
                })
            }
            _ => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "this build cannot fetch credentials for this provider yet".into(),
            }),
        }
    }

    /// A kubeconfig for the cluster: built from the endpoint for EKS (authenticating through
    /// `gitfleet token eks`, the exec plugin calling `gitfleet` as `gitfleet` says), fetched
    /// with listClusterUserCredential for AKS.
    /// `fleet_dir` is the root an existing cluster's kubeconfig must be inside.
    pub async fn kubeconfig(
        &self,
        rendered: &RenderedCluster,
        gitfleet: &str,
        fleet_dir: &std::path::Path,
    ) -> Result<String, ProviderError> {
        Ok(self
            .kubeconfig_source(rendered, fleet_dir)
            .await?
            .text(gitfleet))
    }

    /// The cluster's kubeconfig before the exec plugin's command is chosen: one cloud call,
    /// however many variants are rendered from it.
    pub async fn kubeconfig_source(
        &self,
        rendered: &RenderedCluster,
        fleet_dir: &std::path::Path,
    ) -> Result<crate::kubeconfig::KubeconfigSource, ProviderError> {
        use crate::kubeconfig::KubeconfigSource;
        match self {
            #[cfg(feature = "azure")]
            Self::Aks(p) => p.kubeconfig(rendered).await.map(KubeconfigSource::Text),
            Self::Kind(p) => p.kubeconfig(&rendered.name).map(KubeconfigSource::Text),
            Self::Existing => {
                let crate::render::ProviderRequests::Existing { kubeconfig, .. } =
                    &rendered.requests
                else {
                    return Err(ProviderError::WrongProvider {
                        provider: rendered.provider,
                        cluster: rendered.name.clone(),
                    });
                };
                crate::kubeconfig::read_existing(kubeconfig.as_deref(), fleet_dir)
                    .map(|(_, text)| KubeconfigSource::Text(text))
                    .map_err(|message| ProviderError::Unavailable {
                        provider: rendered.provider,
                        message,
                    })
            }
            _ => Ok(KubeconfigSource::Access(
                self.access(rendered, "gitfleet").await?,
            )),
        }
    }

    /// Deletes the cluster if gitfleet created it; `Ok(false)` when it does not exist.
    pub async fn delete(
        &self,
        rendered: &RenderedCluster,
        fleet: &str,
        progress: &dyn Progress,
    ) -> Result<bool, ProviderError> {
        match self {
            Self::Offline(_) => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "offline: nothing can be changed".into(),
            }),
            #[cfg(feature = "aws")]
            Self::Eks(p) => p.delete_cluster(&rendered.name, fleet, progress).await,
            #[cfg(feature = "azure")]
            Self::Aks(p) => p.delete_cluster(rendered, fleet, progress).await,
            Self::Kind(p) => p.delete(&rendered.name),
            Self::Existing => Err(ProviderError::NotOwned {
                what: format!("existing cluster {}", rendered.name),
                remedy: None,
            }),
        }
    }

    /// Hands a cluster gitfleet did not create (and the named pools and add-ons in it) over to
    /// gitfleet by adding its ownership tags; nothing else changes.
    pub async fn adopt(
        &self,
        rendered: &RenderedCluster,
        fleet: &str,
        pools: &[String],
        addons: &[String],
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        match self {
            #[cfg(feature = "aws")]
            Self::Eks(p) => p.adopt(&rendered.name, fleet, pools, addons).await,
            #[cfg(feature = "azure")]
            Self::Aks(p) => p.adopt(rendered, fleet, pools, progress).await,
            Self::Offline(_) => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "offline: nothing can be changed".into(),
            }),
            Self::Kind(_) | Self::Existing => Err(ProviderError::Unavailable {
                provider: rendered.provider,
                message: "only EKS and AKS resources carry ownership tags to adopt".into(),
            }),
        }
    }

    /// Whether this is a cloud provider (EKS, AKS), whose API servers are often private.
    pub fn is_cloud(&self) -> bool {
        match self {
            #[cfg(feature = "aws")]
            Self::Eks(_) => true,
            #[cfg(feature = "azure")]
            Self::Aks(_) => true,
            _ => false,
        }
    }

    /// The cloud region the provider's client talks to, where it has one (EKS).
    pub fn region(&self) -> Option<String> {
        match self {
            #[cfg(feature = "aws")]
            Self::Eks(p) => Some(p.region().to_string()),
            _ => None,
        }
    }

    pub async fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> Result<Observed, ProviderError> {
        match self {
            Self::Offline(p) => p.observe(desired, rendered).await,
            #[cfg(feature = "aws")]
            Self::Eks(p) => p.observe(desired, &desired.fleet).await,
            #[cfg(feature = "azure")]
            Self::Aks(p) => p.observe(desired, rendered).await,
            Self::Kind(p) => p.observe(desired).await,
            Self::Existing => Ok(Observed::default()),
        }
    }
}

#[cfg(test)]
mod not_owned_tests {
    use super::ProviderError;

    #[test]
    fn a_refusal_to_delete_reads_as_one_sentence_with_the_remedy_last() {
        let e = ProviderError::NotOwned {
            what: "EKS node group general of cluster c01".into(),
            remedy: Some("delete it yourself first"),
        };
        assert_eq!(
            e.to_string(),
            "EKS node group general of cluster c01 does not carry gitfleet's ownership tags; \
             gitfleet never deletes what it did not create (delete it yourself first)"
        );
        let e = ProviderError::NotOwned {
            what: "EKS cluster c01".into(),
            remedy: None,
        };
        assert_eq!(
            e.to_string(),
            "EKS cluster c01 does not carry gitfleet's ownership tags; \
             gitfleet never deletes what it did not create"
        );
    }
}

#[cfg(test)]
mod api_error_tests {
    use super::{ProviderError, one_line};
    use crate::fleet::types::ProviderKind;

    #[test]
    fn one_line_collapses_whitespace_and_cuts_long_text() {
        assert_eq!(one_line("a\n  b\tc\r\n", 100), "a b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("äöüß", 4), "äöüß");
    }

    #[test]
    fn an_api_error_reads_status_code_message_then_hint() {
        let e = ProviderError::Api {
            provider: ProviderKind::Eks,
            operation: "DescribeCluster",
            status: Some(404),
            code: "ResourceNotFoundException".into(),
            message: "No cluster\nfound".into(),
            hint: Some("check the region".into()),
        };
        assert_eq!(
            e.to_string(),
            "eks DescribeCluster failed: HTTP 404 ResourceNotFoundException: No cluster found; hint: check the region"
        );
        let e = ProviderError::Api {
            provider: ProviderKind::Aks,
            operation: "ManagedClusters.Get",
            status: None,
            code: String::new(),
            message: "no answer: connection refused".into(),
            hint: None,
        };
        assert_eq!(
            e.to_string(),
            "aks ManagedClusters.Get failed: no answer: connection refused"
        );
    }
}
