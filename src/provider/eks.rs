//! The AWS EKS provider: observes clusters and managed node groups, and executes plan steps with
//! the official `aws-sdk-eks` client. SDK types stay in this file.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types as sdk;

pub use super::wait::WaitSettings;
use super::{Progress, ProviderError};
use crate::fleet::types::ProviderKind;
use crate::plan::{
    Action, Desired, Observed, ObservedAddon, ObservedControlPlane, ObservedPool, Step, Target,
};
use crate::render::{CLUSTER_KEY, FLEET_KEY, OWNER_KEY, ProviderRequests, RenderedCluster, eks};

/// Connection settings: region, optional endpoint override (emulators), retries.
#[derive(Debug, Clone)]
pub struct EksSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub wait: WaitSettings,
    /// Explicit credentials (tests); otherwise the standard chain.
    pub credentials: Option<aws_credential_types::Credentials>,
}

impl EksSettings {
    pub fn new(region: &str) -> Self {
        Self {
            region: region.to_string(),
            endpoint_url: None,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            wait: WaitSettings::default(),
            credentials: None,
        }
    }
}

type Requests<'a> = (
    &'a eks::CreateCluster,
    &'a [eks::CreateNodegroup],
    &'a [eks::CreateAddon],
);

pub struct EksProvider {
    client: Client,
    region: String,
    wait: WaitSettings,
}

/// The region of a cluster: its definition's, else the one the AWS tools use — `AWS_REGION`,
/// then `AWS_DEFAULT_REGION`, then the AWS profile's `region` (`AWS_PROFILE`, `AWS_CONFIG_FILE`
/// or `~/.aws/config`). Instance metadata is not asked: off EC2 that is a slow timeout.
pub async fn region_for(definition: Option<&str>, cluster: &str) -> Result<String, ProviderError> {
    use aws_config::meta::region::ProvideRegion;
    let unavailable = |message: String| ProviderError::Unavailable {
        provider: ProviderKind::Eks,
        message,
    };
    if let Some(region) = definition {
        return Ok(region.to_string());
    }
    let checked = |region: String, from: &str| {
        if crate::fleet::validate::is_aws_region(&region) {
            Ok(region)
        } else {
            Err(unavailable(format!(
                "{from} {region:?} (the region of cluster {cluster}, which names none) is not an AWS region; \
                 AWS regions look like eu-west-1"
            )))
        }
    };
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(region) = std::env::var(var)
            && !region.trim().is_empty()
        {
            return checked(region.trim().to_string(), var);
        }
    }
    let profile = aws_config::profile::ProfileFileRegionProvider::new();
    match profile.region().await {
        Some(region) => checked(region.to_string(), "the AWS profile's region"),
        None => Err(unavailable(format!(
            "no AWS region for cluster {cluster}: set spec.eks.region (in the cluster or in \
             fleet.yaml's defaults), AWS_REGION or AWS_DEFAULT_REGION, or `region` in the AWS \
             profile (AWS_PROFILE, ~/.aws/config)"
        ))),
    }
}

/// The one formatter of failed EKS calls: a single line with the operation, the HTTP status,
/// EKS's error code and message, and a hint. Never `DisplayErrorContext` (it appends the
/// error's `Debug`, e.g. `Unhandled(Unhandled { source: DeserializeError { … } })`), and
/// never a whole source chain: the credential chain's per-provider report becomes a list of
/// the providers tried.
fn api<E>(operation: &'static str, e: SdkError<E>) -> ProviderError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let raw = e.raw_response();
    let status = raw.map(|r| r.status().as_u16());
    let content_type = raw
        .and_then(|r| r.headers().get("content-type"))
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
    let unreadable = || match &content_type {
        Some(t) => format!("the endpoint answered with a {t} body, not an EKS error"),
        None => "the endpoint answered with a body that is not an EKS error".to_string(),
    };
    let (code, message, hint) = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or_default().to_string();
            let message = match err.message() {
                Some(m) => super::one_line(m, 300),
                None if code.is_empty() => unreadable(),
                None => String::new(),
            };
            let hint = code_hint(&code, operation)
                .or_else(|| status.and_then(super::status_hint).map(str::to_string));
            (code, message, hint)
        }
        SdkError::ResponseError(_) => (
            String::new(),
            unreadable(),
            Some("check --aws-endpoint-url / AWS_ENDPOINT_URL: it must be an EKS endpoint".into()),
        ),
        SdkError::TimeoutError(_) => (
            String::new(),
            "no answer in time".to_string(),
            Some("check the network path to the EKS endpoint; re-run to continue".into()),
        ),
        _ => match credentials_problem(&e) {
            Some(message) => (
                String::new(),
                message,
                Some(
                    "give gitfleet AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     AWS_PROFILE (after `aws sso login` for SSO), or web identity \
                     (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)"
                        .into(),
                ),
            ),
            None => (
                String::new(),
                format!("no answer: {}", causes(&e)),
                Some(
                    "check the network and the endpoint (--aws-endpoint-url, AWS_ENDPOINT_URL)"
                        .into(),
                ),
            ),
        },
    };
    ProviderError::Api {
        provider: ProviderKind::Eks,
        operation,
        status,
        code,
        message,
        hint,
    }
}

