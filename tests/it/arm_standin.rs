//! The ARM stand-in driven by the real `azure_mgmt_containerservice` 0.10 client: long-running
//! operations, agent pools, upgrades, credentials, deletes, conflicts, throttling and failures.

use std::sync::Arc;
use std::time::Duration;

use azure_core::StatusCode;
use azure_core::auth::{AccessToken, TokenCredential, TokenResponse};
use azure_core::error::ErrorKind;
use azure_core::headers::HeaderName;
use azure_mgmt_containerservice::Client;
use azure_mgmt_containerservice::models::{
    AgentPool, AgentPoolListResult, AgentPoolMode, ManagedCluster, ManagedClusterAgentPoolProfile,
    ManagedClusterAgentPoolProfileProperties, ManagedClusterProperties, TagsObject,
    TrackedResource,
};
use serde_json::{Value, json};

use crate::support::arm::{self, ArmStandIn, Options};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const RG: &str = "fleet-rg";
const TOKEN: &str = "test-token";

/// A credential that hands out a fixed token and never talks to Entra ID.
struct FixedToken;

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(&self, _scopes: &str) -> azure_core::Result<TokenResponse> {
        Ok(TokenResponse::new(
            AccessToken::new(TOKEN),
            azure_core::date::parse_rfc3339("2999-01-01T00:00:00Z")?,
        ))
    }
}

fn client_with(url: &str, retry: azure_core::RetryOptions) -> Client {
    Client::builder(Arc::new(FixedToken))
        .endpoint(url)
        .scopes(&["https://management.azure.com/.default"])
        .retry(retry)
        .build()
}

fn client(url: &str) -> Client {
    client_with(url, azure_core::RetryOptions::none())
}

fn standin(opts: Options) -> ArmStandIn {
    let s = ArmStandIn::start(opts);
    s.add_resource_group(SUB, RG);
    s
}

fn pool_profile(name: &str, count: i32, mode: AgentPoolMode) -> ManagedClusterAgentPoolProfile {
    let mut p = ManagedClusterAgentPoolProfile::new(name.to_string());
    let props = &mut p.managed_cluster_agent_pool_profile_properties;
    props.count = Some(count);
    props.vm_size = Some("Standard_D2s_v5".into());
    props.mode = Some(mode);
    p
}

fn cluster_spec(version: &str, dns: &str) -> ManagedCluster {
    let mut tracked = TrackedResource::new("westeurope".into());
    tracked.tags = Some(json!({"owner": "gitfleet"}));
    let mut mc = ManagedCluster::new(tracked);
    let mut props = ManagedClusterProperties::new();
    props.kubernetes_version = Some(version.into());
    props.dns_prefix = Some(dns.into());
    props.agent_pool_profiles = vec![pool_profile("system", 2, AgentPoolMode::System)];
    mc.properties = Some(props);
    mc
}

fn user_pool(count: i32, version: Option<&str>) -> AgentPool {
    let mut pool = AgentPool::new();
    let mut props = ManagedClusterAgentPoolProfileProperties {
        count: Some(count),
        vm_size: Some("Standard_D4s_v5".into()),
        mode: Some(AgentPoolMode::User),
        node_labels: Some(json!({"team": "web"})),
        ..Default::default()
    };
    props.orchestrator_version = version.map(String::from);
    pool.properties = Some(props);
    pool
}

fn state(mc: &ManagedCluster) -> String {
    mc.properties
        .as_ref()
        .and_then(|p| p.provisioning_state.clone())
        .unwrap_or_default()
}

fn pool_state(p: &AgentPool) -> String {
    p.properties
        .as_ref()
        .and_then(|p| p.provisioning_state.clone())
        .unwrap_or_default()
}

/// The HTTP status and ARM error code of a failed client call.
fn http_error(e: &azure_core::Error) -> (StatusCode, String) {
    match e.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            (*status, error_code.clone().unwrap_or_default())
        }
        other => panic!("expected an HTTP error, got {other:?}: {e}"),
    }
}

