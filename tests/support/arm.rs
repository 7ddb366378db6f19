//! An in-memory Azure Resource Manager stand-in over real HTTP/1.1 for AKS (Microsoft.ContainerService
//! api-version 2023-01-02-preview, as `azure_mgmt_containerservice` 0.10 sends it) and resource groups
//! (api-version 2021-04-01). It speaks the ARM protocol: bearer authentication, `{"error":{code,
//! message}}` bodies, long-running operations (201/200/202 with `Azure-AsyncOperation`, `Location`,
//! `Retry-After`, provisioningState Creating/Updating/Deleting that completes after a number of
//! polls), AKS validation (one-minor upgrades, immutable location/dnsPrefix, node pool versions,
//! 409 while an operation runs, the last System pool), injected failures and throttling, and it
//! records every request.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The AKS api-version the stand-in speaks (as `azure_mgmt_containerservice` 0.10 sends it).
pub const AKS_API_VERSION: &str = "2023-01-02-preview";
/// The resource-groups api-version.
pub const RG_API_VERSION: &str = "2021-04-01";
/// Kubernetes version of clusters created without one.
pub const DEFAULT_VERSION: &str = "1.29";
/// Minor versions (1.x) AKS accepts here.
const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 26..=33;
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// base64 of a short fake PEM: enough for a kubeconfig.
const CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

/// What the stand-in does besides the happy path.
#[derive(Debug, Clone)]
pub struct Options {
    /// GETs of a resource (or of its operation) that still show Creating/Updating/Deleting; the
    /// next one completes the operation.
    pub transition_polls: usize,
    /// Clusters (by name) whose create/update operations end in provisioningState Failed.
    pub fail_clusters: Vec<String>,
    /// The first N authenticated requests are answered with HTTP 429 TooManyRequests.
    pub throttle_first: usize,
    /// Location of resource groups made with [`ArmStandIn::add_resource_group`].
    pub region: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            transition_polls: 2,
            fail_clusters: Vec::new(),
            throttle_first: 0,
            region: "westeurope".to_string(),
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path without the query.
    pub path: String,
    pub query: String,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Answered with 429 TooManyRequests instead of being served.
    pub throttled: bool,
}

impl Request {
    /// Whether it may change state (PUT, PATCH, POST, DELETE).
    pub fn is_mutation(&self) -> bool {
        matches!(self.method.as_str(), "PUT" | "PATCH" | "POST" | "DELETE")
    }

    /// The value of query parameter `key`, percent-decoded.
    pub fn query_value(&self, key: &str) -> Option<String> {
        query_value(&self.query, key)
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// An ARM error: status, `error.code`, `error.message`.
struct Fault(u16, &'static str, String);

/// A served response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }
    fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
    fn header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_string(), value));
        self
    }
}

type Served = Result<Reply, Fault>;

fn bad(code: &'static str, message: String) -> Fault {
    Fault(400, code, message)
}

/// ARM refuses tag names holding `< > % & \ ? /` or control characters, in any resource's
/// `tags` (and an agent pool's `properties.tags`, and a managed cluster's pool profiles').
fn check_tag_names(body: &Value) -> Result<(), Fault> {
    let mut bad_names: Vec<String> = Vec::new();
    let mut look = |tags: &Value| {
        for k in tags.as_object().into_iter().flat_map(|m| m.keys()) {
            if k.chars().any(|c| "<>%&\\?/".contains(c) || c.is_control()) {
                bad_names.push(k.clone());
            }
        }
    };
    look(&body["tags"]);
    look(&body["properties"]["tags"]);
    for p in body["properties"]["agentPoolProfiles"]
        .as_array()
        .into_iter()
        .flatten()
    {
        look(&p["tags"]);
    }
    if bad_names.is_empty() {
        return Ok(());
    }
    Err(bad(
        "InvalidTagNameCharacters",
        format!(
            "The tag names '{}' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
            bad_names.join(",")
        ),
    ))
}

/// Identifies a cluster: subscription, resource group and name (the last two lowercased, as ARM
/// names are case-insensitive).
type Key = (String, String, String);

/// Properties that take effect when an operation completes.
type Deferred = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// Create or update: on success merge these into the cluster's properties (cluster-level
    /// operation) and into the named pools' properties.
    Provision {
        cluster: Map<String, Value>,
        pools: BTreeMap<String, Map<String, Value>>,
        fail: bool,
    },
    DeleteCluster,
    DeletePool,
}

#[derive(Debug)]
struct Op {
    id: String,
    sub: String,
    location: String,
    /// InProgress, Succeeded, Failed, Canceled.
    status: String,
    start: String,
    end: Option<String>,
    error: Option<Value>,
    polls_left: usize,
    cluster: Key,
    /// The pool an agent-pool operation is about; `None` for cluster operations.
    pool: Option<String>,
    action: Action,
}

impl Op {
    fn in_progress(&self) -> bool {
        self.status == "InProgress"
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "id": format!(
                "/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}/operations/{}",
                self.sub, self.location, self.id
            ),
            "name": self.id,
            "status": self.status,
            "startTime": self.start,
        });
        if let Some(end) = &self.end {
            v["endTime"] = json!(end);
        }
        if let Some(e) = &self.error {
            v["error"] = e.clone();
        }
        v
    }

    /// Whether a GET of `pool` (or of the cluster, `None`) advances this operation.
    fn concerns(&self, pool: Option<&str>) -> bool {
        match (pool, &self.pool) {
            (None, None) => true,
            (Some(p), Some(q)) => p == q,
            (Some(p), None) => match &self.action {
                Action::Provision { pools, .. } => pools.contains_key(p),
                _ => true,
            },
            (None, Some(_)) => false,
        }
    }
}

#[derive(Debug)]
struct Cluster {
    /// The managed cluster JSON without `properties.agentPoolProfiles` (rendered from `pools`).
    body: Map<String, Value>,
    /// Agent pool name (lowercase) → {name, properties}.
    pools: BTreeMap<String, Map<String, Value>>,
}

#[derive(Debug)]
struct State {
    opts: Options,
    base: String,
    /// (subscription, lowercased name) → resource group JSON.
    groups: BTreeMap<(String, String), Value>,
    clusters: BTreeMap<Key, Cluster>,
    ops: BTreeMap<String, Op>,
    requests: Vec<Request>,
    /// Authenticated requests received, for throttling (not reset by `clear_requests`).
    seen: usize,
    next_id: u64,
}

fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos() / 100
    )
}

fn minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let a = parts.next()?.parse().ok()?;
    let b = parts.next()?.parse().ok()?;
    if let Some(p) = parts.next() {
        p.parse::<u32>().ok()?;
    }
    parts.next().is_none().then_some((a, b))
}

/// The full version a version (alias) resolves to: `1.29` → `1.29.0`.
fn resolve(version: &str) -> String {
    if version.split('.').count() == 2 {
        format!("{version}.0")
    } else {
        version.to_string()
    }
}

fn normalize_location(l: &str) -> String {
    l.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

fn object(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on invalid input.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A parsed ARM path.
enum Route {
    Group(String, String),
    GroupOperation(String),
    Clusters(String, Option<String>),
    Cluster(Key, String),
    ClusterAction(Key, String, String),
    Pools(Key, String),
    Pool(Key, String, String),
    Operation(String, bool),
}

fn route(seg: &[String]) -> Option<Route> {
    let low: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = low.iter().map(String::as_str).collect();
    if l.first() != Some(&"subscriptions") || seg.len() < 3 {
        return None;
    }
    let sub = seg[1].clone();
    match &l[2..] {
        ["resourcegroups", _] => return Some(Route::Group(sub, seg[3].clone())),
        ["operationresults", _] => return Some(Route::GroupOperation(seg[3].clone())),
        ["providers", "microsoft.containerservice", "managedclusters"] => {
            return Some(Route::Clusters(sub, None));
        }
        [
            "providers",
            "microsoft.containerservice",
            "locations",
            _,
            kind,
            _,
        ] if *kind == "operations" || *kind == "operationresults" => {
            return Some(Route::Operation(seg[7].clone(), *kind == "operations"));
        }
        _ => {}
    }
    if l.len() < 7
        || l[2] != "resourcegroups"
        || l[4] != "providers"
        || l[5] != "microsoft.containerservice"
        || l[6] != "managedclusters"
    {
        return None;
    }
    let rg = seg[3].clone();
    if l.len() == 7 {
        return Some(Route::Clusters(sub, Some(rg)));
    }
    let name = seg[7].clone();
    let key = (sub, l[3].to_string(), l[7].to_string());
    match &l[8..] {
        [] => Some(Route::Cluster(key, name)),
        ["agentpools"] => Some(Route::Pools(key, name)),
        ["agentpools", _] => Some(Route::Pool(key, name, seg[9].clone())),
        [action] => Some(Route::ClusterAction(key, name, action.to_string())),
        _ => None,
    }
}

fn not_found(kind: &str, name: &str, rg: &str) -> Fault {
    Fault(
        404,
        "ResourceNotFound",
        format!(
            "The Resource '{kind}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

fn in_progress(what: &str) -> Fault {
    Fault(
        409,
        "OperationNotAllowed",
        format!(
            "Operation is not allowed because there's an in progress {what} operation. Please wait for it to finish before starting a new operation."
        ),
    )
}

/// Properties of a pool that are read-only or derived, never taken from a request body.
const POOL_READONLY: &[&str] = &[
    "provisioningState",
    "currentOrchestratorVersion",
    "powerState",
    "nodeImageVersion",
];
/// Pool properties that change only when the operation completes.
const POOL_DEFERRED: &[&str] = &[
    "count",
    "minCount",
    "maxCount",
    "enableAutoScaling",
    "nodeLabels",
    "nodeTaints",
    "tags",
];

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            self.next_id,
            self.next_id & 0xffff,
            self.next_id
        )
    }

    fn op_headers(&self, reply: Reply, op: &Op, location: bool) -> Reply {
        let base = format!(
            "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}",
            self.base, op.sub, op.location
        );
        let mut reply = reply
            .header(
                "Azure-AsyncOperation",
                format!("{base}/operations/{}?api-version={AKS_API_VERSION}", op.id),
            )
            .header("Retry-After", "0".into());
        if location {
            reply = reply.header(
                "Location",
                format!(
                    "{base}/operationresults/{}?api-version={AKS_API_VERSION}",
                    op.id
                ),
            );
        }
        reply
    }

    fn new_op(&mut self, cluster: &Key, pool: Option<String>, action: Action) -> String {
        let id = self.id();
        let location = self
            .clusters
            .get(cluster)
            .and_then(|c| str_of(&c.body, "location").map(String::from))
            .unwrap_or_else(|| self.opts.region.clone());
        let op = Op {
            id: id.clone(),
            sub: cluster.0.clone(),
            location,
            status: "InProgress".into(),
            start: now_rfc3339(),
            end: None,
            error: None,
            polls_left: self.opts.transition_polls,
            cluster: cluster.clone(),
            pool,
            action,
        };
        self.ops.insert(id.clone(), op);
        id
    }

    /// The operation in progress on the cluster (any pool included), if any.
    fn busy(&self, key: &Key) -> Option<&Op> {
        self.ops
            .values()
            .find(|o| o.in_progress() && &o.cluster == key)
    }

    /// One poll of operation `id`: counts down, completes it when due.
    fn tick(&mut self, id: &str) {
        let Some(op) = self.ops.get_mut(id) else {
            return;
        };
        if !op.in_progress() {
            return;
        }
        if op.polls_left > 0 {
            op.polls_left -= 1;
            return;
        }
        let (key, pool, action) = (op.cluster.clone(), op.pool.clone(), op.action.clone());
        let mut status = "Succeeded";
        match action {
            Action::DeleteCluster => {
                self.clusters.remove(&key);
            }
            Action::DeletePool => {
                if let (Some(c), Some(p)) = (self.clusters.get_mut(&key), &pool) {
                    c.pools.remove(p);
                }
            }
            Action::Provision {
                cluster,
                pools,
                fail,
            } => {
                let state = if fail { "Failed" } else { "Succeeded" };
                if fail {
                    status = "Failed";
                }
                if let Some(c) = self.clusters.get_mut(&key) {
                    if pool.is_none() {
                        let props = c
                            .body
                            .entry("properties")
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .expect("properties object");
                        if !fail {
                            props.extend(cluster);
                        }
                        props.insert("provisioningState".into(), json!(state));
                    }
                    for (name, fields) in pools {
                        if let Some(p) = c.pools.get_mut(&name)
                            && let Some(props) =
                                p.get_mut("properties").and_then(Value::as_object_mut)
                        {
                            if !fail {
                                props.extend(fields);
                            }
                            props.insert("provisioningState".into(), json!(state));
                        }
                    }
                }
            }
        }
        let op = self.ops.get_mut(id).expect("op exists");
        op.status = status.into();
        op.end = Some(now_rfc3339());
        if status == "Failed" {
            op.error = Some(json!({
                "code": "ReconcileVMSSAgentPoolFailed",
                "message": format!(
                    "Unable to reconcile the agent pools of managed cluster '{}': VMSS provisioning failed (injected by the ARM stand-in).",
                    key.2
                ),
            }));
        }
    }

    /// Polls the operation in progress on a cluster (`pool` None) or pool.
    fn tick_resource(&mut self, key: &Key, pool: Option<&str>) {
        let id = self
            .ops
            .values()
            .find(|o| o.in_progress() && &o.cluster == key && o.concerns(pool))
            .map(|o| o.id.clone());
        if let Some(id) = id {
            self.tick(&id);
        }
    }

    fn require_group(&self, sub: &str, rg: &str) -> Result<(), Fault> {
        if self
            .groups
            .contains_key(&(sub.to_string(), rg.to_ascii_lowercase()))
        {
            Ok(())
        } else {
            Err(Fault(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ))
        }
    }

    fn cluster_json(&self, key: &Key) -> Option<Value> {
        let c = self.clusters.get(key)?;
        let mut body = c.body.clone();
        let profiles: Vec<Value> = c
            .pools
            .values()
            .map(|p| {
                let mut profile = object(p.get("properties"));
                profile.insert("name".into(), p["name"].clone());
                Value::Object(profile)
            })
            .collect();
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("agentPoolProfiles".into(), Value::Array(profiles));
        }
        Some(Value::Object(body))
    }

    fn pool_json(&self, key: &Key, pool: &str) -> Option<Value> {
        let c = self.clusters.get(key)?;
        let p = c.pools.get(&pool.to_ascii_lowercase())?;
        let id = format!(
            "{}/agentPools/{}",
            str_of(&c.body, "id")?,
            p["name"].as_str()?
        );
        let mut v = Value::Object(p.clone());
        v["id"] = json!(id);
        v["type"] = json!("Microsoft.ContainerService/managedClusters/agentPools");
        Some(v)
    }

    fn handle(&mut self, method: &str, seg: &[String], query: &str, body: &Value) -> Served {
        let Some(r) = route(seg) else {
            return Err(Fault(
                404,
                "InvalidResourceType",
                format!(
                    "the ARM stand-in does not serve {method} /{}",
                    seg.join("/")
                ),
            ));
        };
        if query_value(query, "api-version").is_none_or(|v| v.is_empty()) {
            return Err(bad(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests."
                    .into(),
            ));
        }
        if matches!(method, "PUT" | "PATCH") {
            check_tag_names(body)?;
        }
        match (method, r) {
            ("PUT", Route::Group(sub, rg)) => self.put_group(&sub, &rg, body),
            ("GET" | "HEAD", Route::Group(sub, rg)) => {
                let g = self
                    .groups
                    .get(&(sub, rg.to_ascii_lowercase()))
                    .cloned()
                    .ok_or_else(|| {
                        Fault(
                            404,
                            "ResourceGroupNotFound",
                            format!("Resource group '{rg}' could not be found."),
                        )
                    })?;
                Ok(if method == "HEAD" {
                    Reply::empty(204)
                } else {
                    Reply::json(200, g)
                })
            }
            ("DELETE", Route::Group(sub, rg)) => {
                let low = rg.to_ascii_lowercase();
                if self.groups.remove(&(sub.clone(), low.clone())).is_none() {
                    return Ok(Reply::empty(404));
                }
                self.clusters.retain(|k, _| !(k.0 == sub && k.1 == low));
                for op in self.ops.values_mut() {
                    if op.in_progress() && op.cluster.0 == sub && op.cluster.1 == low {
                        op.status = "Canceled".into();
                        op.end = Some(now_rfc3339());
                    }
                }
                let id = self.id();
                Ok(Reply::empty(202)
                    .header(
                        "Location",
                        format!(
                            "{}/subscriptions/{sub}/operationresults/{id}?api-version={RG_API_VERSION}",
                            self.base
                        ),
                    )
                    .header("Retry-After", "0".into()))
            }
            ("GET", Route::GroupOperation(_)) => Ok(Reply::empty(200)),
            ("GET", Route::Clusters(sub, rg)) => {
                if let Some(rg) = &rg {
                    self.require_group(&sub, rg)?;
                }
                let keys: Vec<Key> = self
                    .clusters
                    .keys()
                    .filter(|k| {
                        k.0 == sub && rg.as_ref().is_none_or(|rg| k.1 == rg.to_ascii_lowercase())
                    })
                    .cloned()
                    .collect();
                let value: Vec<Value> = keys.iter().filter_map(|k| self.cluster_json(k)).collect();
                Ok(Reply::json(200, json!({ "value": value })))
            }
            ("GET", Route::Cluster(key, name)) => {
                self.require_group(&key.0, &key.1)?;
                self.tick_resource(&key, None);
                self.cluster_json(&key)
                    .map(|v| Reply::json(200, v))
                    .ok_or_else(|| {
                        not_found("Microsoft.ContainerService/managedClusters", &name, &key.1)
                    })
            }
            ("PUT", Route::Cluster(key, name)) => self.put_cluster(key, &name, body),
            ("PATCH", Route::Cluster(key, name)) => {
                self.require_group(&key.0, &key.1)?;
                if !self.clusters.contains_key(&key) {
                    return Err(not_found(
                        "Microsoft.ContainerService/managedClusters",
                        &name,
                        &key.1,
                    ));
                }
                if self.busy(&key).is_some() {
                    return Err(in_progress("managed cluster"));
                }
                let tags = body.get("tags").cloned().unwrap_or(json!({}));
                let c = self.clusters.get_mut(&key).expect("checked");
                c.body.insert("tags".into(), tags);
                Ok(Reply::json(200, self.cluster_json(&key).expect("exists")))
            }
            ("DELETE", Route::Cluster(key, _)) => self.delete_cluster(key),
            ("POST", Route::ClusterAction(key, name, action)) => {
                let user = match action.as_str() {
                    "listclusterusercredential" => "clusterUser",
                    "listclusteradmincredential" => "clusterAdmin",
                    _ => {
                        return Err(Fault(
                            404,
                            "InvalidResourceType",
                            format!("the ARM stand-in does not serve POST .../{action}"),
                        ));
                    }
                };
                self.require_group(&key.0, &key.1)?;
                let c = self.clusters.get(&key).ok_or_else(|| {
                    not_found("Microsoft.ContainerService/managedClusters", &name, &key.1)
                })?;
                let props = object(c.body.get("properties"));
                let fqdn = str_of(&props, "fqdn").unwrap_or_default();
                let real = str_of(&c.body, "name").unwrap_or(&name);
                let rg = seg[3].as_str();
                let kubeconfig = format!(
                    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {CA_DATA}\n    server: https://{fqdn}:443\n  name: {real}\ncontexts:\n- context:\n    cluster: {real}\n    user: {user}_{rg}_{real}\n  name: {real}\ncurrent-context: {real}\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}_{rg}_{real}\n  user:\n    token: {:032x}\n",
                    self.next_id + 0x5eed
                );
                Ok(Reply::json(
                    200,
                    json!({"kubeconfigs": [{"name": user, "value": base64_encode(kubeconfig.as_bytes())}]}),
                ))
            }
            ("GET", Route::Pools(key, name)) => {
                self.require_group(&key.0, &key.1)?;
                let c = self.clusters.get(&key).ok_or_else(|| {
                    not_found("Microsoft.ContainerService/managedClusters", &name, &key.1)
                })?;
                let names: Vec<String> = c.pools.keys().cloned().collect();
                let value: Vec<Value> = names
                    .iter()
                    .filter_map(|p| self.pool_json(&key, p))
                    .collect();
                Ok(Reply::json(200, json!({ "value": value })))
            }
            ("GET", Route::Pool(key, name, pool)) => {
                self.require_group(&key.0, &key.1)?;
                if !self.clusters.contains_key(&key) {
                    return Err(not_found(
                        "Microsoft.ContainerService/managedClusters",
                        &name,
                        &key.1,
                    ));
                }
                let low = pool.to_ascii_lowercase();
                self.tick_resource(&key, Some(&low));
                self.pool_json(&key, &low)
                    .map(|v| Reply::json(200, v))
                    .ok_or_else(|| {
                        not_found(
                            &format!(
                                "Microsoft.ContainerService/managedClusters/{name}/agentPools"
                            ),
                            &pool,
                            &key.1,
                        )
                    })
            }
            ("PUT", Route::Pool(key, name, pool)) => self.put_pool(key, &name, &pool, body),
            ("DELETE", Route::Pool(key, name, pool)) => self.delete_pool(key, &name, &pool),
            ("GET", Route::Operation(id, status_url)) => {
                self.tick(&id);
                let op = self.ops.get(&id).ok_or_else(|| {
                    Fault(404, "NotFound", format!("Operation '{id}' was not found."))
                })?;
                if status_url {
                    return Ok(Reply::json(200, op.json()));
                }
                Ok(match op.status.as_str() {
                    "InProgress" => {
                        let reply = Reply::empty(202);
                        self.op_headers(reply, op, true)
                    }
                    "Succeeded" => Reply::empty(204),
                    _ => Reply::json(200, op.json()),
                })
            }
            (m, _) => Err(Fault(
                405,
                "MethodNotAllowed",
                format!("The requested method {m} is not allowed here."),
            )),
        }
    }

    fn put_group(&mut self, sub: &str, rg: &str, body: &Value) -> Served {
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .map(normalize_location)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                bad(
                    "LocationRequired",
                    "The location property is required for this definition.".into(),
                )
            })?;
        let key = (sub.to_string(), rg.to_ascii_lowercase());
        if let Some(have) = self.groups.get(&key)
            && have["location"] != json!(location)
        {
            return Err(Fault(
                409,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                    have["location"].as_str().unwrap_or_default()
                ),
            ));
        }
        let status = if self.groups.contains_key(&key) {
            200
        } else {
            201
        };
        let group = json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/{rg}"),
            "name": rg,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": body.get("tags").cloned().unwrap_or(json!({})),
            "properties": {"provisioningState": "Succeeded"},
        });
        self.groups.insert(key, group.clone());
        Ok(Reply::json(status, group))
    }

    /// Checks a pool version against the control plane version.
    fn check_pool_version(pool: &str, version: &str, control: &str) -> Result<(), Fault> {
        let (Some(v), Some(c)) = (minor(version), minor(control)) else {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter agentPoolProfile.orchestratorVersion '{version}' is invalid."
                ),
            ));
        };
        if v > c || v.0 != c.0 || v.1 + 2 < c.1 {
            return Err(bad(
                "NodePoolMcVersionIncompatible",
                format!(
                    "Node pool '{pool}' version {version} and control plane version {control} are incompatible. The node pool version must not be newer than the control plane version nor more than 2 minor versions older."
                ),
            ));
        }
        Ok(())
    }

    fn check_version(version: &str) -> Result<(), Fault> {
        match minor(version) {
            Some((1, m)) if SUPPORTED_MINORS.contains(&m) => Ok(()),
            _ => Err(bad(
                "K8sVersionNotSupported",
                format!("Version {version} is not supported in this region."),
            )),
        }
    }

    fn check_pool_name(name: &str) -> Result<(), Fault> {
        let ok = !name.is_empty()
            && name.len() <= 12
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter agentPoolProfile.name '{name}' is invalid: it must start with a lowercase letter, contain only lowercase letters and numbers, and be at most 12 characters long."
                ),
            ))
        }
    }

    /// Builds or updates a pool from request properties. Returns the pool JSON to store now and
    /// the fields that change when the operation completes.
    fn shape_pool(
        name: &str,
        have: Option<&Map<String, Value>>,
        props: &Map<String, Value>,
        control: &str,
        default_mode: &str,
        state: &str,
    ) -> Result<(Map<String, Value>, Deferred), Fault> {
        Self::check_pool_name(name)?;
        let old = have.map(|h| object(h.get("properties")));
        let version = str_of(props, "orchestratorVersion")
            .map(String::from)
            .or_else(|| {
                old.as_ref()
                    .and_then(|o| str_of(o, "orchestratorVersion").map(String::from))
            })
            .unwrap_or_else(|| control.to_string());
        Self::check_pool_version(name, &version, control)?;
        if let Some(old) = &old {
            let before = str_of(old, "currentOrchestratorVersion").unwrap_or_default();
            if minor(&version) < minor(before) {
                return Err(bad(
                    "OperationNotAllowed",
                    format!(
                        "Downgrading node pool '{name}' from {before} to {version} is not allowed."
                    ),
                ));
            }
            for immutable in ["vmSize", "osType", "osDiskSizeGB"] {
                if let (Some(a), Some(b)) = (old.get(immutable), props.get(immutable))
                    && a != b
                {
                    return Err(bad(
                        "PropertyChangeNotAllowed",
                        format!("Changing property '{immutable}' is not allowed."),
                    ));
                }
            }
        }
        let mode = str_of(props, "mode")
            .or_else(|| old.as_ref().and_then(|o| str_of(o, "mode")))
            .unwrap_or(default_mode)
            .to_string();
        let count = props
            .get("count")
            .cloned()
            .or_else(|| old.as_ref().and_then(|o| o.get("count").cloned()))
            .unwrap_or(json!(1));
        let n = count.as_i64().unwrap_or(-1);
        if !(0..=1000).contains(&n) || (mode == "System" && n < 1) {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter agentPoolProfile.count of pool '{name}' ({count}) is invalid: it must be within 0..1000, and at least 1 for a System pool."
                ),
            ));
        }
        if props.get("enableAutoScaling") == Some(&json!(true)) {
            let min = props.get("minCount").and_then(Value::as_i64);
            let max = props.get("maxCount").and_then(Value::as_i64);
            match (min, max) {
                (Some(a), Some(b)) if a <= b && a <= n && n <= b => {}
                _ => {
                    return Err(bad(
                        "InvalidParameter",
                        format!(
                            "Pool '{name}': with enableAutoScaling, minCount and maxCount are required and minCount <= count <= maxCount."
                        ),
                    ));
                }
            }
        }
        let mut now = old.clone().unwrap_or_else(|| {
            let mut m = Map::new();
            for (k, v) in [
                ("vmSize", json!("Standard_DS2_v2")),
                ("osDiskSizeGB", json!(128)),
                ("osDiskType", json!("Managed")),
                ("kubeletDiskType", json!("OS")),
                ("maxPods", json!(110)),
                ("type", json!("VirtualMachineScaleSets")),
                ("enableAutoScaling", json!(false)),
                ("osType", json!("Linux")),
                ("osSKU", json!("Ubuntu")),
                ("enableFIPS", json!(false)),
                (
                    "nodeImageVersion",
                    json!("AKSUbuntu-2204gen2containerd-202401.09.0"),
                ),
                ("powerState", json!({"code": "Running"})),
            ] {
                m.insert(k.into(), v);
            }
            m
        });
        let mut later = Map::new();
        for (k, v) in props {
            if POOL_READONLY.contains(&k.as_str()) || k == "name" {
                continue;
            }
            if old.is_some() && POOL_DEFERRED.contains(&k.as_str()) {
                later.insert(k.clone(), v.clone());
            } else {
                now.insert(k.clone(), v.clone());
            }
        }
        now.insert("mode".into(), json!(mode));
        now.insert("orchestratorVersion".into(), json!(version));
        now.insert("provisioningState".into(), json!(state));
        if old.is_none() {
            now.insert("count".into(), count);
            now.insert(
                "currentOrchestratorVersion".into(),
                json!(resolve(&version)),
            );
        } else {
            later.insert("count".into(), count);
            later.insert(
                "currentOrchestratorVersion".into(),
                json!(resolve(&version)),
            );
        }
        let mut pool = Map::new();
        pool.insert("name".into(), json!(name));
        pool.insert("properties".into(), Value::Object(now));
        Ok((pool, later))
    }

    fn put_cluster(&mut self, key: Key, name: &str, body: &Value) -> Served {
        self.require_group(&key.0, &key.1)?;
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .map(normalize_location)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                bad(
                    "LocationRequired",
                    "The location property is required for this definition.".into(),
                )
            })?;
        let mut props = object(body.get("properties"));
        let profiles: Vec<Map<String, Value>> = props
            .remove("agentPoolProfiles")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|p| object(Some(p)))
            .collect();
        for readonly in [
            "provisioningState",
            "powerState",
            "currentKubernetesVersion",
            "fqdn",
            "azurePortalFQDN",
            "maxAgentPools",
        ] {
            props.remove(readonly);
        }
        let fail = self.opts.fail_clusters.iter().any(|c| c == name);
        let existing = self.clusters.contains_key(&key);
        if existing && let Some(op) = self.busy(&key) {
            let what = match (&op.action, &op.pool) {
                (Action::DeleteCluster, _) => "delete managed cluster",
                (Action::DeletePool, _) => "delete agent pool",
                (_, Some(_)) => "create or update agent pool",
                (_, None) => "create or update managed cluster",
            };
            return Err(in_progress(what));
        }
        let rg = key.1.clone();
        let op_key = key.clone();
        if !existing {
            let version = str_of(&props, "kubernetesVersion")
                .unwrap_or(DEFAULT_VERSION)
                .to_string();
            Self::check_version(&version)?;
            if profiles.is_empty() {
                return Err(bad(
                    "InvalidParameter",
                    "The value of parameter agentPoolProfiles is invalid: at least one agent pool profile is required.".into(),
                ));
            }
            let mut pools = BTreeMap::new();
            for p in &profiles {
                let pname = str_of(p, "name").unwrap_or_default().to_string();
                let (pool, _) = Self::shape_pool(&pname, None, p, &version, "System", "Creating")?;
                if pools.insert(pname.to_ascii_lowercase(), pool).is_some() {
                    return Err(bad(
                        "InvalidParameter",
                        format!("Agent pool name '{pname}' is used more than once."),
                    ));
                }
            }
            if !pools
                .values()
                .any(|p| p["properties"]["mode"] == json!("System"))
            {
                return Err(bad(
                    "MustDefineAtLeastOneSystemPool",
                    "Must define at least one system pool.".into(),
                ));
            }
            let dns = str_of(&props, "dnsPrefix")
                .map(String::from)
                .unwrap_or_else(|| {
                    let short: String = key.0.chars().take(6).collect();
                    let n: String = name.chars().take(10).collect();
                    let r: String = rg.chars().take(16).collect();
                    format!("{n}-{r}-{short}")
                });
            let fqdn = format!("{dns}.hcp.{location}.azmk8s.io");
            let mut all = props.clone();
            for (k, v) in [
                ("provisioningState", json!("Creating")),
                ("powerState", json!({"code": "Running"})),
                ("maxAgentPools", json!(100)),
                ("kubernetesVersion", json!(version)),
                ("currentKubernetesVersion", json!(resolve(&version))),
                ("dnsPrefix", json!(dns)),
                ("fqdn", json!(fqdn)),
                (
                    "azurePortalFQDN",
                    json!(format!("{dns}.portal.hcp.{location}.azmk8s.io")),
                ),
                ("enableRBAC", json!(true)),
            ] {
                all.insert(k.into(), v);
            }
            all.entry("nodeResourceGroup")
                .or_insert_with(|| json!(format!("MC_{}_{name}_{location}", key.1)));
            all.entry("networkProfile").or_insert_with(|| {
                json!({
                    "networkPlugin": "kubenet",
                    "podCidr": "10.244.0.0/16",
                    "serviceCidr": "10.0.0.0/16",
                    "dnsServiceIP": "10.0.0.10",
                    "outboundType": "loadBalancer",
                    "loadBalancerSku": "standard",
                })
            });
            let mut cluster = Map::new();
            let rg_name = self
                .groups
                .get(&(key.0.clone(), key.1.clone()))
                .and_then(|g| g["name"].as_str().map(String::from))
                .unwrap_or(rg.clone());
            for (k, v) in [
                (
                    "id",
                    json!(format!(
                        "/subscriptions/{}/resourcegroups/{rg_name}/providers/Microsoft.ContainerService/managedClusters/{name}",
                        key.0
                    )),
                ),
                ("location", json!(location)),
                ("name", json!(name)),
                ("type", json!("Microsoft.ContainerService/ManagedClusters")),
                ("tags", body.get("tags").cloned().unwrap_or(json!({}))),
                (
                    "sku",
                    body.get("sku")
                        .cloned()
                        .unwrap_or(json!({"name": "Base", "tier": "Free"})),
                ),
                ("properties", Value::Object(all)),
            ] {
                cluster.insert(k.into(), v);
            }
            let mut identity = object(body.get("identity"));
            if identity.is_empty() {
                identity.insert("type".into(), json!("SystemAssigned"));
            }
            if identity.get("type") == Some(&json!("SystemAssigned")) {
                identity.insert(
                    "principalId".into(),
                    json!(format!(
                        "{:08x}-0000-4000-8000-000000000000",
                        self.next_id + 1
                    )),
                );
                identity.insert("tenantId".into(), json!(TENANT));
            }
            cluster.insert("identity".into(), Value::Object(identity));
            let names: BTreeMap<String, Map<String, Value>> =
                pools.keys().map(|k| (k.clone(), Map::new())).collect();
            self.clusters.insert(
                key.clone(),
                Cluster {
                    body: cluster,
                    pools,
                },
            );
            let id = self.new_op(
                &op_key,
                None,
                Action::Provision {
                    cluster: Map::new(),
                    pools: names,
                    fail,
                },
            );
            let reply = Reply::json(201, self.cluster_json(&key).expect("inserted"));
            return Ok(self.op_headers(reply, &self.ops[&id], false));
        }

        // Update of an existing cluster.
        let c = self.clusters.get(&key).expect("exists");
        let have = object(c.body.get("properties"));
        let old_location = str_of(&c.body, "location").unwrap_or_default().to_string();
        if location != old_location {
            return Err(bad(
                "PropertyChangeNotAllowed",
                format!(
                    "Changing property 'location' is not allowed (from '{old_location}' to '{location}')."
                ),
            ));
        }
        if let Some(dns) = str_of(&props, "dnsPrefix")
            && Some(dns) != str_of(&have, "dnsPrefix")
        {
            return Err(bad(
                "PropertyChangeNotAllowed",
                "Changing property 'dnsPrefix' is not allowed.".into(),
            ));
        }
        let current = str_of(&have, "currentKubernetesVersion")
            .unwrap_or_default()
            .to_string();
        let version = str_of(&props, "kubernetesVersion")
            .or_else(|| str_of(&have, "kubernetesVersion"))
            .unwrap_or(DEFAULT_VERSION)
            .to_string();
        Self::check_version(&version)?;
        match (minor(&current), minor(&version)) {
            (Some(a), Some(b)) if b < a => {
                return Err(bad(
                    "OperationNotAllowed",
                    format!(
                        "Downgrading Kubernetes version from {current} to {version} is not allowed."
                    ),
                ));
            }
            (Some(a), Some(b)) if b.0 != a.0 || b.1 > a.1 + 1 => {
                return Err(bad(
                    "OperationNotAllowed",
                    format!(
                        "Upgrading Kubernetes version from {current} to {version} is not allowed: control plane upgrades must go one minor version at a time. Available upgrades: {}.{}",
                        a.0,
                        a.1 + 1
                    ),
                ));
            }
            _ => {}
        }
        // Existing pools stay compatible with the new control plane.
        for p in c.pools.values() {
            let pv = p["properties"]["currentOrchestratorVersion"]
                .as_str()
                .unwrap_or_default();
            if !profiles.iter().any(|q| {
                str_of(q, "name").map(str::to_ascii_lowercase).as_deref()
                    == p["name"].as_str().map(str::to_ascii_lowercase).as_deref()
            }) {
                Self::check_pool_version(p["name"].as_str().unwrap_or_default(), pv, &version)?;
            }
        }
        let mut pools_now = BTreeMap::new();
        let mut later_pools = BTreeMap::new();
        for p in &profiles {
            let pname = str_of(p, "name").unwrap_or_default().to_string();
            let low = pname.to_ascii_lowercase();
            let old = c.pools.get(&low);
            let state = if old.is_some() {
                "Updating"
            } else {
                "Creating"
            };
            let (pool, later) = Self::shape_pool(&pname, old, p, &version, "System", state)?;
            pools_now.insert(low.clone(), pool);
            later_pools.insert(low, later);
        }
        let mut merged = c.pools.clone();
        merged.extend(pools_now);
        if !merged
            .values()
            .any(|p| p["properties"]["mode"] == json!("System"))
        {
            return Err(bad(
                "MustDefineAtLeastOneSystemPool",
                "Must define at least one system pool.".into(),
            ));
        }
        let mut new_props = have.clone();
        for (k, v) in props {
            new_props.insert(k, v);
        }
        new_props.insert("kubernetesVersion".into(), json!(version));
        new_props.insert("provisioningState".into(), json!("Updating"));
        let mut later = Map::new();
        later.insert("currentKubernetesVersion".into(), json!(resolve(&version)));
        let c = self.clusters.get_mut(&key).expect("exists");
        c.pools = merged;
        c.body.insert("properties".into(), Value::Object(new_props));
        if let Some(t) = body.get("tags") {
            c.body.insert("tags".into(), t.clone());
        }
        for k in ["sku", "identity"] {
            if let Some(v) = body.get(k) {
                c.body.insert(k.into(), v.clone());
            }
        }
        let id = self.new_op(
            &op_key,
            None,
            Action::Provision {
                cluster: later,
                pools: later_pools,
                fail,
            },
        );
        let reply = Reply::json(200, self.cluster_json(&key).expect("exists"));
        Ok(self.op_headers(reply, &self.ops[&id], false))
    }

    fn delete_cluster(&mut self, key: Key) -> Served {
        self.require_group(&key.0, &key.1)?;
        if !self.clusters.contains_key(&key) {
            return Ok(Reply::empty(204));
        }
        if let Some(op) = self.busy(&key)
            && op.action == Action::DeleteCluster
        {
            let reply = Reply::empty(202);
            return Ok(self.op_headers(reply, op, true));
        }
        // Deleting preempts whatever runs on the cluster.
        let now = now_rfc3339();
        for op in self.ops.values_mut() {
            if op.in_progress() && op.cluster == key {
                op.status = "Canceled".into();
                op.end = Some(now.clone());
                op.error = Some(json!({
                    "code": "OperationCanceled",
                    "message": "The operation was canceled by a delete of the managed cluster.",
                }));
            }
        }
        let c = self.clusters.get_mut(&key).expect("exists");
        for p in c.pools.values_mut() {
            p["properties"]["provisioningState"] = json!("Deleting");
        }
        if let Some(props) = c.body.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("provisioningState".into(), json!("Deleting"));
        }
        let id = self.new_op(&key, None, Action::DeleteCluster);
        Ok(self.op_headers(Reply::empty(202), &self.ops[&id], true))
    }

    fn put_pool(&mut self, key: Key, name: &str, pool: &str, body: &Value) -> Served {
        self.require_group(&key.0, &key.1)?;
        let c = self.clusters.get(&key).ok_or_else(|| {
            Fault(
                404,
                "ParentResourceNotFound",
                format!("Can not perform requested operation on nested resource. Parent resource '{name}' not found."),
            )
        })?;
        if let Some(op) = self.busy(&key) {
            let what = if op.pool.is_some() {
                "agent pool"
            } else {
                "managed cluster"
            };
            return Err(in_progress(what));
        }
        let control = c.body["properties"]["currentKubernetesVersion"]
            .as_str()
            .unwrap_or(DEFAULT_VERSION)
            .to_string();
        let low = pool.to_ascii_lowercase();
        let old = c.pools.get(&low);
        let props = object(body.get("properties"));
        let state = if old.is_some() {
            "Updating"
        } else {
            "Creating"
        };
        let existed = old.is_some();
        let (new, later) = Self::shape_pool(pool, old, &props, &control, "User", state)?;
        if existed
            && new["properties"]["mode"] == json!("User")
            && !c
                .pools
                .iter()
                .any(|(k, p)| k != &low && p["properties"]["mode"] == json!("System"))
        {
            return Err(bad(
                "OperationNotAllowed",
                format!(
                    "Changing the mode of '{pool}' to User would leave the cluster without a System pool."
                ),
            ));
        }
        let c = self.clusters.get_mut(&key).expect("exists");
        c.pools.insert(low.clone(), new);
        let mut pools = BTreeMap::new();
        pools.insert(low.clone(), later);
        let id = self.new_op(
            &key,
            Some(low.clone()),
            Action::Provision {
                cluster: Map::new(),
                pools,
                fail: false,
            },
        );
        let status = if existed { 200 } else { 201 };
        let reply = Reply::json(status, self.pool_json(&key, &low).expect("inserted"));
        Ok(self.op_headers(reply, &self.ops[&id], false))
    }

    fn delete_pool(&mut self, key: Key, name: &str, pool: &str) -> Served {
        self.require_group(&key.0, &key.1)?;
        let low = pool.to_ascii_lowercase();
        let c = self.clusters.get(&key).ok_or_else(|| {
            Fault(
                404,
                "ParentResourceNotFound",
                format!("Can not perform requested operation on nested resource. Parent resource '{name}' not found."),
            )
        })?;
        let Some(p) = c.pools.get(&low) else {
            return Ok(Reply::empty(204));
        };
        if let Some(op) = self.busy(&key) {
            if op.action == Action::DeletePool && op.pool.as_deref() == Some(low.as_str()) {
                let reply = Reply::empty(202);
                return Ok(self.op_headers(reply, op, true));
            }
            return Err(in_progress(if op.pool.is_some() {
                "agent pool"
            } else {
                "managed cluster"
            }));
        }
        if p["properties"]["mode"] == json!("System")
            && !c
                .pools
                .iter()
                .any(|(k, q)| k != &low && q["properties"]["mode"] == json!("System"))
        {
            return Err(bad(
                "OperationNotAllowed",
                format!(
                    "Agent pool '{pool}' is the last System pool of the cluster: there has to be at least one System agent pool."
                ),
            ));
        }
        let c = self.clusters.get_mut(&key).expect("exists");
        if let Some(p) = c.pools.get_mut(&low) {
            p["properties"]["provisioningState"] = json!("Deleting");
        }
        let id = self.new_op(&key, Some(low), Action::DeletePool);
        Ok(self.op_headers(Reply::empty(202), &self.ops[&id], true))
    }
}