/// What to do about an EKS error code, when there is something better to say than the status.
fn code_hint(code: &str, operation: &str) -> Option<String> {
    Some(match code {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "ExpiredToken" => {
            "the AWS credentials were refused: check that they are valid and not expired".into()
        }
        "AccessDeniedException" | "AccessDenied" => {
            format!("the AWS identity lacks the IAM permission eks:{operation}")
        }
        "ThrottlingException" | "TooManyRequestsException" => {
            "AWS is throttling the account; re-run later or lower --parallel".into()
        }
        "ResourceInUseException" => {
            "another operation is in progress on the resource; wait and re-run".into()
        }
        "ResourceLimitExceededException" => {
            "an account quota is reached: raise it with AWS Service Quotas".into()
        }
        "InvalidParameterException" => {
            "EKS refused a value of the definition; fix it and run `gitfleet validate`".into()
        }
        "UnsupportedAvailabilityZoneException" => {
            "pick subnets in availability zones EKS supports".into()
        }
        "ServerException" | "ServiceUnavailableException" => {
            "EKS failed; re-run to continue (every step resumes)".into()
        }
        _ => return None,
    })
}

/// The error sources of `e`, outermost first.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// `no AWS credentials found (tried Environment, Profile, …)` when the call failed because the
/// credential chain had none; the providers' own long reports are left out. Also for the
/// `gitfleet token eks` plugin, which loads credentials itself.
pub fn credentials_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    for cause in chain(e) {
        if let Some(report) =
            cause.downcast_ref::<aws_config::meta::ProviderChainError<CredentialsError>>()
        {
            let tried: Vec<&str> = report.attempts().iter().map(|a| a.name()).collect();
            return Some(if tried.is_empty() {
                "no AWS credentials: no credential provider is configured".to_string()
            } else {
                format!("no AWS credentials found (tried {})", tried.join(", "))
            });
        }
    }
    let found = chain(e).find_map(|c| c.downcast_ref::<CredentialsError>())?;
    let detail = std::error::Error::source(found)
        .map(|s| format!(": {}", super::one_line(&s.to_string(), 200)))
        .unwrap_or_default();
    Some(format!("cannot load AWS credentials: {found}{detail}"))
}