/// Polls GET until the cluster leaves Creating/Updating; returns it and the polls it took.
async fn wait_cluster(c: &Client, name: &str) -> (ManagedCluster, usize) {
    let mc = c.managed_clusters_client();
    for n in 1..=10 {
        let got = mc.get(SUB, RG, name).await.expect("get cluster");
        if !matches!(state(&got).as_str(), "Creating" | "Updating") {
            return (got, n);
        }
    }
    panic!("cluster {name} never settled");
}

async fn wait_pool(c: &Client, cluster: &str, pool: &str) -> AgentPool {
    let ap = c.agent_pools_client();
    for _ in 0..10 {
        let got = ap.get(SUB, RG, cluster, pool).await.expect("get pool");
        if !matches!(pool_state(&got).as_str(), "Creating" | "Updating") {
            return got;
        }
    }
    panic!("pool {pool} never settled");
}

/// A GET with the client's token through azure_core's own HTTP client, for what the generated
/// client cannot do without `futures` (paged lists) or at all (operation status URLs).
async fn raw_get(url: &str) -> (StatusCode, Value) {
    let (status, _, value) = raw(azure_core::Method::Get, url).await;
    (status, value)
}

async fn raw(
    method: azure_core::Method,
    url: &str,
) -> (StatusCode, azure_core::headers::Headers, Value) {
    let http = azure_core::new_http_client();
    let mut req = azure_core::Request::new(azure_core::Url::parse(url).unwrap(), method);
    req.insert_header("authorization", format!("Bearer {TOKEN}"));
    let rsp = http.execute_request(&req).await.expect("request");
    let (status, headers, body) = rsp.deconstruct();
    let body = body.collect().await.expect("body");
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("json")
    };
    (status, headers, value)
}

fn cluster_url(base: &str, name: &str, rest: &str) -> String {
    format!(
        "{base}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/{name}{rest}?api-version={}",
        arm::AKS_API_VERSION
    )
}

async fn create(c: &Client, name: &str) -> ManagedCluster {
    let mc = c.managed_clusters_client();
    mc.create_or_update(SUB, RG, name, cluster_spec("1.29", name))
        .await
        .expect("create");
    wait_cluster(c, name).await.0
}

#[tokio::test]
async fn create_polls_to_succeeded_with_async_operation_and_pools() {
    let s = standin(Options::default());
    let c = client(&s.url);
    let mc = c.managed_clusters_client();

    let rsp = mc
        .create_or_update(SUB, RG, "alpha", cluster_spec("1.29", "alpha"))
        .send()
        .await
        .expect("create");
    let raw = rsp.as_raw_response();
    assert_eq!(raw.status(), StatusCode::Created);
    let op_url = raw
        .headers()
        .get_optional_string(&HeaderName::from_static("azure-asyncoperation"))
        .expect("Azure-AsyncOperation header");
    assert!(
        op_url.starts_with(&format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/westeurope/operations/",
            s.url
        )),
        "{op_url}"
    );
    assert_eq!(
        raw.headers()
            .get_optional_str(&HeaderName::from_static("retry-after")),
        Some("0")
    );
    let created = rsp.into_body().await.expect("body");
    assert_eq!(state(&created), "Creating");

    // The operation status URL: polling it counts towards completion too.
    let (status, op) = raw_get(&op_url).await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(op["status"], "InProgress");
    assert!(op["startTime"].is_string());

    let (done, polls) = wait_cluster(&c, "alpha").await;
    assert_eq!(
        polls, 2,
        "one operation poll + two GETs, the third completes"
    );
    assert_eq!(state(&done), "Succeeded");
    let props = done.properties.as_ref().unwrap();
    assert_eq!(props.kubernetes_version.as_deref(), Some("1.29"));
    assert_eq!(props.current_kubernetes_version.as_deref(), Some("1.29.0"));
    assert_eq!(
        props.fqdn.as_deref(),
        Some("alpha.hcp.westeurope.azmk8s.io")
    );
    assert_eq!(
        done.tracked_resource.tags,
        Some(json!({"owner": "gitfleet"}))
    );
    let (_, op) = raw_get(&op_url).await;
    assert_eq!(op["status"], "Succeeded");

    // The profile became an agent pool of mode System.
    let (status, list) = raw_get(&cluster_url(&s.url, "alpha", "/agentPools")).await;
    assert_eq!(status, StatusCode::Ok);
    let list: AgentPoolListResult = serde_json::from_value(list).expect("AgentPoolListResult");
    assert_eq!(list.value.len(), 1);
    let system = list.value[0].properties.as_ref().unwrap();
    assert_eq!(list.value[0].sub_resource.name.as_deref(), Some("system"));
    assert_eq!(system.mode, Some(AgentPoolMode::System));
    assert_eq!(system.count, Some(2));
    assert_eq!(system.orchestrator_version.as_deref(), Some("1.29"));
    assert_eq!(system.provisioning_state.as_deref(), Some("Succeeded"));

    // Every request carried the token; the PUT body is what the crate serialises.
    let reqs = s.requests();
    assert!(
        reqs.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer test-token"))
    );
    let put = &reqs[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.path,
        format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/alpha"
        )
    );
    assert_eq!(
        put.query_value("api-version").as_deref(),
        Some("2023-01-02-preview")
    );
    assert_eq!(put.body["location"], "westeurope");
    assert_eq!(
        put.body["properties"]["agentPoolProfiles"][0]["name"],
        "system"
    );
    assert_eq!(
        put.body["properties"]["agentPoolProfiles"][0]["mode"],
        "System"
    );

    // A cluster list by resource group has the ARM shape.
    let list_url = format!(
        "{}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters?api-version={}",
        s.url,
        arm::AKS_API_VERSION
    );
    let (_, clusters) = raw_get(&list_url).await;
    assert_eq!(clusters["value"][0]["name"], "alpha");
}