/// A running stand-in; the server thread lives as long as the test process.
pub struct ArmStandIn {
    /// `http://127.0.0.1:port`: pass it to the client as its endpoint.
    pub url: String,
    state: Arc<Mutex<State>>,
}

struct Incoming {
    method: String,
    target: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<Incoming> {
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.to_string());
            }
        }
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Incoming {
        method,
        target,
        authorization,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

fn respond(writer: &mut TcpStream, head_only: bool, reply: &Reply, request_id: u64) -> bool {
    let body = reply
        .body
        .as_ref()
        .map(Value::to_string)
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nx-ms-request-id: {request_id:08x}-0000-4000-8000-000000000000\r\ncache-control: no-cache\r\n",
        reply.status,
        reason(reply.status),
        if head_only { 0 } else { body.len() }
    );
    if reply.body.is_some() {
        out.push_str("content-type: application/json; charset=utf-8\r\n");
    }
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&body);
    }
    writer.write_all(out.as_bytes()).is_ok() && writer.flush().is_ok()
}

fn error_reply(Fault(status, code, message): Fault) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader, &mut writer) {
        let (path, query) = req
            .target
            .split_once('?')
            .map_or((req.target.as_str(), ""), |(p, q)| (p, q));
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let parsed: Result<Value, String> = if req.body.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(&req.body).map_err(|e| e.to_string())
        };
        let (reply, id) = {
            let mut s = lock(&state);
            let bearer = req
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| !t.trim().is_empty());
            let throttled = bearer && s.seen < s.opts.throttle_first;
            if bearer {
                s.seen += 1;
            }
            s.requests.push(Request {
                method: req.method.clone(),
                path: format!("/{}", segments.join("/")),
                query: query.to_string(),
                body: parsed.clone().unwrap_or(Value::Null),
                authorization: req.authorization.clone(),
                throttled,
            });
            let id = s.requests.len() as u64;
            let reply = if !bearer {
                error_reply(Fault(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.".into(),
                ))
                .header("WWW-Authenticate", format!("Bearer authorization_uri=\"https://login.microsoftonline.com/{TENANT}\", error=\"invalid_token\""))
            } else if throttled {
                error_reply(Fault(
                    429,
                    "TooManyRequests",
                    "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, refer to - https://aka.ms/throttling".into(),
                ))
                .header("Retry-After", "1".into())
            } else {
                match parsed {
                    Err(e) => error_reply(bad(
                        "InvalidRequestContent",
                        format!(
                            "The request content was invalid and could not be deserialized: {e}"
                        ),
                    )),
                    Ok(body) => match s.handle(&req.method, &segments, query, &body) {
                        Ok(r) => r,
                        Err(f) => error_reply(f),
                    },
                }
            };
            (reply, id)
        };
        if !respond(&mut writer, req.method == "HEAD", &reply, id) {
            return;
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl ArmStandIn {
    pub fn start(opts: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            opts,
            base: url.clone(),
            groups: BTreeMap::new(),
            clusters: BTreeMap::new(),
            ops: BTreeMap::new(),
            requests: Vec::new(),
            seen: 0,
            next_id: 0,
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, state));
            }
        });
        ArmStandIn { url, state }
    }

    /// Every request received so far, throttled and unauthenticated ones included, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// The mutating requests (PUT/PATCH/POST/DELETE) that were served (authenticated, not
    /// throttled).
    pub fn mutations(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_mutation() && !r.throttled && r.authorization.is_some())
            .collect()
    }

    /// Forgets the recorded requests (state stays).
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// Creates a resource group directly (no request recorded), in `Options::region`.
    pub fn add_resource_group(&self, subscription: &str, name: &str) {
        let mut s = lock(&self.state);
        let region = s.opts.region.clone();
        let _ = s.put_group(subscription, name, &json!({ "location": region }));
    }

    /// The current JSON of a resource group.
    pub fn resource_group(&self, subscription: &str, name: &str) -> Option<Value> {
        lock(&self.state)
            .groups
            .get(&(subscription.to_string(), name.to_ascii_lowercase()))
            .cloned()
    }

    fn find(s: &State, rg: &str, name: &str) -> Option<Key> {
        let (rg, name) = (rg.to_ascii_lowercase(), name.to_ascii_lowercase());
        s.clusters
            .keys()
            .find(|k| k.1 == rg && k.2 == name)
            .cloned()
    }

    /// The current JSON of a managed cluster (any subscription), as GET shows it, without counting
    /// as a poll.
    pub fn cluster(&self, rg: &str, name: &str) -> Option<Value> {
        let s = lock(&self.state);
        let key = Self::find(&s, rg, name)?;
        s.cluster_json(&key)
    }

    /// The current JSON of an agent pool, as GET shows it, without counting as a poll.
    pub fn pool(&self, rg: &str, cluster: &str, pool: &str) -> Option<Value> {
        let s = lock(&self.state);
        let key = Self::find(&s, rg, cluster)?;
        s.pool_json(&key, pool)
    }

    /// Sets a tag on a managed cluster, or on one of its agent pools, as someone else (the
    /// portal, a policy) would: directly, no request recorded.
    pub fn set_tag(&self, rg: &str, cluster: &str, pool: Option<&str>, key: &str, value: &str) {
        let mut s = lock(&self.state);
        let Some(k) = Self::find(&s, rg, cluster) else {
            panic!("no cluster {cluster} in {rg}");
        };
        let c = s.clusters.get_mut(&k).expect("found");
        let tags = match pool {
            None => c.body.entry("tags").or_insert_with(|| json!({})),
            Some(p) => {
                let pool = c
                    .pools
                    .get_mut(&p.to_ascii_lowercase())
                    .unwrap_or_else(|| panic!("no pool {p}"));
                let props = pool.entry("properties").or_insert_with(|| json!({}));
                if props.get("tags").is_none() {
                    props["tags"] = json!({});
                }
                &mut props["tags"]
            }
        };
        tags[key] = json!(value);
    }

    /// Sets an agent pool's property straight in ARM (someone else's node label or taint).
    pub fn set_pool_property(&self, rg: &str, cluster: &str, pool: &str, key: &str, value: Value) {
        let mut s = lock(&self.state);
        let Some(k) = Self::find(&s, rg, cluster) else {
            panic!("no cluster {cluster} in {rg}");
        };
        let c = s.clusters.get_mut(&k).expect("found");
        let pool = c
            .pools
            .get_mut(&pool.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no pool {pool}"));
        let props = pool.entry("properties").or_insert_with(|| json!({}));
        props[key] = value;
    }

    /// The status JSON of an operation (by id, the last segment of its URL), without polling.
    pub fn operation(&self, id: &str) -> Option<Value> {
        lock(&self.state).ops.get(id).map(Op::json)
    }

    /// Replaces the clusters whose create/update operations fail (e.g. to heal one).
    pub fn set_fail_clusters(&self, names: &[&str]) {
        lock(&self.state).opts.fail_clusters = names.iter().map(|n| n.to_string()).collect();
    }
}