/// The messages of `e`'s sources joined by `: ` (repeats dropped), on one bounded line.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain(e).skip(1) {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    super::one_line(&parts.join(": "), 300)
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn hash(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn sdk_taint(t: &eks::NodegroupTaint) -> sdk::Taint {
    sdk::Taint::builder()
        .key(&t.key)
        .set_value(t.value.clone())
        .effect(sdk::TaintEffect::from(enum_str(&t.effect).as_str()))
        .build()
}

fn taint_string(t: &sdk::Taint) -> String {
    let effect = t
        .effect()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    match t.value() {
        Some(v) => format!("{}={v}:{effect}", t.key().unwrap_or_default()),
        None => format!("{}:{effect}", t.key().unwrap_or_default()),
    }
}

/// A failed status with EKS's health issues, so the user sees why.
fn with_issues(
    status: &str,
    issues: impl Iterator<Item = (Option<String>, Option<String>)>,
) -> String {
    let issues: Vec<String> = issues
        .map(|(code, message)| match (code, message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            (None, Some(m)) => m,
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if issues.is_empty() {
        status.to_string()
    } else {
        format!("{status} ({})", issues.join("; "))
    }
}

fn tag_map(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Whether tags mark a resource as created by gitfleet for this cluster.
pub fn owned_by(
    tags: Option<&HashMap<String, String>>,
    fleet: Option<&str>,
    cluster: &str,
) -> bool {
    tags.is_some_and(|t| {
        t.get(OWNER_KEY).map(String::as_str) == Some("gitfleet")
            && t.get(CLUSTER_KEY).map(String::as_str) == Some(cluster)
            && fleet.is_none_or(|f| t.get(FLEET_KEY).map(String::as_str) == Some(f))
    })
}

impl EksProvider {
    /// A client from the standard AWS chain (environment, profiles, SSO, web identity).
    pub async fn connect(settings: &EksSettings) -> Self {
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(settings.max_attempts.max(1))
            .with_initial_backoff(settings.initial_backoff);
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .retry_config(retry);
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(creds) = &settings.credentials {
            loader = loader.credentials_provider(creds.clone());
        }
        let config = loader.load().await;
        Self {
            client: Client::new(&config),
            region: settings.region.clone(),
            wait: settings.wait,
        }
    }

    /// The region this client talks to.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn requests(rendered: &RenderedCluster) -> Result<Requests<'_>, ProviderError> {
        match &rendered.requests {
            ProviderRequests::Eks {
                create_cluster,
                nodegroups,
                addons,
                ..
            } => Ok((create_cluster, nodegroups, addons)),
            _ => Err(ProviderError::WrongProvider {
                provider: ProviderKind::Eks,
                cluster: rendered.name.clone(),
            }),
        }
    }

    async fn describe_cluster(&self, name: &str) -> Result<Option<sdk::Cluster>, ProviderError> {
        match self.client.describe_cluster().name(name).send().await {
            Ok(out) => Ok(out.cluster),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeCluster", e)),
        }
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        pool: &str,
    ) -> Result<Option<sdk::Nodegroup>, ProviderError> {
        match self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(pool)
            .send()
            .await
        {
            Ok(out) => Ok(out.nodegroup),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeNodegroup", e)),
        }
    }

    async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_nodegroups()
                .cluster_name(cluster)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| api("ListNodegroups", e))?;
            names.extend(out.nodegroups().iter().cloned());
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(names),
            }
        }
    }

    async fn list_addons(&self, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = match self
                .client
                .list_addons()
                .cluster_name(cluster)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    // An EKS-compatible endpoint without add-on support (moto answers 404
                    // without an EKS error type): no add-ons to observe.
                    let unsupported = e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                        && e.as_service_error().is_some_and(|s| s.code().is_none());
                    if unsupported {
                        // Once per process, not once per cluster.
                        static WARNED: std::sync::Once = std::sync::Once::new();
                        WARNED.call_once(|| {
                            tracing::warn!(
                                "the EKS endpoint does not support add-ons; treating them as absent"
                            );
                        });
                        return Ok(names);
                    }
                    return Err(api("ListAddons", e));
                }
            };
            names.extend(out.addons().iter().cloned());
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(names),
            }
        }
    }

    async fn describe_addon(
        &self,
        cluster: &str,
        addon: &str,
    ) -> Result<Option<sdk::Addon>, ProviderError> {
        match self
            .client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .send()
            .await
        {
            Ok(out) => Ok(out.addon),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeAddon", e)),
        }
    }

    async fn wait_addon(
        &self,
        cluster: &str,
        addon: &str,
        gone: bool,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let what = format!("add-on {addon}");
        self.wait_until(&what, progress, || async {
            let a = self.describe_addon(cluster, addon).await?;
            Ok(match a {
                None if gone => ("DELETED".to_string(), true, false),
                None => {
                    return Err(ProviderError::Missing {
                        what: format!("EKS add-on {addon}"),
                    });
                }
                Some(a) => {
                    let status = a
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default();
                    let failed = matches!(
                        status.as_str(),
                        "CREATE_FAILED" | "DEGRADED" | "DELETE_FAILED" | "UPDATE_FAILED"
                    );
                    (status.clone(), !gone && status == "ACTIVE", failed)
                }
            })
        })
        .await
    }

    /// Actual state of the cluster and its node groups; absent is `Observed::default()`.
    pub async fn observe(&self, desired: &Desired, fleet: &str) -> Result<Observed, ProviderError> {
        let name = &desired.cluster;
        let Some(cluster) = self.describe_cluster(name).await? else {
            return Ok(Observed::default());
        };
        let mut immutable = BTreeMap::new();
        if let Some(region) = desired.immutable.get("eks.region") {
            // The client is regional: a cluster found here is in this region.
            immutable.insert("eks.region".to_string(), region.clone());
        }
        if let Some(vpc) = cluster.resources_vpc_config() {
            immutable.insert("eks.subnetIds".to_string(), vpc.subnet_ids().join(","));
        }
        if let Some(role) = cluster.role_arn() {
            immutable.insert("eks.roleArn".to_string(), role.to_string());
        }
        let control_plane = ObservedControlPlane {
            owned: owned_by(cluster.tags(), Some(fleet), name),
            version: cluster.version().unwrap_or_default().to_string(),
            tags: tag_map(cluster.tags()),
            immutable,
        };
        let mut pools = Vec::new();
        for pool in self.list_nodegroups(name).await? {
            let Some(ng) = self.describe_nodegroup(name, &pool).await? else {
                continue;
            };
            let scaling = ng.scaling_config();
            let size = |f: fn(&sdk::NodegroupScalingConfig) -> Option<i32>| {
                scaling
                    .and_then(f)
                    .map_or(0, |n| u32::try_from(n).unwrap_or(0))
            };
            pools.push(ObservedPool {
                name: pool.clone(),
                instance_type: ng.instance_types().join(","),
                min: size(sdk::NodegroupScalingConfig::min_size),
                max: size(sdk::NodegroupScalingConfig::max_size),
                desired: size(sdk::NodegroupScalingConfig::desired_size),
                labels: ng
                    .labels()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                taints: ng.taints().iter().map(taint_string).collect(),
                version: ng.version().map(str::to_string),
                owned: owned_by(ng.tags(), Some(fleet), name),
                tags: tag_map(ng.tags()),
            });
        }
        let mut addons = Vec::new();
        for addon in self.list_addons(name).await? {
            let Some(a) = self.describe_addon(name, &addon).await? else {
                continue;
            };
            addons.push(ObservedAddon {
                name: addon.clone(),
                version: a.addon_version().map(str::to_string),
                owned: owned_by(a.tags(), Some(fleet), name),
                tags: tag_map(a.tags()),
            });
        }
        Ok(Observed {
            control_plane: Some(control_plane),
            pools,
            addons,
            ..Observed::default()
        })
    }

    /// Executes one provider step (control plane or node pool), waiting until EKS reports it done.
    pub async fn apply(
        &self,
        step: &Step,
        rendered: &RenderedCluster,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let (create_cluster, nodegroups, addons) = Self::requests(rendered)?;
        let cluster = &create_cluster.name;
        let to = || {
            step.changes
                .iter()
                .find(|c| c.field == "version")
                .and_then(|c| c.to.clone())
                .unwrap_or_else(|| create_cluster.version.clone())
        };
        // A run interrupted mid-wait leaves the cluster CREATING or UPDATING; EKS refuses other
        // changes until it settles, so every step but the create waits for ACTIVE first.
        if (step.action, step.target) != (Action::Create, Target::ControlPlane) {
            self.settle_cluster(cluster, progress).await?;
        }
        match (step.action, step.target) {
            (Action::Create, Target::ControlPlane) => {
                self.create_cluster(create_cluster).await?;
                self.wait_cluster(cluster, None, progress).await
            }
            (Action::Upgrade, Target::ControlPlane) => {
                let version = to();
                // An interrupted run may have started (or finished) this very upgrade.
                let current = self.describe_cluster(cluster).await?;
                if current.as_ref().and_then(|c| c.version()) != Some(version.as_str()) {
                    self.client
                        .update_cluster_version()
                        .name(cluster)
                        .version(&version)
                        .send()
                        .await
                        .map_err(|e| api("UpdateClusterVersion", e))?;
                }
                self.wait_cluster(cluster, Some(&version), progress).await
            }
            (Action::Update, Target::ControlPlane) => {
                let found = self.describe_cluster(cluster).await?.ok_or_else(|| {
                    ProviderError::Missing {
                        what: format!("EKS cluster {cluster}"),
                    }
                })?;
                let arn = found.arn().unwrap_or_default().to_string();
                self.retag(&arn, &step.changes).await
            }
            (Action::Create, Target::NodePool) => {
                let ng = nodegroups
                    .iter()
                    .find(|n| n.nodegroup_name == step.name)
                    .ok_or_else(|| ProviderError::Missing {
                        what: format!("rendered node group {}", step.name),
                    })?;
                self.create_nodegroup(ng).await?;
                self.wait_nodegroup(cluster, &step.name, None, progress)
                    .await
            }
            (Action::Update, Target::NodePool) => {
                let ng = nodegroups
                    .iter()
                    .find(|n| n.nodegroup_name == step.name)
                    .ok_or_else(|| ProviderError::Missing {
                        what: format!("rendered node group {}", step.name),
                    })?;
                self.settle_nodegroup(cluster, &step.name, progress).await?;
                if step.changes.iter().any(|c| !c.field.starts_with("tags.")) {
                    self.update_nodegroup(cluster, ng).await?;
                }
                if step.changes.iter().any(|c| c.field.starts_with("tags.")) {
                    let found = self
                        .describe_nodegroup(cluster, &step.name)
                        .await?
                        .ok_or_else(|| ProviderError::Missing {
                            what: format!("EKS node group {}", step.name),
                        })?;
                    self.retag(found.nodegroup_arn().unwrap_or_default(), &step.changes)
                        .await?;
                }
                self.wait_nodegroup(cluster, &step.name, None, progress)
                    .await
            }
            (Action::Upgrade, Target::NodePool) => {
                let version = to();
                self.settle_nodegroup(cluster, &step.name, progress).await?;
                let current = self.describe_nodegroup(cluster, &step.name).await?;
                if current.as_ref().and_then(|n| n.version()) == Some(version.as_str()) {
                    return Ok(());
                }
                self.client
                    .update_nodegroup_version()
                    .cluster_name(cluster)
                    .nodegroup_name(&step.name)
                    .version(&version)
                    .send()
                    .await
                    .map_err(|e| api("UpdateNodegroupVersion", e))?;
                self.wait_nodegroup(cluster, &step.name, Some(&version), progress)
                    .await
            }
            (Action::Create | Action::Update, Target::Addon) => {
                let addon = addons
                    .iter()
                    .find(|a| a.addon_name == step.name)
                    .ok_or_else(|| ProviderError::Missing {
                        what: format!("rendered add-on {}", step.name),
                    })?;
                if step.action == Action::Create {
                    let result = self
                        .client
                        .create_addon()
                        .cluster_name(cluster)
                        .addon_name(&addon.addon_name)
                        .set_addon_version(addon.addon_version.clone())
                        .set_service_account_role_arn(addon.service_account_role_arn.clone())
                        .set_resolve_conflicts(
                            addon
                                .resolve_conflicts
                                .as_ref()
                                .map(|r| sdk::ResolveConflicts::from(enum_str(r).as_str())),
                        )
                        .set_tags(hash(&addon.tags))
                        .send()
                        .await;
                    if let Err(e) = result
                        && !e
                            .as_service_error()
                            .is_some_and(|s| s.is_resource_in_use_exception())
                    {
                        return Err(api("CreateAddon", e));
                    }
                } else if step.changes.iter().any(|c| c.field == "version") {
                    self.client
                        .update_addon()
                        .cluster_name(cluster)
                        .addon_name(&addon.addon_name)
                        .set_addon_version(addon.addon_version.clone())
                        .set_service_account_role_arn(addon.service_account_role_arn.clone())
                        .set_resolve_conflicts(
                            addon
                                .resolve_conflicts
                                .as_ref()
                                .map(|r| sdk::ResolveConflicts::from(enum_str(r).as_str())),
                        )
                        .send()
                        .await
                        .map_err(|e| api("UpdateAddon", e))?;
                }
                if step.action == Action::Update
                    && step.changes.iter().any(|c| c.field.starts_with("tags."))
                {
                    let found =
                        self.describe_addon(cluster, &step.name)
                            .await?
                            .ok_or_else(|| ProviderError::Missing {
                                what: format!("EKS add-on {}", step.name),
                            })?;
                    self.retag(found.addon_arn().unwrap_or_default(), &step.changes)
                        .await?;
                }
                self.wait_addon(cluster, &step.name, false, progress).await
            }
            (Action::Delete, Target::Addon) => {
                let Some(found) = self.describe_addon(cluster, &step.name).await? else {
                    return Ok(());
                };
                if !owned_by(found.tags(), None, cluster) {
                    return Err(ProviderError::NotOwned {
                        what: format!("EKS add-on {} of cluster {cluster}", step.name),
                        remedy: None,
                    });
                }
                self.client
                    .delete_addon()
                    .cluster_name(cluster)
                    .addon_name(&step.name)
                    .send()
                    .await
                    .map_err(|e| api("DeleteAddon", e))?;
                self.wait_addon(cluster, &step.name, true, progress).await
            }
            (Action::Delete, Target::NodePool) => {
                self.delete_nodegroup(cluster, &step.name, None, progress)
                    .await
            }
            _ => Err(ProviderError::NotAProviderStep {
                step: step.to_string(),
            }),
        }
    }

    async fn create_cluster(&self, r: &eks::CreateCluster) -> Result<(), ProviderError> {
        let vpc = &r.resources_vpc_config;
        let mut req = self
            .client
            .create_cluster()
            .name(&r.name)
            .version(&r.version)
            .role_arn(&r.role_arn)
            .resources_vpc_config(
                sdk::VpcConfigRequest::builder()
                    .set_subnet_ids(Some(vpc.subnet_ids.clone()))
                    .set_security_group_ids(Some(vpc.security_group_ids.clone()))
                    .endpoint_public_access(vpc.endpoint_public_access)
                    .endpoint_private_access(vpc.endpoint_private_access)
                    .set_public_access_cidrs(
                        (!vpc.public_access_cidrs.is_empty())
                            .then(|| vpc.public_access_cidrs.clone()),
                    )
                    .build(),
            )
            .set_tags(hash(&r.tags));
        if let Some(logging) = &r.logging {
            let mut b = sdk::Logging::builder();
            for setup in &logging.cluster_logging {
                b = b.cluster_logging(
                    sdk::LogSetup::builder()
                        .set_types(Some(
                            setup
                                .types
                                .iter()
                                .map(|t| sdk::LogType::from(enum_str(t).as_str()))
                                .collect(),
                        ))
                        .enabled(setup.enabled)
                        .build(),
                );
            }
            req = req.logging(b.build());
        }
        if let Some(access) = &r.access_config {
            req = req.access_config(
                sdk::CreateAccessConfigRequest::builder()
                    .authentication_mode(sdk::AuthenticationMode::from(
                        enum_str(&access.authentication_mode).as_str(),
                    ))
                    .set_bootstrap_cluster_creator_admin_permissions(
                        access.bootstrap_cluster_creator_admin_permissions,
                    )
                    .build(),
            );
        }
        if let Some(net) = &r.kubernetes_network_config {
            req = req.kubernetes_network_config(
                sdk::KubernetesNetworkConfigRequest::builder()
                    .set_service_ipv4_cidr(net.service_ipv4_cidr.clone())
                    .set_ip_family(
                        net.ip_family
                            .as_ref()
                            .map(|f| sdk::IpFamily::from(enum_str(f).as_str())),
                    )
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            // An interrupted earlier run may have sent it already: continue by waiting.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(api("CreateCluster", e)),
        }
    }

    async fn create_nodegroup(&self, r: &eks::CreateNodegroup) -> Result<(), ProviderError> {
        let result = self
            .client
            .create_nodegroup()
            .cluster_name(&r.cluster_name)
            .nodegroup_name(&r.nodegroup_name)
            .scaling_config(
                sdk::NodegroupScalingConfig::builder()
                    .min_size(to_i32(r.scaling_config.min_size))
                    .max_size(to_i32(r.scaling_config.max_size))
                    .desired_size(to_i32(r.scaling_config.desired_size))
                    .build(),
            )
            .set_subnets(Some(r.subnets.clone()))
            .set_instance_types(Some(r.instance_types.clone()))
            .node_role(&r.node_role)
            .set_disk_size(r.disk_size.map(to_i32))
            .set_ami_type(r.ami_type.as_deref().map(sdk::AmiTypes::from))
            .set_capacity_type(
                r.capacity_type
                    .as_ref()
                    .map(|c| sdk::CapacityTypes::from(enum_str(c).as_str())),
            )
            .set_version(r.version.clone())
            .set_labels(hash(&r.labels))
            .set_taints(Some(r.taints.iter().map(sdk_taint).collect()))
            .set_tags(hash(&r.tags))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(api("CreateNodegroup", e)),
        }
    }

    /// Carries out a step's `tags.*` changes on the resource `arn`: TagResource for the added
    /// and changed tags, UntagResource for the removed ones (which the plan only lists when
    /// gitfleet's record says it set them).
    async fn retag(&self, arn: &str, changes: &[crate::plan::Change]) -> Result<(), ProviderError> {
        let mut add = HashMap::new();
        let mut remove = Vec::new();
        for c in changes {
            let Some(key) = c.field.strip_prefix("tags.") else {
                continue;
            };
            match &c.to {
                Some(v) => {
                    add.insert(key.to_string(), v.clone());
                }
                None => remove.push(key.to_string()),
            }
        }
        if !add.is_empty() {
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(add))
                .send()
                .await
                .map_err(|e| api("TagResource", e))?;
        }
        if !remove.is_empty() {
            self.client
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| api("UntagResource", e))?;
        }
        Ok(())
    }

    async fn update_nodegroup(
        &self,
        cluster: &str,
        r: &eks::CreateNodegroup,
    ) -> Result<(), ProviderError> {
        let current = self
            .describe_nodegroup(cluster, &r.nodegroup_name)
            .await?
            .ok_or_else(|| ProviderError::Missing {
                what: format!("EKS node group {}", r.nodegroup_name),
            })?;
        // only labels and taints gitfleet set (listed in the node group's records) are removed
        let tags: std::collections::BTreeMap<String, String> = current
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let managed_labels =
            crate::render::tags::recorded_in(crate::render::tags::MANAGED_LABELS_KEY, &tags);
        let managed_taints =
            crate::render::tags::recorded_in(crate::render::tags::MANAGED_TAINTS_KEY, &tags);
        let have_labels = current.labels().cloned().unwrap_or_default();
        let remove_labels: Vec<String> = have_labels
            .keys()
            .filter(|k| !r.labels.contains_key(*k) && managed_labels.contains(*k))
            .cloned()
            .collect();
        let want_taints: Vec<sdk::Taint> = r.taints.iter().map(sdk_taint).collect();
        let remove_taints: Vec<sdk::Taint> = current
            .taints()
            .iter()
            .filter(|t| {
                !want_taints.iter().any(|w| w.key() == t.key())
                    && managed_taints.contains(t.key().unwrap_or_default())
            })
            .cloned()
            .collect();
        self.client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(&r.nodegroup_name)
            .scaling_config(
                sdk::NodegroupScalingConfig::builder()
                    .min_size(to_i32(r.scaling_config.min_size))
                    .max_size(to_i32(r.scaling_config.max_size))
                    .desired_size(to_i32(r.scaling_config.desired_size))
                    .build(),
            )
            .labels(
                sdk::UpdateLabelsPayload::builder()
                    .set_add_or_update_labels(hash(&r.labels))
                    .set_remove_labels((!remove_labels.is_empty()).then_some(remove_labels))
                    .build(),
            )
            .taints(
                sdk::UpdateTaintsPayload::builder()
                    .set_add_or_update_taints(Some(want_taints))
                    .set_remove_taints((!remove_taints.is_empty()).then_some(remove_taints))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api("UpdateNodegroupConfig", e))?;
        Ok(())
    }

    /// `adopt`: adds gitfleet's ownership tags (and nothing else) to the cluster and to the
    /// named node groups and add-ons, which the user chose to hand over to gitfleet.
    pub async fn adopt(
        &self,
        cluster: &str,
        fleet: &str,
        pools: &[String],
        addons: &[String],
    ) -> Result<(), ProviderError> {
        let tags: HashMap<String, String> = [
            (OWNER_KEY.to_string(), "gitfleet".to_string()),
            (FLEET_KEY.to_string(), fleet.to_string()),
            (CLUSTER_KEY.to_string(), cluster.to_string()),
        ]
        .into();
        let missing = |what: String| ProviderError::Missing { what };
        let mut arns = Vec::new();
        let found = self
            .describe_cluster(cluster)
            .await?
            .ok_or_else(|| missing(format!("EKS cluster {cluster}")))?;
        arns.push(found.arn().unwrap_or_default().to_string());
        for pool in pools {
            let ng = self
                .describe_nodegroup(cluster, pool)
                .await?
                .ok_or_else(|| missing(format!("EKS node group {pool} of cluster {cluster}")))?;
            arns.push(ng.nodegroup_arn().unwrap_or_default().to_string());
        }
        for addon in addons {
            let a = self
                .describe_addon(cluster, addon)
                .await?
                .ok_or_else(|| missing(format!("EKS add-on {addon} of cluster {cluster}")))?;
            arns.push(a.addon_arn().unwrap_or_default().to_string());
        }
        for arn in arns {
            self.client
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| api("TagResource", e))?;
        }
        Ok(())
    }

    /// Deletes a node group, only when it carries gitfleet's ownership tags for this cluster.
    pub async fn delete_nodegroup(
        &self,
        cluster: &str,
        pool: &str,
        fleet: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let Some(ng) = self.describe_nodegroup(cluster, pool).await? else {
            return Ok(());
        };
        if !owned_by(ng.tags(), fleet, cluster) {
            return Err(ProviderError::NotOwned {
                what: format!("EKS node group {pool} of cluster {cluster}"),
                remedy: None,
            });
        }
        if ng.status() != Some(&sdk::NodegroupStatus::Deleting) {
            self.client
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(pool)
                .send()
                .await
                .map_err(|e| api("DeleteNodegroup", e))?;
        }
        self.wait_gone(&format!("node group {pool}"), progress, || async {
            Ok(self.describe_nodegroup(cluster, pool).await?.map(|n| {
                n.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            }))
        })
        .await
    }

    /// `down`: deletes the cluster's owned node groups, then the cluster, only when gitfleet
    /// created it (ownership tags). Refuses, changing nothing, when the cluster is not owned.
    pub async fn delete_cluster(
        &self,
        cluster: &str,
        fleet: &str,
        progress: &dyn Progress,
    ) -> Result<bool, ProviderError> {
        let Some(found) = self.describe_cluster(cluster).await? else {
            return Ok(false);
        };
        if !owned_by(found.tags(), Some(fleet), cluster) {
            return Err(ProviderError::NotOwned {
                what: format!("EKS cluster {cluster}"),
                remedy: None,
            });
        }
        for pool in self.list_nodegroups(cluster).await? {
            let ng = self.describe_nodegroup(cluster, &pool).await?;
            if ng
                .as_ref()
                .is_some_and(|n| !owned_by(n.tags(), Some(fleet), cluster))
            {
                return Err(ProviderError::NotOwned {
                    what: format!("EKS node group {pool} of cluster {cluster}"),
                    remedy: Some("delete it yourself first"),
                });
            }
        }
        for pool in self.list_nodegroups(cluster).await? {
            self.delete_nodegroup(cluster, &pool, Some(fleet), progress)
                .await?;
        }
        if found.status() != Some(&sdk::ClusterStatus::Deleting) {
            self.client
                .delete_cluster()
                .name(cluster)
                .send()
                .await
                .map_err(|e| api("DeleteCluster", e))?;
        }
        self.wait_gone(&format!("cluster {cluster}"), progress, || async {
            Ok(self.describe_cluster(cluster).await?.map(|c| {
                c.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            }))
        })
        .await?;
        Ok(true)
    }

    /// Waits (with progress) only when the cluster is in a transition, e.g. left CREATING or
    /// UPDATING by an interrupted run; an ACTIVE cluster costs one describe and no output.
    async fn settle_cluster(
        &self,
        cluster: &str,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let status = self
            .describe_cluster(cluster)
            .await?
            .and_then(|c| c.status().cloned());
        if status == Some(sdk::ClusterStatus::Active) {
            return Ok(());
        }
        self.wait_cluster(cluster, None, progress).await
    }

    async fn settle_nodegroup(
        &self,
        cluster: &str,
        pool: &str,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let status = self
            .describe_nodegroup(cluster, pool)
            .await?
            .and_then(|n| n.status().cloned());
        if status == Some(sdk::NodegroupStatus::Active) {
            return Ok(());
        }
        self.wait_nodegroup(cluster, pool, None, progress).await
    }

    async fn wait_cluster(
        &self,
        cluster: &str,
        version: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let what = format!("cluster {cluster}");
        self.wait_until(&what, progress, || async {
            let c =
                self.describe_cluster(cluster)
                    .await?
                    .ok_or_else(|| ProviderError::Missing {
                        what: format!("EKS cluster {cluster}"),
                    })?;
            let status = c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let at_version = version.is_none_or(|v| c.version() == Some(v));
            let failed = status == "FAILED";
            let shown = if failed {
                with_issues(
                    &status,
                    c.health()
                        .map(|h| h.issues())
                        .unwrap_or_default()
                        .iter()
                        .map(|i| {
                            (
                                i.code().map(|c| c.as_str().to_string()),
                                i.message().map(str::to_string),
                            )
                        }),
                )
            } else {
                status.clone()
            };
            Ok((shown, status == "ACTIVE" && at_version, failed))
        })
        .await
    }

    async fn wait_nodegroup(
        &self,
        cluster: &str,
        pool: &str,
        version: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let what = format!("node group {pool}");
        self.wait_until(&what, progress, || async {
            let n = self
                .describe_nodegroup(cluster, pool)
                .await?
                .ok_or_else(|| ProviderError::Missing {
                    what: format!("EKS node group {pool}"),
                })?;
            let status = n
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let at_version = version.is_none_or(|v| n.version() == Some(v));
            let failed = matches!(
                status.as_str(),
                "CREATE_FAILED" | "DEGRADED" | "DELETE_FAILED"
            );
            let shown = if failed {
                with_issues(
                    &status,
                    n.health()
                        .map(|h| h.issues())
                        .unwrap_or_default()
                        .iter()
                        .map(|i| {
                            (
                                i.code().map(|c| c.as_str().to_string()),
                                i.message().map(str::to_string),
                            )
                        }),
                )
            } else {
                status.clone()
            };
            Ok((shown, status == "ACTIVE" && at_version, failed))
        })
        .await
    }

    async fn wait_until<F, Fut>(
        &self,
        what: &str,
        progress: &dyn Progress,
        check: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(String, bool, bool), ProviderError>>,
    {
        super::wait::until("EKS", what, self.wait, progress, check).await
    }

    async fn wait_gone<F, Fut>(
        &self,
        what: &str,
        progress: &dyn Progress,
        status: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<String>, ProviderError>>,
    {
        self.wait_until(what, progress, || async {
            Ok(match status().await? {
                None => ("DELETED".to_string(), true, false),
                Some(s) => {
                    let failed = s == "DELETE_FAILED" || s == "FAILED";
                    (s, false, failed)
                }
            })
        })
        .await
    }

    /// Endpoint and CA of an ACTIVE cluster, for the kubeconfig.
    pub async fn endpoint(&self, cluster: &str) -> Result<(String, String), ProviderError> {
        let c = self
            .describe_cluster(cluster)
            .await?
            .ok_or_else(|| ProviderError::Missing {
                what: format!("EKS cluster {cluster}"),
            })?;
        let endpoint = c.endpoint().unwrap_or_default().to_string();
        let ca = c
            .certificate_authority()
            .and_then(|ca| ca.data())
            .unwrap_or_default()
            .to_string();
        Ok((endpoint, ca))
    }
}