#[tokio::test]
async fn pools_are_added_scaled_and_the_cluster_upgraded() {
    let s = standin(Options::default());
    let c = client(&s.url);
    create(&c, "beta").await;
    let ap = c.agent_pools_client();

    // A second pool: 201 Creating, then Succeeded.
    let rsp = ap
        .create_or_update(SUB, RG, "beta", "web", user_pool(2, None))
        .send()
        .await
        .expect("put pool");
    assert_eq!(rsp.as_raw_response().status(), StatusCode::Created);
    assert_eq!(pool_state(&rsp.into_body().await.unwrap()), "Creating");
    let web = wait_pool(&c, "beta", "web").await;
    let props = web.properties.as_ref().unwrap();
    assert_eq!(props.count, Some(2));
    assert_eq!(props.mode, Some(AgentPoolMode::User));
    assert_eq!(
        props.current_orchestrator_version.as_deref(),
        Some("1.29.0")
    );
    assert_eq!(props.node_labels, Some(json!({"team": "web"})));

    // Scale it: 200 Updating; the count takes effect when the operation completes.
    let scaled = ap
        .create_or_update(SUB, RG, "beta", "web", user_pool(5, None))
        .await
        .expect("scale");
    assert_eq!(pool_state(&scaled), "Updating");
    assert_eq!(scaled.properties.as_ref().unwrap().count, Some(2));
    assert_eq!(s.pool(RG, "beta", "web").unwrap()["properties"]["count"], 2);
    let web = wait_pool(&c, "beta", "web").await;
    assert_eq!(web.properties.as_ref().unwrap().count, Some(5));

    // A pool newer than the control plane is refused.
    let err = ap
        .create_or_update(SUB, RG, "beta", "web", user_pool(5, Some("1.30")))
        .await
        .unwrap_err();
    assert_eq!(
        http_error(&err),
        (
            StatusCode::BadRequest,
            "NodePoolMcVersionIncompatible".into()
        )
    );

    // Skipping a minor is refused; one minor at a time works.
    let mc = c.managed_clusters_client();
    let err = mc
        .create_or_update(SUB, RG, "beta", cluster_spec("1.31", "beta"))
        .await
        .unwrap_err();
    assert_eq!(
        http_error(&err),
        (StatusCode::BadRequest, "OperationNotAllowed".into())
    );
    let mut spec = cluster_spec("1.30", "beta");
    // Leave the pools out: only the control plane moves.
    spec.properties
        .as_mut()
        .unwrap()
        .agent_pool_profiles
        .clear();
    let rsp = mc
        .create_or_update(SUB, RG, "beta", spec)
        .send()
        .await
        .expect("upgrade");
    assert_eq!(rsp.as_raw_response().status(), StatusCode::Ok);
    let updating = rsp.into_body().await.unwrap();
    assert_eq!(state(&updating), "Updating");
    let p = updating.properties.as_ref().unwrap();
    assert_eq!(p.kubernetes_version.as_deref(), Some("1.30"));
    assert_eq!(p.current_kubernetes_version.as_deref(), Some("1.29.0"));
    let (done, _) = wait_cluster(&c, "beta").await;
    let p = done.properties.as_ref().unwrap();
    assert_eq!(p.current_kubernetes_version.as_deref(), Some("1.30.0"));
    // The cluster GET lists both pools as profiles, still on 1.29.
    let names: Vec<&str> = p
        .agent_pool_profiles
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["system", "web"]);

    // Now the pool may follow.
    ap.create_or_update(SUB, RG, "beta", "web", user_pool(5, Some("1.30")))
        .await
        .expect("upgrade pool");
    let web = wait_pool(&c, "beta", "web").await;
    let props = web.properties.as_ref().unwrap();
    assert_eq!(props.orchestrator_version.as_deref(), Some("1.30"));
    assert_eq!(
        props.current_orchestrator_version.as_deref(),
        Some("1.30.0")
    );

    // dnsPrefix and location are immutable.
    let err = mc
        .create_or_update(SUB, RG, "beta", cluster_spec("1.30", "other"))
        .await
        .unwrap_err();
    assert_eq!(
        http_error(&err),
        (StatusCode::BadRequest, "PropertyChangeNotAllowed".into())
    );

    // Tags through PATCH.
    let tagged = mc
        .update_tags(
            SUB,
            RG,
            "beta",
            TagsObject {
                tags: Some(json!({"env": "prod"})),
            },
        )
        .await
        .expect("tags");
    assert_eq!(tagged.tracked_resource.tags, Some(json!({"env": "prod"})));
}

