//! The Azure AKS provider: observes managed clusters and agent pools and executes plan steps with
//! `azure_mgmt_containerservice` (api-version 2023-01-02-preview). The crate has no poller for
//! long-running operations, so every PUT/DELETE is followed by polling the resource until its
//! provisioningState is terminal (or it is gone). Azure types stay in this file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azure_core::auth::{AccessToken, TokenCredential, TokenResponse};
use azure_mgmt_containerservice::package_preview_2023_01::{Client, models};
use serde_json::{Value as J, json};

use super::wait::WaitSettings;
use super::{Progress, ProviderError};
use crate::fleet::types::ProviderKind;
use crate::plan::{Action, Desired, Observed, ObservedControlPlane, ObservedPool, Step, Target};
use crate::render::aks::{arm_tag_names, as_sent};
use crate::render::{CLUSTER_KEY, FLEET_KEY, OWNER_KEY, ProviderRequests, RenderedCluster, aks};

const SCOPE: &str = "https://management.azure.com/.default";
const RESOURCE_GROUP_API: &str = "2021-04-01";

#[derive(Clone)]
pub struct AksSettings {
    /// ARM endpoint (default `https://management.azure.com`).
    pub endpoint: Option<String>,
    /// Explicit credential (tests); otherwise the environment chain (see [`credential_from_env`]).
    pub credential: Option<Arc<dyn TokenCredential>>,
    /// Retries on 429/5xx (azure_core's exponential policy); 0 disables them.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub wait: WaitSettings,
}

impl Default for AksSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            credential: None,
            max_retries: 6,
            initial_backoff: Duration::from_secs(2),
            wait: WaitSettings::default(),
        }
    }
}