#[tokio::test]
async fn user_credential_is_a_base64_kubeconfig() {
    let s = standin(Options::default());
    let c = client(&s.url);
    create(&c, "gamma").await;
    let creds = c
        .managed_clusters_client()
        .list_cluster_user_credentials(SUB, RG, "gamma")
        .await
        .expect("credentials");
    assert_eq!(creds.kubeconfigs.len(), 1);
    assert_eq!(creds.kubeconfigs[0].name.as_deref(), Some("clusterUser"));
    let yaml = arm::base64_decode(creds.kubeconfigs[0].value.as_deref().unwrap()).unwrap();
    let yaml = String::from_utf8(yaml).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("kubeconfig YAML");
    assert_eq!(doc["kind"], "Config");
    assert_eq!(
        doc["clusters"][0]["cluster"]["server"],
        "https://gamma.hcp.westeurope.azmk8s.io:443"
    );
    let post = s.requests().into_iter().last().unwrap();
    assert_eq!(post.method, "POST");
    assert!(
        post.path
            .ends_with("/managedClusters/gamma/listClusterUserCredential")
    );
}

#[tokio::test]
async fn deletes_answer_202_then_404() {
    let s = standin(Options::default());
    let c = client(&s.url);
    create(&c, "delta").await;
    let ap = c.agent_pools_client();
    ap.create_or_update(SUB, RG, "delta", "web", user_pool(1, None))
        .await
        .unwrap();
    wait_pool(&c, "delta", "web").await;

    // The last System pool cannot go.
    let err = ap
        .delete(SUB, RG, "delta", "system")
        .send()
        .await
        .err()
        .expect("refused");
    assert_eq!(
        http_error(&err),
        (StatusCode::BadRequest, "OperationNotAllowed".into())
    );

    // Pool delete: 202 (no headers reachable through the crate), Deleting, then 404.
    ap.delete(SUB, RG, "delta", "web")
        .send()
        .await
        .expect("delete pool");
    let got = ap.get(SUB, RG, "delta", "web").await.unwrap();
    assert_eq!(pool_state(&got), "Deleting");
    let mut gone = None;
    for _ in 0..5 {
        if let Err(e) = ap.get(SUB, RG, "delta", "web").await {
            gone = Some(http_error(&e));
            break;
        }
    }
    assert_eq!(
        gone,
        Some((StatusCode::NotFound, "ResourceNotFound".into()))
    );

    // Cluster delete: 202 with Location and Azure-AsyncOperation (seen raw: the crate's delete
    // response exposes nothing); deleting again while it runs is the same operation.
    let mc = c.managed_clusters_client();
    mc.delete(SUB, RG, "delta")
        .send()
        .await
        .expect("delete cluster");
    let (status, headers, body) = raw(
        azure_core::Method::Delete,
        &cluster_url(&s.url, "delta", ""),
    )
    .await;
    assert_eq!(status, StatusCode::Accepted);
    assert_eq!(body, Value::Null);
    let location = headers
        .get_optional_string(&HeaderName::from_static("location"))
        .unwrap();
    assert!(
        location.contains("/locations/westeurope/operationresults/"),
        "{location}"
    );
    assert!(
        headers
            .get_optional_str(&HeaderName::from_static("azure-asyncoperation"))
            .is_some()
    );
    let (status, _) = raw_get(&location).await;
    assert_eq!(status, StatusCode::Accepted);
    // transition_polls (2) polls show Deleting (the operation-result poll above was one), the
    // next one 404.
    let mut deleting = 0;
    let err = loop {
        match mc.get(SUB, RG, "delta").await {
            Ok(got) => assert_eq!(state(&got), "Deleting"),
            Err(e) => break e,
        }
        deleting += 1;
        assert!(deleting < 10);
    };
    assert_eq!(deleting, 1);
    assert_eq!(
        http_error(&err),
        (StatusCode::NotFound, "ResourceNotFound".into())
    );
    // Deleting what is gone is a 204, a success for the client.
    mc.delete(SUB, RG, "delta")
        .send()
        .await
        .expect("idempotent delete");
    assert!(s.cluster(RG, "delta").is_none());
}

#[tokio::test]
async fn a_put_during_an_operation_is_409() {
    let s = standin(Options::default());
    let c = client(&s.url);
    let mc = c.managed_clusters_client();
    mc.create_or_update(SUB, RG, "eps", cluster_spec("1.29", "eps"))
        .await
        .unwrap();
    let err = mc
        .create_or_update(SUB, RG, "eps", cluster_spec("1.29", "eps"))
        .await
        .unwrap_err();
    assert_eq!(
        http_error(&err),
        (StatusCode::Conflict, "OperationNotAllowed".into())
    );
    let err = c
        .agent_pools_client()
        .create_or_update(SUB, RG, "eps", "web", user_pool(1, None))
        .await
        .unwrap_err();
    assert_eq!(http_error(&err).0, StatusCode::Conflict);
    // The helpers read state without polling.
    assert_eq!(
        s.cluster(RG, "eps").unwrap()["properties"]["provisioningState"],
        "Creating"
    );
    assert_eq!(state(&wait_cluster(&c, "eps").await.0), "Succeeded");
    mc.create_or_update(SUB, RG, "eps", cluster_spec("1.29", "eps"))
        .await
        .expect("accepted once idle");
}

#[tokio::test]
async fn throttling_is_429_with_retry_after_and_the_client_can_retry() {
    let s = standin(Options {
        throttle_first: 2,
        ..Options::default()
    });
    let c = client(&s.url);
    let mc = c.managed_clusters_client();
    for _ in 0..2 {
        let err = mc.get(SUB, RG, "zeta").await.unwrap_err();
        assert_eq!(
            http_error(&err),
            (StatusCode::TooManyRequests, "TooManyRequests".into())
        );
        let http = err.as_http_error().expect("HttpError inside");
        assert!(http.to_string().contains("retry-after:1"), "{http}");
    }
    let err = mc.get(SUB, RG, "zeta").await.unwrap_err();
    assert_eq!(http_error(&err).0, StatusCode::NotFound);

    // With a retry policy the client rides through throttling by itself: gitfleet's, which
    // sleeps on tokio's timer (azure_core 0.10's own sleep can lose its wake-up and hang).
    let s = standin(Options {
        throttle_first: 2,
        ..Options::default()
    });
    let retrying = client_with(
        &s.url,
        gitfleet::provider::aks::tokio_retry(3, Duration::from_millis(10)),
    );
    retrying
        .managed_clusters_client()
        .create_or_update(SUB, RG, "zeta", cluster_spec("1.29", "zeta"))
        .await
        .expect("created after two 429s");
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].throttled && reqs[1].throttled && !reqs[2].throttled);
    assert_eq!(s.mutations().len(), 1);
}