/// Credentials as Azure tools find them: a federated token file (workload identity, CI with
/// OIDC), then client secret / managed identity / Azure CLI login (azure_identity's chain).
pub fn credential_from_env() -> Arc<dyn TokenCredential> {
    if let (Ok(file), Ok(client), Ok(tenant)) = (
        std::env::var("AZURE_FEDERATED_TOKEN_FILE"),
        std::env::var("AZURE_CLIENT_ID"),
        std::env::var("AZURE_TENANT_ID"),
    ) {
        let authority = std::env::var("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|_| "https://login.microsoftonline.com".into());
        return Arc::new(WorkloadIdentity {
            token_file: file.into(),
            client_id: client,
            tenant_id: tenant,
            authority: authority.trim_end_matches('/').to_string(),
        });
    }
    Arc::new(azure_identity::DefaultAzureCredential::default())
}

/// Workload identity federation: exchanges the projected service-account (or CI OIDC) token in
/// `AZURE_FEDERATED_TOKEN_FILE` for an ARM token (azure_identity 0.10 has no such credential).
pub struct WorkloadIdentity {
    token_file: std::path::PathBuf,
    client_id: String,
    tenant_id: String,
    authority: String,
}

#[async_trait::async_trait]
impl TokenCredential for WorkloadIdentity {
    async fn get_token(&self, resource: &str) -> azure_core::Result<TokenResponse> {
        let assertion = std::fs::read_to_string(&self.token_file).map_err(|e| {
            azure_core::Error::full(
                azure_core::error::ErrorKind::Credential,
                e,
                format!(
                    "reading the federated token file {}",
                    self.token_file.display()
                ),
            )
        })?;
        let url = azure_core::Url::parse(&format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority, self.tenant_id
        ))?;
        let scope = if resource.ends_with("/.default") {
            resource.to_string()
        } else {
            format!("{}/.default", resource.trim_end_matches('/'))
        };
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &scope)
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", assertion.trim())
            .finish();
        let mut req = azure_core::Request::new(url, azure_core::Method::Post);
        req.insert_header(
            azure_core::headers::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
        req.set_body(form);
        let rsp = azure_core::new_http_client().execute_request(&req).await?;
        let status = rsp.status();
        let body = rsp.into_body().collect().await?;
        if !status.is_success() {
            return Err(azure_core::Error::message(
                azure_core::error::ErrorKind::Credential,
                format!(
                    "workload identity token exchange failed with HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            ));
        }
        let v: J = serde_json::from_slice(&body)?;
        let token = v["access_token"].as_str().unwrap_or_default().to_string();
        let expires_in = v["expires_in"].as_i64().unwrap_or(3600);
        Ok(TokenResponse::new(
            AccessToken::new(token),
            time::OffsetDateTime::now_utc() + time::Duration::seconds(expires_in),
        ))
    }
}

pub struct AksProvider {
    client: Client,
    credential: Arc<dyn TokenCredential>,
    endpoint: String,
    wait: WaitSettings,
    max_retries: u32,
    initial_backoff: Duration,
}

/// Where a cluster lives, and its rendered request bodies.
struct Place<'a> {
    subscription: String,
    group: &'a str,
    cluster: &'a str,
    body: &'a aks::ManagedCluster,
    pools: &'a [(String, aks::AgentPool)],
    resource_group: Option<&'a aks::ResourceGroup>,
}

/// The one formatter of failed ARM calls: a single line with the operation, the HTTP status,
/// ARM's error code and message, and a hint. Bodies are never quoted (a credentials answer
/// holds a kubeconfig), and the credential chain's multi-line report becomes one line.
fn api(operation: &'static str, e: azure_core::Error) -> ProviderError {
    use azure_core::error::ErrorKind;
    let (status, code, message, hint) = match e.as_http_error() {
        Some(h) => {
            let status = h.status() as u16;
            let code = h.error_code().unwrap_or_default().to_string();
            let message = match h.error_message() {
                Some(m) => super::one_line(m, 300),
                None if code.is_empty() => {
                    "the endpoint answered with a body that is not an ARM error".to_string()
                }
                None => String::new(),
            };
            let hint = arm_hint(status, &code);
            (Some(status), code, message, hint)
        }
        None => match e.kind() {
            ErrorKind::Credential => (
                None,
                String::new(),
                credential_problem(&e.to_string()),
                Some(
                    "give gitfleet Azure credentials: AZURE_TENANT_ID + AZURE_CLIENT_ID with \
                     AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, a managed identity, or `az login`"
                        .to_string(),
                ),
            ),
            ErrorKind::DataConversion => (
                None,
                String::new(),
                format!("the answer could not be read: {}", super::one_line(&e.to_string(), 200)),
                Some("check --azure-endpoint: it must be an Azure Resource Manager endpoint".into()),
            ),
            _ => (
                None,
                String::new(),
                format!("no answer: {}", causes(&e)),
                Some("check the network and the endpoint (--azure-endpoint)".into()),
            ),
        },
    };
    ProviderError::Api {
        provider: ProviderKind::Aks,
        operation,
        status,
        code,
        message,
        hint,
    }
}

/// A failed ARM call made without the generated client (resource groups): status and the
/// `{"error": {"code", "message"}}` body.
fn arm_error(operation: &'static str, status: u16, body: &J) -> ProviderError {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = match body["error"]["message"].as_str() {
        Some(m) => super::one_line(m, 300),
        None if code.is_empty() => {
            "the endpoint answered with a body that is not an ARM error".to_string()
        }
        None => String::new(),
    };
    ProviderError::Api {
        provider: ProviderKind::Aks,
        operation,
        status: Some(status),
        hint: arm_hint(status, &code),
        code,
        message,
    }
}

/// What to do about an ARM error code (else: what the status suggests).
fn arm_hint(status: u16, code: &str) -> Option<String> {
    let hint = match code {
        "InvalidAuthenticationToken" | "ExpiredAuthenticationToken" | "AuthenticationFailed" => {
            "the Azure credentials were refused: check that they are valid and not expired"
        }
        "AuthorizationFailed" | "LinkedAuthorizationFailed" => {
            "the Azure identity lacks a role assignment for this call (e.g. Contributor on the resource group)"
        }
        "ResourceGroupNotFound" => {
            "create the resource group, or set spec.aks.createResourceGroup: true"
        }
        "SubscriptionNotFound" | "InvalidSubscriptionId" => {
            "check spec.aks.subscriptionId (or AZURE_SUBSCRIPTION_ID)"
        }
        "MissingSubscriptionRegistration" => {
            "register the resource provider: az provider register --namespace Microsoft.ContainerService"
        }
        "QuotaExceeded" | "OperationNotAllowed" => {
            "a subscription quota is reached: raise it in the Azure portal (Quotas)"
        }
        "AnotherOperationInProgress" | "Conflict" => {
            "another operation is in progress on the resource; wait and re-run"
        }
        "InvalidParameter" | "BadRequest" | "InvalidTemplate" => {
            "ARM refused a value of the definition; fix it and run `gitfleet validate`"
        }
        _ => return super::status_hint(status).map(str::to_string),
    };
    Some(hint.to_string())
}

/// `DefaultAzureCredential`'s multi-line report ("Multiple errors were encountered …" and one
/// line per credential tried) on one line, each credential's reason cut short.
fn credential_problem(report: &str) -> String {
    let mut lines = report.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let rest: Vec<String> = lines.map(|l| super::one_line(l, 100)).collect();
    if first.starts_with("Multiple errors") && !rest.is_empty() {
        super::one_line(
            &format!("no Azure credentials found: {}", rest.join("; ")),
            400,
        )
    } else {
        super::one_line(&format!("cannot get an Azure token: {report}"), 400)
    }
}

/// An error's message and its sources', joined by `: ` (repeats dropped), on one bounded line.
fn causes(e: &azure_core::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    super::one_line(&parts.join(": "), 300)
}

/// ARM's "no such resource": a 404 with an ARM error code (`ResourceNotFound`, …). A 404
/// without one is some other server (a wrong endpoint, a proxy's HTML page), never "absent".
fn is_not_found(e: &azure_core::Error) -> bool {
    e.as_http_error()
        .is_some_and(|h| h.status() == azure_core::StatusCode::NotFound && h.error_code().is_some())
}

fn string_map(v: &J) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn owned(tags: &J, fleet: Option<&str>, cluster: &str) -> bool {
    let t = string_map(tags);
    t.get(OWNER_KEY).map(String::as_str) == Some("gitfleet")
        && t.get(CLUSTER_KEY).map(String::as_str) == Some(cluster)
        && fleet.is_none_or(|f| t.get(FLEET_KEY).map(String::as_str) == Some(f))
}

fn u32_of(v: &J) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Observed pool from an agent pool's `properties`.
fn observed_pool(name: &str, p: &J, fleet: &str, cluster: &str) -> ObservedPool {
    let count = u32_of(&p["count"]);
    let auto = p["enableAutoScaling"].as_bool().unwrap_or(false);
    ObservedPool {
        name: name.to_string(),
        instance_type: p["vmSize"].as_str().unwrap_or_default().to_string(),
        min: if auto { u32_of(&p["minCount"]) } else { count },
        max: if auto { u32_of(&p["maxCount"]) } else { count },
        desired: count,
        labels: string_map(&p["nodeLabels"]),
        taints: p["nodeTaints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        version: p["currentOrchestratorVersion"]
            .as_str()
            .or_else(|| p["orchestratorVersion"].as_str())
            .map(minor_of),
        owned: owned(&p["tags"], Some(fleet), cluster),
        tags: string_map(&p["tags"]),
    }
}

/// "1.30.2" → "1.30": plans compare minor versions.
fn minor_of(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

impl AksProvider {
    pub fn connect(settings: &AksSettings) -> Self {
        let credential = settings
            .credential
            .clone()
            .unwrap_or_else(credential_from_env);
        let endpoint = settings
            .endpoint
            .clone()
            .unwrap_or_else(|| "https://management.azure.com".into())
            .trim_end_matches('/')
            .to_string();
        let retry = if settings.max_retries == 0 {
            azure_core::RetryOptions::none()
        } else {
            tokio_retry(settings.max_retries, settings.initial_backoff)
        };
        let client = Client::builder(credential.clone())
            .endpoint(endpoint.clone())
            .scopes(&[SCOPE])
            .retry(retry)
            .build();
        Self {
            client,
            credential,
            endpoint,
            wait: settings.wait,
            max_retries: settings.max_retries,
            initial_backoff: settings.initial_backoff,
        }
    }

    fn place(rendered: &RenderedCluster) -> Result<Place<'_>, ProviderError> {
        match &rendered.requests {
            ProviderRequests::Aks {
                subscription_id,
                resource_group_name,
                resource_group,
                cluster_name,
                managed_cluster,
                agent_pools,
            } => {
                let subscription = subscription_id
                    .clone()
                    .or_else(|| std::env::var("AZURE_SUBSCRIPTION_ID").ok())
                    .ok_or_else(|| ProviderError::Unavailable {
                        provider: ProviderKind::Aks,
                        message: format!(
                            "no subscription for cluster {}: set spec.aks.subscriptionId or AZURE_SUBSCRIPTION_ID",
                            rendered.name
                        ),
                    })?;
                Ok(Place {
                    subscription,
                    group: resource_group_name,
                    cluster: cluster_name,
                    body: managed_cluster,
                    pools: agent_pools,
                    resource_group: resource_group.as_ref(),
                })
            }
            _ => Err(ProviderError::WrongProvider {
                provider: ProviderKind::Aks,
                cluster: rendered.name.clone(),
            }),
        }
    }

    async fn get_cluster(&self, p: &Place<'_>) -> Result<Option<J>, ProviderError> {
        match self
            .client
            .managed_clusters_client()
            .get(&p.subscription, p.group, p.cluster)
            .await
        {
            Ok(mc) => {
                let mut v = serde_json::to_value(mc).unwrap_or(J::Null);
                arm_tag_names(&mut v, false);
                Ok(Some(v))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api("ManagedClusters.Get", e)),
        }
    }

    async fn get_pool(&self, p: &Place<'_>, pool: &str) -> Result<Option<J>, ProviderError> {
        match self
            .client
            .agent_pools_client()
            .get(&p.subscription, p.group, p.cluster, pool)
            .await
        {
            Ok(ap) => {
                let mut v = serde_json::to_value(ap).unwrap_or(J::Null);
                arm_tag_names(&mut v, false);
                Ok(Some(v))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api("AgentPools.Get", e)),
        }
    }

    async fn list_pools(&self, p: &Place<'_>) -> Result<Vec<J>, ProviderError> {
        use futures::StreamExt;
        let mut out = Vec::new();
        let mut pages = self
            .client
            .agent_pools_client()
            .list(&p.subscription, p.group, p.cluster)
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api("AgentPools.List", e))?;
            for pool in page.value {
                let mut v = serde_json::to_value(pool).unwrap_or(J::Null);
                arm_tag_names(&mut v, false);
                out.push(v);
            }
        }
        Ok(out)
    }

    /// A raw ARM call for what the container service crate does not cover (resource groups),
    /// retried on 429 and 5xx with backoff, honouring `Retry-After` (capped at a minute).
    async fn arm(
        &self,
        method: azure_core::Method,
        path: &str,
        body: Option<&J>,
    ) -> Result<(u16, J), ProviderError> {
        let url = azure_core::Url::parse(&format!(
            "{}{path}?api-version={RESOURCE_GROUP_API}",
            self.endpoint
        ))
        .map_err(|e| api("ResourceGroups", e.into()))?;
        let http = azure_core::new_http_client();
        let mut attempt = 0;
        loop {
            let token = self
                .credential
                .get_token(SCOPE)
                .await
                .map_err(|e| api("ResourceGroups", e))?;
            let mut req = azure_core::Request::new(url.clone(), method);
            req.insert_header(
                azure_core::headers::AUTHORIZATION,
                format!("Bearer {}", token.token.secret()),
            );
            if let Some(b) = body {
                req.insert_header(azure_core::headers::CONTENT_TYPE, "application/json");
                req.set_body(serde_json::to_vec(b).unwrap_or_default());
            }
            let rsp = http
                .execute_request(&req)
                .await
                .map_err(|e| api("ResourceGroups", e))?;
            let status = rsp.status() as u16;
            let retry_after = rsp
                .headers()
                .get_optional_string(&azure_core::headers::RETRY_AFTER)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(60)));
            let bytes = rsp
                .into_body()
                .collect()
                .await
                .map_err(|e| api("ResourceGroups", e))?;
            let retryable = status == 429 || (500..600).contains(&status);
            if retryable && attempt < self.max_retries {
                let backoff = self.initial_backoff * 2u32.saturating_pow(attempt);
                tokio::time::sleep(retry_after.unwrap_or(backoff).max(self.initial_backoff)).await;
                attempt += 1;
                continue;
            }
            let v = serde_json::from_slice(&bytes).unwrap_or(J::Null);
            return Ok((status, v));
        }
    }

    /// Actual state: resource group, managed cluster and agent pools; absent is normal.
    pub async fn observe(
        &self,
        desired: &Desired,
        rendered: &RenderedCluster,
    ) -> Result<Observed, ProviderError> {
        let place = Self::place(rendered)?;
        let mut observed = Observed::default();
        if place.resource_group.is_some() {
            let (status, v) = self
                .arm(
                    azure_core::Method::Get,
                    &format!(
                        "/subscriptions/{}/resourcegroups/{}",
                        place.subscription, place.group
                    ),
                    None,
                )
                .await?;
            match status {
                200 => observed.resource_group = Some(true),
                404 => {
                    observed.resource_group = Some(false);
                    return Ok(observed);
                }
                _ => return Err(arm_error("ResourceGroups.Get", status, &v)),
            }
        }
        let Some(mc) = self.get_cluster(&place).await? else {
            return Ok(observed);
        };
        let props = &mc["properties"];
        let version = props["currentKubernetesVersion"]
            .as_str()
            .or_else(|| props["kubernetesVersion"].as_str())
            .map(minor_of)
            .unwrap_or_default();
        let mut immutable = BTreeMap::new();
        if let Some(l) = mc["location"].as_str() {
            immutable.insert("aks.location".to_string(), l.to_string());
        }
        if let Some(d) = props["dnsPrefix"].as_str() {
            immutable.insert("aks.dnsPrefix".to_string(), d.to_string());
        }
        observed.control_plane = Some(ObservedControlPlane {
            owned: owned(&mc["tags"], Some(&desired.fleet), place.cluster),
            version,
            tags: string_map(&mc["tags"]),
            immutable,
        });
        for pool in self.list_pools(&place).await? {
            let name = pool["name"].as_str().unwrap_or_default().to_string();
            observed.pools.push(observed_pool(
                &name,
                &pool["properties"],
                &desired.fleet,
                place.cluster,
            ));
        }
        Ok(observed)
    }

    /// Executes one provider step and waits for ARM to finish it.
    pub async fn apply(
        &self,
        step: &Step,
        rendered: &RenderedCluster,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let place = Self::place(rendered)?;
        let (body, pools, rg) = (place.body, place.pools, place.resource_group);
        match (step.action, step.target) {
            (Action::Create, Target::ResourceGroup) => {
                let rg = rg.ok_or_else(|| ProviderError::Missing {
                    what: "rendered resource group".into(),
                })?;
                let (status, v) = self
                    .arm(
                        azure_core::Method::Put,
                        &format!(
                            "/subscriptions/{}/resourcegroups/{}",
                            place.subscription, place.group
                        ),
                        Some(&as_sent(rg)),
                    )
                    .await?;
                if status >= 300 {
                    return Err(arm_error("ResourceGroups.CreateOrUpdate", status, &v));
                }
                Ok(())
            }
            (Action::Create, Target::ControlPlane) => {
                self.put_cluster(&place, serde_json::to_value(body).unwrap_or(J::Null))
                    .await?;
                self.wait_cluster(&place, progress).await
            }
            (Action::Upgrade, Target::ControlPlane) | (Action::Update, Target::ControlPlane) => {
                self.settle_cluster(&place, progress).await?;
                let mut current =
                    self.get_cluster(&place)
                        .await?
                        .ok_or_else(|| ProviderError::Missing {
                            what: format!("AKS cluster {}", place.cluster),
                        })?;
                for change in &step.changes {
                    match (change.field.as_str(), &change.to) {
                        ("version", Some(v)) => {
                            current["properties"]["kubernetesVersion"] = json!(v)
                        }
                        (f, to) if f.starts_with("tags.") => {
                            let key = &f["tags.".len()..];
                            match to {
                                Some(v) => current["tags"][key] = json!(v),
                                None => {
                                    if let Some(t) = current["tags"].as_object_mut() {
                                        t.remove(key);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                // Agent pools are managed through their own resource; leave them out of the PUT.
                if let Some(p) = current["properties"].as_object_mut() {
                    p.remove("agentPoolProfiles");
                    p.remove("provisioningState");
                    p.remove("powerState");
                }
                self.put_cluster(&place, current).await?;
                self.wait_cluster(&place, progress).await
            }
            (Action::Create | Action::Update | Action::Upgrade, Target::NodePool) => {
                self.settle_cluster(&place, progress).await?;
                let mut pool = match pools.iter().find(|(n, _)| n == &step.name) {
                    Some((_, p)) => serde_json::to_value(p).unwrap_or(J::Null),
                    None => {
                        // The system pool lives in the cluster body.
                        let profile = body
                            .properties
                            .agent_pool_profiles
                            .iter()
                            .find(|p| p.name.as_deref() == Some(step.name.as_str()))
                            .ok_or_else(|| ProviderError::Missing {
                                what: format!("rendered agent pool {}", step.name),
                            })?;
                        let mut props = serde_json::to_value(profile).unwrap_or(J::Null);
                        if let Some(o) = props.as_object_mut() {
                            o.remove("name");
                        }
                        json!({ "properties": props })
                    }
                };
                if step.action == Action::Upgrade
                    && let Some(v) = step
                        .changes
                        .iter()
                        .find(|c| c.field == "version")
                        .and_then(|c| c.to.clone())
                {
                    pool["properties"]["orchestratorVersion"] = json!(v);
                }
                // An agent pool PUT replaces the whole tag set: send back the tags the pool
                // carries (others' included) with only this step's tag changes applied.
                if step.action != Action::Create
                    && let Some(found) = self.get_pool(&place, &step.name).await?
                {
                    let tags = crate::plan::apply_tag_changes(
                        &string_map(&found["properties"]["tags"]),
                        &step.changes,
                    );
                    pool["properties"]["tags"] = json!(tags);
                    // the same for node labels and taints: others' stay as they are
                    let labels = crate::plan::apply_map_changes(
                        "labels.",
                        &string_map(&found["properties"]["nodeLabels"]),
                        &step.changes,
                    );
                    pool["properties"]["nodeLabels"] = json!(labels);
                    let found_pool = observed_pool(&step.name, &found["properties"], "", "");
                    let taints = match step.changes.iter().find(|c| c.field == "taints") {
                        Some(c) => {
                            c.to.as_deref()
                                .unwrap_or_default()
                                .split(',')
                                .filter(|t| !t.is_empty())
                                .map(str::to_string)
                                .collect()
                        }
                        None => found_pool.taints,
                    };
                    pool["properties"]["nodeTaints"] = json!(taints);
                }
                self.put_pool(&place, &step.name, pool).await?;
                self.wait_pool(&place, &step.name, false, progress).await
            }
            (Action::Delete, Target::NodePool) => {
                let Some(found) = self.get_pool(&place, &step.name).await? else {
                    return Ok(());
                };
                if !owned(&found["properties"]["tags"], None, place.cluster) {
                    return Err(ProviderError::NotOwned {
                        what: format!("AKS agent pool {} of cluster {}", step.name, place.cluster),
                        remedy: None,
                    });
                }
                self.client
                    .agent_pools_client()
                    .delete(&place.subscription, place.group, place.cluster, &step.name)
                    .send()
                    .await
                    .map_err(|e| api("AgentPools.Delete", e))?;
                self.wait_pool(&place, &step.name, true, progress).await
            }
            _ => Err(ProviderError::NotAProviderStep {
                step: step.to_string(),
            }),
        }
    }

    async fn put_cluster(&self, p: &Place<'_>, mut body: J) -> Result<(), ProviderError> {
        arm_tag_names(&mut body, true);
        let model: models::ManagedCluster =
            serde_json::from_value(body).map_err(|e| ProviderError::Api {
                provider: ProviderKind::Aks,
                operation: "ManagedClusters.CreateOrUpdate",
                status: None,
                code: String::new(),
                hint: None,
                message: format!("the rendered ManagedCluster does not fit the API model: {e}"),
            })?;
        self.client
            .managed_clusters_client()
            .create_or_update(&p.subscription, p.group, p.cluster, model)
            .send()
            .await
            .map_err(|e| api("ManagedClusters.CreateOrUpdate", e))?;
        Ok(())
    }

    async fn put_pool(&self, p: &Place<'_>, pool: &str, mut body: J) -> Result<(), ProviderError> {
        arm_tag_names(&mut body, true);
        let model: models::AgentPool =
            serde_json::from_value(body).map_err(|e| ProviderError::Api {
                provider: ProviderKind::Aks,
                operation: "AgentPools.CreateOrUpdate",
                status: None,
                code: String::new(),
                hint: None,
                message: format!("the rendered AgentPool does not fit the API model: {e}"),
            })?;
        self.client
            .agent_pools_client()
            .create_or_update(&p.subscription, p.group, p.cluster, pool, model)
            .send()
            .await
            .map_err(|e| api("AgentPools.CreateOrUpdate", e))?;
        Ok(())
    }

    /// `adopt`: adds gitfleet's ownership tags (and nothing else) to the managed cluster and to
    /// the named agent pools, which the user chose to hand over to gitfleet.
    pub async fn adopt(
        &self,
        rendered: &RenderedCluster,
        fleet: &str,
        pools: &[String],
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let place = Self::place(rendered)?;
        let add = |tags: &mut J| {
            if !tags.is_object() {
                *tags = json!({});
            }
            tags[OWNER_KEY] = json!("gitfleet");
            tags[FLEET_KEY] = json!(fleet);
            tags[CLUSTER_KEY] = json!(place.cluster);
        };
        self.settle_cluster(&place, progress).await?;
        let mut current =
            self.get_cluster(&place)
                .await?
                .ok_or_else(|| ProviderError::Missing {
                    what: format!("AKS cluster {}", place.cluster),
                })?;
        add(&mut current["tags"]);
        if let Some(p) = current["properties"].as_object_mut() {
            p.remove("agentPoolProfiles");
            p.remove("provisioningState");
            p.remove("powerState");
        }
        self.put_cluster(&place, current).await?;
        self.wait_cluster(&place, progress).await?;
        for pool in pools {
            let mut found =
                self.get_pool(&place, pool)
                    .await?
                    .ok_or_else(|| ProviderError::Missing {
                        what: format!("AKS agent pool {pool} of cluster {}", place.cluster),
                    })?;
            add(&mut found["properties"]["tags"]);
            if let Some(p) = found["properties"].as_object_mut() {
                p.remove("provisioningState");
                p.remove("powerState");
            }
            self.put_pool(&place, pool, found).await?;
            self.wait_pool(&place, pool, false, progress).await?;
        }
        Ok(())
    }

    /// `down`: deletes the managed cluster (its pools go with it) when gitfleet created it.
    pub async fn delete_cluster(
        &self,
        rendered: &RenderedCluster,
        fleet: &str,
        progress: &dyn Progress,
    ) -> Result<bool, ProviderError> {
        let place = Self::place(rendered)?;
        let Some(mc) = self.get_cluster(&place).await? else {
            return Ok(false);
        };
        if !owned(&mc["tags"], Some(fleet), place.cluster) {
            return Err(ProviderError::NotOwned {
                what: format!("AKS cluster {}", place.cluster),
                remedy: None,
            });
        }
        self.client
            .managed_clusters_client()
            .delete(&place.subscription, place.group, place.cluster)
            .send()
            .await
            .map_err(|e| api("ManagedClusters.Delete", e))?;
        let what = format!("cluster {}", place.cluster);
        self.wait_until(&what, progress, || async {
            Ok(match self.get_cluster(&place).await? {
                None => ("Deleted".to_string(), true, false),
                Some(mc) => {
                    let s = mc["properties"]["provisioningState"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let failed = s == "Failed";
                    (s, false, failed)
                }
            })
        })
        .await?;
        Ok(true)
    }

    /// The cluster user kubeconfig (listClusterUserCredential), decoded.
    pub async fn kubeconfig(&self, rendered: &RenderedCluster) -> Result<String, ProviderError> {
        use base64::Engine as _;
        let place = Self::place(rendered)?;
        let creds = self
            .client
            .managed_clusters_client()
            .list_cluster_user_credentials(&place.subscription, place.group, place.cluster)
            .await
            .map_err(|e| api("ManagedClusters.ListClusterUserCredential", e))?;
        let value = creds
            .kubeconfigs
            .first()
            .and_then(|k| k.value.clone())
            .ok_or_else(|| ProviderError::Missing {
                what: format!("kubeconfig of AKS cluster {}", place.cluster),
            })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| ProviderError::Api {
                provider: ProviderKind::Aks,
                operation: "ManagedClusters.ListClusterUserCredential",
                status: None,
                code: String::new(),
                hint: None,
                message: format!("the kubeconfig is not base64: {e}"),
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn settle_cluster(
        &self,
        p: &Place<'_>,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let state = self.get_cluster(p).await?.and_then(|mc| {
            mc["properties"]["provisioningState"]
                .as_str()
                .map(str::to_string)
        });
        if state.as_deref() == Some("Succeeded") {
            return Ok(());
        }
        self.wait_cluster(p, progress).await
    }

    async fn wait_cluster(
        &self,
        p: &Place<'_>,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let what = format!("cluster {}", p.cluster);
        self.wait_until(&what, progress, || async {
            let mc = self
                .get_cluster(p)
                .await?
                .ok_or_else(|| ProviderError::Missing {
                    what: format!("AKS cluster {}", p.cluster),
                })?;
            let s = mc["properties"]["provisioningState"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let failed = matches!(s.as_str(), "Failed" | "Canceled");
            Ok((s.clone(), s == "Succeeded", failed))
        })
        .await
    }

    async fn wait_pool(
        &self,
        p: &Place<'_>,
        pool: &str,
        gone: bool,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let what = format!("agent pool {pool}");
        self.wait_until(&what, progress, || async {
            Ok(match self.get_pool(p, pool).await? {
                None if gone => ("Deleted".to_string(), true, false),
                None => {
                    return Err(ProviderError::Missing {
                        what: format!("AKS agent pool {pool}"),
                    });
                }
                Some(ap) => {
                    let s = ap["properties"]["provisioningState"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let failed = matches!(s.as_str(), "Failed" | "Canceled");
                    (s.clone(), !gone && s == "Succeeded", failed)
                }
            })
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
        super::wait::until("AKS", what, self.wait, progress, check).await
    }
}

/// The SDK's retry (429, 408, 5xx) with exponential backoff, sleeping on tokio's timer.
/// azure_core 0.10's own retry sleeps in a spawned thread and checks `is_finished()` after the
/// wake-up, which can lose the wake-up and hang the request forever; this policy cannot.
pub fn tokio_retry(max_retries: u32, initial_delay: Duration) -> azure_core::RetryOptions {
    azure_core::RetryOptions::custom(std::sync::Arc::new(TokioRetry {
        max_retries,
        initial_delay,
    }))
}

#[derive(Debug)]
struct TokioRetry {
    max_retries: u32,
    initial_delay: Duration,
}

#[async_trait::async_trait]
impl azure_core::RetryPolicy for TokioRetry {
    fn is_expired(&self, _since_start: Duration, retry_count: u32) -> bool {
        retry_count >= self.max_retries
    }

    fn sleep_duration(&self, retry_count: u32) -> Duration {
        (self.initial_delay * 2u32.saturating_pow(retry_count)).min(Duration::from_secs(30))
    }

    async fn wait(&self, _error: &azure_core::error::Error, retry_count: u32) {
        tokio::time::sleep(self.sleep_duration(retry_count)).await;
    }
}