#[tokio::test]
async fn failed_provisioning_shows_failed_and_the_operation_error() {
    let s = standin(Options {
        fail_clusters: vec!["eta".into()],
        transition_polls: 0,
        ..Options::default()
    });
    let c = client(&s.url);
    let rsp = c
        .managed_clusters_client()
        .create_or_update(SUB, RG, "eta", cluster_spec("1.29", "eta"))
        .send()
        .await
        .unwrap();
    let op_url = rsp
        .as_raw_response()
        .headers()
        .get_optional_string(&HeaderName::from_static("azure-asyncoperation"))
        .unwrap();
    let (done, polls) = wait_cluster(&c, "eta").await;
    assert_eq!(polls, 1);
    assert_eq!(state(&done), "Failed");
    let (_, op) = raw_get(&op_url).await;
    assert_eq!(op["status"], "Failed");
    assert_eq!(op["error"]["code"], "ReconcileVMSSAgentPoolFailed");
    assert!(op["error"]["message"].as_str().unwrap().contains("eta"));

    // Healed, a new PUT is accepted on the failed cluster and succeeds.
    s.set_fail_clusters(&[]);
    c.managed_clusters_client()
        .create_or_update(SUB, RG, "eta", cluster_spec("1.29", "eta"))
        .await
        .expect("retry");
    assert_eq!(state(&wait_cluster(&c, "eta").await.0), "Succeeded");
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_401_and_resource_groups_work() {
    let s = ArmStandIn::start(Options::default());
    let http = azure_core::new_http_client();
    let url = format!(
        "{}/subscriptions/{SUB}/resourcegroups/rg2?api-version={}",
        s.url,
        arm::RG_API_VERSION
    );
    let req = azure_core::Request::new(
        azure_core::Url::parse(&url).unwrap(),
        azure_core::Method::Get,
    );
    let rsp = http.execute_request(&req).await.unwrap();
    assert_eq!(rsp.status(), StatusCode::Unauthorized);
    let body: Value = serde_json::from_slice(&rsp.into_body().collect().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");

    // Without the resource group, AKS calls are 404 ResourceGroupNotFound.
    let c = client(&s.url);
    let err = c
        .managed_clusters_client()
        .create_or_update(SUB, "rg2", "theta", cluster_spec("1.29", "theta"))
        .await
        .unwrap_err();
    assert_eq!(
        http_error(&err),
        (StatusCode::NotFound, "ResourceGroupNotFound".into())
    );

    let mut put = azure_core::Request::new(
        azure_core::Url::parse(&url).unwrap(),
        azure_core::Method::Put,
    );
    put.insert_header("authorization", format!("Bearer {TOKEN}"));
    put.insert_header("content-type", "application/json");
    put.set_body(r#"{"location":"West Europe","tags":{"a":"b"}}"#);
    let rsp = http.execute_request(&put).await.unwrap();
    assert_eq!(rsp.status(), StatusCode::Created);
    let (status, group) = raw_get(&url.replace("resourcegroups", "resourceGroups")).await;
    assert_eq!(status, StatusCode::Ok);
    assert_eq!(group["location"], "westeurope");
    assert_eq!(group["tags"]["a"], "b");
    assert_eq!(group["properties"]["provisioningState"], "Succeeded");
    assert!(s.resource_group(SUB, "RG2").is_some());
}
