//! An in-memory EKS API stand-in over real HTTP/1.1, speaking the EKS REST-JSON protocol (camelCase
//! bodies, `x-amzn-errortype` + `{"message"}` errors) so the real `aws-sdk-eks` client works
//! against it unchanged. Unlike moto it has lifecycles (CREATING/UPDATING/DELETING that end after
//! a number of describe calls), cluster and node group version updates, add-ons, injected
//! failures and throttling, and it records every request.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

const ACCOUNT: &str = "123456789012";
/// base64 of a short fake PEM header: enough for a kubeconfig.
const CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";

/// What the stand-in does besides the happy path.
#[derive(Debug, Clone)]
pub struct Options {
    /// Describe calls that still show a transitional status (CREATING, UPDATING, DELETING)
    /// before the transition completes.
    pub transition_polls: usize,
    /// Clusters whose creation ends in FAILED.
    pub fail_clusters: Vec<String>,
    /// Node groups (by name, any cluster) whose creation ends in CREATE_FAILED with a health issue.
    pub fail_nodegroups: Vec<String>,
    /// The first N requests are answered with HTTP 429 ThrottlingException.
    pub throttle_first: usize,
    pub region: String,
    /// The API server endpoint and CA that DescribeCluster returns for every cluster (for
    /// example a Kubernetes stand-in's, so that the cluster can be reached as a user would reach
    /// it); `None` gives each cluster a made-up `https://….eks.amazonaws.com` endpoint and a
    /// placeholder CA that nothing can connect to.
    pub endpoint: Option<Endpoint>,
}

/// A cluster endpoint for [`Options::endpoint`].
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://…` or `http://…`, as DescribeCluster's `endpoint`.
    pub url: String,
    /// Base64 of the PEM CA bundle, as DescribeCluster's `certificateAuthority.data`.
    pub ca_data: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            transition_polls: 2,
            fail_clusters: Vec::new(),
            fail_nodegroups: Vec::new(),
            throttle_first: 0,
            region: "eu-west-1".to_string(),
            endpoint: None,
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
    pub body: Value,
    /// Answered with 429 ThrottlingException instead of being served.
    pub throttled: bool,
}

impl Request {
    /// Whether it may change state (POST or DELETE).
    pub fn is_mutation(&self) -> bool {
        self.method == "POST" || self.method == "DELETE" || self.method == "PUT"
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What happens when a pending transition completes.
#[derive(Debug)]
enum Outcome {
    /// Merge these fields into the resource (status included).
    Become(Map<String, Value>),
    Gone,
}

#[derive(Debug)]
struct Pending {
    polls_left: usize,
    outcome: Outcome,
    update: Option<String>,
}

#[derive(Debug)]
struct Res {
    body: Map<String, Value>,
    pending: Option<Pending>,
}

enum Tick {
    Unchanged,
    Done(Option<String>),
    Gone(Option<String>),
}

impl Res {
    fn new(body: Value) -> Self {
        let Value::Object(body) = body else {
            unreachable!("resources are objects")
        };
        Res {
            body,
            pending: None,
        }
    }

    fn status(&self) -> &str {
        self.body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn set(&mut self, key: &str, value: Value) {
        self.body.insert(key.to_string(), value);
    }

    /// Starts a transition: `now` is shown until it completes into `outcome`.
    fn begin(&mut self, now: &str, outcome: Outcome, update: Option<String>, polls: usize) {
        self.set("status", json!(now));
        self.pending = Some(Pending {
            polls_left: polls,
            outcome,
            update,
        });
    }

    /// One describe call: counts down, completes the transition when due.
    fn tick(&mut self) -> Tick {
        let Some(p) = &mut self.pending else {
            return Tick::Unchanged;
        };
        if p.polls_left > 0 {
            p.polls_left -= 1;
            return Tick::Unchanged;
        }
        let p = self.pending.take().expect("pending");
        match p.outcome {
            Outcome::Gone => Tick::Gone(p.update),
            Outcome::Become(fields) => {
                self.body.extend(fields);
                self.set("modifiedAt", json!(now()));
                Tick::Done(p.update)
            }
        }
    }
}

#[derive(Debug)]
struct Cluster {
    res: Res,
    nodegroups: BTreeMap<String, Res>,
    addons: BTreeMap<String, Res>,
    updates: BTreeMap<String, Map<String, Value>>,
}

impl Cluster {
    fn finish_update(&mut self, tick: &Tick) {
        if let Tick::Done(Some(id)) | Tick::Gone(Some(id)) = tick
            && let Some(u) = self.updates.get_mut(id)
        {
            u.insert("status".into(), json!("Successful"));
        }
    }

    fn tick_cluster(&mut self) -> bool {
        let t = self.res.tick();
        self.finish_update(&t);
        matches!(t, Tick::Gone(_))
    }

    fn tick_nodegroup(&mut self, name: &str) {
        let Some(ng) = self.nodegroups.get_mut(name) else {
            return;
        };
        let t = ng.tick();
        if matches!(t, Tick::Gone(_)) {
            self.nodegroups.remove(name);
        }
        self.finish_update(&t);
    }

    fn tick_addon(&mut self, name: &str) {
        let Some(a) = self.addons.get_mut(name) else {
            return;
        };
        let t = a.tick();
        if matches!(t, Tick::Gone(_)) {
            self.addons.remove(name);
        }
        self.finish_update(&t);
    }
}

#[derive(Debug)]
struct State {
    opts: Options,
    clusters: BTreeMap<String, Cluster>,
    requests: Vec<Request>,
    /// Requests received, for throttling (not reset by `clear_requests`).
    seen: usize,
    next_id: u64,
}

/// An error response: status, `x-amzn-errortype`, message.
struct Fault(u16, &'static str, String);

type Reply = Result<(u16, Value), Fault>;

fn not_found(what: String) -> Fault {
    Fault(404, "ResourceNotFoundException", what)
}
fn in_use(what: String) -> Fault {
    Fault(409, "ResourceInUseException", what)
}
fn invalid(what: String) -> Fault {
    Fault(400, "InvalidParameterException", what)
}
fn bad_state(what: String) -> Fault {
    Fault(400, "InvalidRequestException", what)
}

fn now() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

fn minor(version: &str) -> Option<(u32, u32)> {
    let (a, b) = version.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
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

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

fn str_of<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn object(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }

    fn arn(&self, kind: &str, rest: &str) -> String {
        format!("arn:aws:eks:{}:{ACCOUNT}:{kind}/{rest}", self.opts.region)
    }

    fn cluster(&mut self, name: &str) -> Result<&mut Cluster, Fault> {
        self.clusters
            .get_mut(name)
            .ok_or_else(|| not_found(format!("No cluster found for name: {name}.")))
    }

    fn new_update(
        &mut self,
        cluster: &str,
        kind: &str,
        params: Vec<Value>,
    ) -> Result<String, Fault> {
        let id = self.id();
        let update = json!({
            "id": id,
            "status": "InProgress",
            "type": kind,
            "params": params,
            "createdAt": now(),
            "errors": [],
        });
        let Value::Object(update) = update else {
            unreachable!()
        };
        self.cluster(cluster)?.updates.insert(id.clone(), update);
        Ok(id)
    }

    fn update_reply(&mut self, cluster: &str, id: &str) -> Reply {
        let c = self.cluster(cluster)?;
        let u = c
            .updates
            .get(id)
            .ok_or_else(|| not_found(format!("No update found for ID: {id}")))?;
        Ok((200, json!({ "update": u })))
    }

    fn handle(&mut self, method: &str, segments: &[String], query: &str, body: &Value) -> Reply {
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (method, seg.as_slice()) {
            ("POST", ["clusters"]) => self.create_cluster(body),
            ("GET", ["clusters"]) => {
                let names: Vec<&String> = self.clusters.keys().collect();
                Ok((200, json!({ "clusters": names })))
            }
            ("GET", ["clusters", name]) => {
                let c = self.cluster(name)?;
                if c.tick_cluster() {
                    self.clusters.remove(*name);
                    return Err(not_found(format!("No cluster found for name: {name}.")));
                }
                Ok((200, json!({ "cluster": self.cluster(name)?.res.body })))
            }
            ("DELETE", ["clusters", name]) => self.delete_cluster(name),
            ("POST", ["clusters", name, "updates"]) => self.update_cluster_version(name, body),
            ("GET", ["clusters", name, "updates"]) => {
                let ids: Vec<String> = self.cluster(name)?.updates.keys().cloned().collect();
                Ok((200, json!({ "updateIds": ids })))
            }
            ("GET", ["clusters", name, "updates", id]) => {
                // Polling an update advances the resource it is about.
                let ng = query_values(query, "nodegroupName");
                let addon = query_values(query, "addonName");
                let c = self.cluster(name)?;
                if let Some(ng) = ng.first() {
                    c.tick_nodegroup(ng);
                } else if let Some(addon) = addon.first() {
                    c.tick_addon(addon);
                } else if c.tick_cluster() {
                    self.clusters.remove(*name);
                    return Err(not_found(format!("No cluster found for name: {name}.")));
                }
                self.update_reply(name, id)
            }
            ("GET", ["clusters", name, "node-groups"]) => {
                let c = self.cluster(name)?;
                let names: Vec<&String> = c.nodegroups.keys().collect();
                Ok((200, json!({ "nodegroups": names })))
            }
            ("POST", ["clusters", name, "node-groups"]) => self.create_nodegroup(name, body),
            ("GET", ["clusters", name, "node-groups", ng]) => {
                let c = self.cluster(name)?;
                c.tick_nodegroup(ng);
                let n = c
                    .nodegroups
                    .get(*ng)
                    .ok_or_else(|| not_found(format!("No node group found for name: {ng}.")))?;
                Ok((200, json!({ "nodegroup": n.body })))
            }
            ("DELETE", ["clusters", name, "node-groups", ng]) => self.delete_nodegroup(name, ng),
            ("POST", ["clusters", name, "node-groups", ng, "update-config"]) => {
                self.update_nodegroup_config(name, ng, body)
            }
            ("POST", ["clusters", name, "node-groups", ng, "update-version"]) => {
                self.update_nodegroup_version(name, ng, body)
            }
            ("GET", ["clusters", name, "addons"]) => {
                let c = self.cluster(name)?;
                let names: Vec<&String> = c.addons.keys().collect();
                Ok((200, json!({ "addons": names })))
            }
            ("POST", ["clusters", name, "addons"]) => self.create_addon(name, body),
            ("GET", ["clusters", name, "addons", addon]) => {
                let c = self.cluster(name)?;
                c.tick_addon(addon);
                let a = c.addons.get(*addon).ok_or_else(|| {
                    not_found(format!("No addon: {addon} found in cluster: {name}"))
                })?;
                Ok((200, json!({ "addon": a.body })))
            }
            ("POST", ["clusters", name, "addons", addon, "update"]) => {
                self.update_addon(name, addon, body)
            }
            ("DELETE", ["clusters", name, "addons", addon]) => self.delete_addon(name, addon),
            ("POST", ["tags", arn]) => {
                let tags = object(body.get("tags"));
                let res = self.by_arn(arn)?;
                let mut have = object(res.body.get("tags"));
                have.extend(tags);
                res.set("tags", Value::Object(have));
                Ok((200, json!({})))
            }
            ("DELETE", ["tags", arn]) => {
                let keys = query_values(query, "tagKeys");
                let res = self.by_arn(arn)?;
                let mut have = object(res.body.get("tags"));
                for k in keys {
                    have.remove(&k);
                }
                res.set("tags", Value::Object(have));
                Ok((200, json!({})))
            }
            ("GET", ["tags", arn]) => {
                let res = self.by_arn(arn)?;
                Ok((200, json!({ "tags": object(res.body.get("tags")) })))
            }
            _ => Err(Fault(
                404,
                "UnknownOperationException",
                format!(
                    "the EKS stand-in does not serve {method} /{}",
                    seg.join("/")
                ),
            )),
        }
    }

    fn by_arn(&mut self, arn: &str) -> Result<&mut Res, Fault> {
        for c in self.clusters.values_mut() {
            if c.res.body.get("arn").and_then(Value::as_str) == Some(arn) {
                return Ok(&mut c.res);
            }
            for n in c.nodegroups.values_mut() {
                if n.body.get("nodegroupArn").and_then(Value::as_str) == Some(arn) {
                    return Ok(n);
                }
            }
            for a in c.addons.values_mut() {
                if a.body.get("addonArn").and_then(Value::as_str) == Some(arn) {
                    return Ok(a);
                }
            }
        }
        Err(Fault(
            404,
            "NotFoundException",
            format!("Resource not found: {arn}"),
        ))
    }

    fn create_cluster(&mut self, body: &Value) -> Reply {
        let name = str_of(body, "name")
            .ok_or_else(|| invalid("name is required".into()))?
            .to_string();
        let role = str_of(body, "roleArn")
            .ok_or_else(|| invalid("roleArn is required".into()))?
            .to_string();
        if self.clusters.contains_key(&name) {
            return Err(in_use(format!("Cluster already exists with name: {name}")));
        }
        let version = str_of(body, "version").unwrap_or("1.31").to_string();
        if minor(&version).is_none() {
            return Err(invalid(format!("unsupported Kubernetes version {version}")));
        }
        let vpc = object(body.get("resourcesVpcConfig"));
        let subnets = vpc.get("subnetIds").cloned().unwrap_or(json!([]));
        if subnets.as_array().is_none_or(|s| s.len() < 2) {
            return Err(invalid(
                "Subnets specified must be in at least two different AZs".into(),
            ));
        }
        let id = self.id();
        let arn = self.arn("cluster", &name);
        let host = format!(
            "{}.gr7.{}.eks.amazonaws.com",
            id.replace('-', "").to_uppercase(),
            self.opts.region
        );
        let (endpoint, ca_data) = match &self.opts.endpoint {
            Some(e) => (e.url.clone(), e.ca_data.clone()),
            None => (format!("https://{host}"), CA_DATA.to_string()),
        };
        let cluster = json!({
            "name": name,
            "arn": arn,
            "createdAt": now(),
            "version": version,
            "endpoint": endpoint,
            "roleArn": role,
            "resourcesVpcConfig": {
                "subnetIds": subnets,
                "securityGroupIds": vpc.get("securityGroupIds").cloned().unwrap_or(json!([])),
                "clusterSecurityGroupId": "sg-0123456789abcdef0",
                "vpcId": "vpc-0123456789abcdef0",
                "endpointPublicAccess": vpc.get("endpointPublicAccess").cloned().unwrap_or(json!(true)),
                "endpointPrivateAccess": vpc.get("endpointPrivateAccess").cloned().unwrap_or(json!(false)),
                "publicAccessCidrs": vpc.get("publicAccessCidrs").cloned().unwrap_or(json!(["0.0.0.0/0"])),
            },
            "kubernetesNetworkConfig": {
                "serviceIpv4Cidr": "10.100.0.0/16",
                "ipFamily": "ipv4",
            },
            "logging": body.get("logging").cloned().unwrap_or(json!({"clusterLogging": []})),
            "identity": {"oidc": {"issuer": format!("https://oidc.eks.{}.amazonaws.com/id/{}", self.opts.region, id)}},
            "status": "CREATING",
            "certificateAuthority": {"data": ca_data},
            "platformVersion": "eks.1",
            "tags": body.get("tags").cloned().unwrap_or(json!({})),
            "health": {"issues": []},
        });
        let mut res = Res::new(cluster);
        let fail = self.opts.fail_clusters.contains(&name);
        let mut done = Map::new();
        done.insert(
            "status".into(),
            json!(if fail { "FAILED" } else { "ACTIVE" }),
        );
        if fail {
            done.insert(
                "health".into(),
                json!({"issues": [{"code": "Ec2SubnetNotFound", "message": "The subnet ID does not exist", "resourceIds": subnets}]}),
            );
        }
        res.begin(
            "CREATING",
            Outcome::Become(done),
            None,
            self.opts.transition_polls,
        );
        let reply = json!({ "cluster": res.body });
        self.clusters.insert(
            name,
            Cluster {
                res,
                nodegroups: BTreeMap::new(),
                addons: BTreeMap::new(),
                updates: BTreeMap::new(),
            },
        );
        Ok((200, reply))
    }

    fn delete_cluster(&mut self, name: &str) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(name)?;
        if !c.nodegroups.is_empty() {
            return Err(in_use(format!(
                "Cluster has nodegroups attached: {}",
                c.nodegroups.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if matches!(c.res.status(), "CREATING" | "UPDATING") {
            return Err(in_use(format!(
                "Cannot delete because cluster {name} currently has an update in progress"
            )));
        }
        if c.res.status() != "DELETING" {
            c.addons.clear();
            c.res.begin("DELETING", Outcome::Gone, None, polls);
        }
        Ok((200, json!({ "cluster": c.res.body })))
    }

    fn update_cluster_version(&mut self, name: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let version = str_of(body, "version")
            .ok_or_else(|| invalid("version is required".into()))?
            .to_string();
        let c = self.cluster(name)?;
        if c.res.status() != "ACTIVE" {
            return Err(in_use(format!(
                "Cluster {name} is currently {} and cannot be updated",
                c.res.status()
            )));
        }
        let current = str_of(&Value::Object(c.res.body.clone()), "version")
            .unwrap_or_default()
            .to_string();
        match (minor(&current), minor(&version)) {
            (Some((a, b)), Some((x, y))) if a == x && y == b + 1 => {}
            _ => {
                return Err(invalid(format!(
                    "Unsupported Kubernetes minor version update from {current} to {version}"
                )));
            }
        }
        let id = self.new_update(
            name,
            "VersionUpdate",
            vec![
                json!({"type": "Version", "value": version}),
                json!({"type": "PlatformVersion", "value": "eks.1"}),
            ],
        )?;
        let mut done = Map::new();
        done.insert("status".into(), json!("ACTIVE"));
        done.insert("version".into(), json!(version));
        let c = self.cluster(name)?;
        c.res
            .begin("UPDATING", Outcome::Become(done), Some(id.clone()), polls);
        self.update_reply(name, &id)
    }

    fn active_cluster(&mut self, name: &str) -> Result<&mut Cluster, Fault> {
        let c = self.cluster(name)?;
        if c.res.status() != "ACTIVE" {
            return Err(bad_state(format!(
                "Cluster '{name}' is not in ACTIVE status (it is {})",
                c.res.status()
            )));
        }
        Ok(c)
    }

    fn create_nodegroup(&mut self, cluster: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let name = str_of(body, "nodegroupName")
            .ok_or_else(|| invalid("nodegroupName is required".into()))?
            .to_string();
        let role = str_of(body, "nodeRole")
            .ok_or_else(|| invalid("nodeRole is required".into()))?
            .to_string();
        let fail = self.opts.fail_nodegroups.contains(&name);
        let id = self.id();
        let arn = self.arn("nodegroup", &format!("{cluster}/{name}/{id}"));
        let c = self.active_cluster(cluster)?;
        if c.nodegroups.contains_key(&name) {
            return Err(in_use(format!(
                "NodeGroup already exists with name {name} and cluster name {cluster}"
            )));
        }
        let cluster_version = c.res.body["version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let version = str_of(body, "version")
            .unwrap_or(&cluster_version)
            .to_string();
        if minor(&version) > minor(&cluster_version) {
            return Err(invalid(format!(
                "Requested Nodegroup version {version} is newer than cluster version {cluster_version}"
            )));
        }
        let scaling = body
            .get("scalingConfig")
            .cloned()
            .unwrap_or(json!({"minSize": 1, "maxSize": 2, "desiredSize": 2}));
        let ng = json!({
            "nodegroupName": name,
            "nodegroupArn": arn,
            "clusterName": cluster,
            "version": version,
            "releaseVersion": format!("{version}.0-20240101"),
            "createdAt": now(),
            "modifiedAt": now(),
            "status": "CREATING",
            "capacityType": body.get("capacityType").cloned().unwrap_or(json!("ON_DEMAND")),
            "scalingConfig": scaling,
            "instanceTypes": body.get("instanceTypes").cloned().unwrap_or(json!(["t3.medium"])),
            "subnets": body.get("subnets").cloned().unwrap_or(json!([])),
            "amiType": body.get("amiType").cloned().unwrap_or(json!("AL2023_x86_64_STANDARD")),
            "nodeRole": role,
            "labels": body.get("labels").cloned().unwrap_or(json!({})),
            "taints": body.get("taints").cloned().unwrap_or(json!([])),
            "diskSize": body.get("diskSize").cloned().unwrap_or(json!(20)),
            "health": {"issues": []},
            "updateConfig": {"maxUnavailable": 1},
            "tags": body.get("tags").cloned().unwrap_or(json!({})),
        });
        let mut res = Res::new(ng);
        let mut done = Map::new();
        if fail {
            done.insert("status".into(), json!("CREATE_FAILED"));
            done.insert(
                "health".into(),
                json!({"issues": [{
                    "code": "AsgInstanceLaunchFailures",
                    "message": "Could not launch On-Demand Instances. InsufficientInstanceCapacity",
                    "resourceIds": [format!("eks-{name}-{id}")],
                }]}),
            );
        } else {
            done.insert("status".into(), json!("ACTIVE"));
            done.insert(
                "resources".into(),
                json!({"autoScalingGroups": [{"name": format!("eks-{name}-{id}")}]}),
            );
        }
        res.begin("CREATING", Outcome::Become(done), None, polls);
        let reply = json!({ "nodegroup": res.body });
        c.nodegroups.insert(name, res);
        Ok((200, reply))
    }

    fn nodegroup<'a>(c: &'a mut Cluster, cluster: &str, ng: &str) -> Result<&'a mut Res, Fault> {
        c.nodegroups.get_mut(ng).ok_or_else(|| {
            not_found(format!(
                "No node group found for name: {ng} in cluster {cluster}."
            ))
        })
    }

    fn delete_nodegroup(&mut self, cluster: &str, ng: &str) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(cluster)?;
        let n = Self::nodegroup(c, cluster, ng)?;
        if matches!(n.status(), "CREATING" | "UPDATING") {
            return Err(in_use(format!(
                "Nodegroup {ng} cannot be deleted because it is currently {}",
                n.status()
            )));
        }
        if n.status() != "DELETING" {
            n.begin("DELETING", Outcome::Gone, None, polls);
        }
        Ok((200, json!({ "nodegroup": n.body })))
    }

    fn updatable_nodegroup<'a>(
        c: &'a mut Cluster,
        cluster: &str,
        ng: &str,
    ) -> Result<&'a mut Res, Fault> {
        let n = Self::nodegroup(c, cluster, ng)?;
        if n.status() != "ACTIVE" {
            return Err(in_use(format!(
                "Nodegroup {ng} is currently {} and cannot be updated",
                n.status()
            )));
        }
        Ok(n)
    }

    fn update_nodegroup_config(&mut self, cluster: &str, ng: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(cluster)?;
        let n = Self::updatable_nodegroup(c, cluster, ng)?;
        let mut done = Map::new();
        done.insert("status".into(), json!("ACTIVE"));
        let mut params = Vec::new();
        if let Some(s) = body.get("scalingConfig") {
            let mut scaling = object(n.body.get("scalingConfig"));
            scaling.extend(object(Some(s)));
            let get = |k: &str| scaling.get(k).and_then(Value::as_i64).unwrap_or(0);
            let (min, max, desired) = (get("minSize"), get("maxSize"), get("desiredSize"));
            if min > max || desired < min || desired > max {
                return Err(invalid(format!(
                    "Minimum capacity {min} can't be greater than desired size {desired}, and desired size can't exceed maximum {max}"
                )));
            }
            for (k, t) in [
                ("minSize", "MinSize"),
                ("maxSize", "MaxSize"),
                ("desiredSize", "DesiredSize"),
            ] {
                if let Some(v) = s.get(k) {
                    params.push(json!({"type": t, "value": v.to_string()}));
                }
            }
            done.insert("scalingConfig".into(), Value::Object(scaling));
        }
        if let Some(l) = body.get("labels") {
            let mut labels = object(n.body.get("labels"));
            let add = object(l.get("addOrUpdateLabels"));
            let remove: Vec<String> = l
                .get("removeLabels")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(both) = remove.iter().find(|k| add.contains_key(*k)) {
                return Err(invalid(format!(
                    "The label {both} is in both addOrUpdateLabels and removeLabels"
                )));
            }
            for k in &remove {
                labels.remove(k);
            }
            if !add.is_empty() {
                params.push(
                    json!({"type": "LabelsToAdd", "value": Value::Object(add.clone()).to_string()}),
                );
            }
            if !remove.is_empty() {
                params.push(json!({"type": "LabelsToRemove", "value": json!(remove).to_string()}));
            }
            labels.extend(add);
            done.insert("labels".into(), Value::Object(labels));
        }
        if let Some(t) = body.get("taints") {
            let list = |k: &str| -> Vec<Value> {
                t.get(k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let (add, remove) = (list("addOrUpdateTaints"), list("removeTaints"));
            let key = |v: &Value| v.get("key").and_then(Value::as_str).map(String::from);
            let mut taints: Vec<Value> = n
                .body
                .get("taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            taints.retain(|have| {
                !remove.iter().any(|r| key(r) == key(have))
                    && !add.iter().any(|a| key(a) == key(have))
            });
            if !add.is_empty() {
                params.push(json!({"type": "TaintsToAdd", "value": json!(add).to_string()}));
            }
            if !remove.is_empty() {
                params.push(json!({"type": "TaintsToRemove", "value": json!(remove).to_string()}));
            }
            taints.extend(add);
            done.insert("taints".into(), Value::Array(taints));
        }
        n.begin("UPDATING", Outcome::Become(done), None, polls);
        let id = self.new_update(cluster, "ConfigUpdate", params)?;
        let c = self.cluster(cluster)?;
        if let Some(p) = c.nodegroups.get_mut(ng).and_then(|n| n.pending.as_mut()) {
            p.update = Some(id.clone());
        }
        self.update_reply(cluster, &id)
    }

    fn update_nodegroup_version(&mut self, cluster: &str, ng: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(cluster)?;
        let cluster_version = c.res.body["version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let n = Self::updatable_nodegroup(c, cluster, ng)?;
        let current = n.body["version"].as_str().unwrap_or_default().to_string();
        let version = str_of(body, "version")
            .unwrap_or(&cluster_version)
            .to_string();
        if minor(&version).is_none() || minor(&version) > minor(&cluster_version) {
            return Err(invalid(format!(
                "Requested Nodegroup version {version} is invalid for cluster version {cluster_version}"
            )));
        }
        if minor(&version) < minor(&current) {
            return Err(invalid(format!(
                "Requested Nodegroup version {version} is older than the current version {current}"
            )));
        }
        let id = self.new_update(
            cluster,
            "VersionUpdate",
            vec![
                json!({"type": "Version", "value": version}),
                json!({"type": "ReleaseVersion", "value": format!("{version}.0-20240101")}),
            ],
        )?;
        let mut done = Map::new();
        done.insert("status".into(), json!("ACTIVE"));
        done.insert("version".into(), json!(version));
        done.insert(
            "releaseVersion".into(),
            json!(format!("{version}.0-20240101")),
        );
        let c = self.cluster(cluster)?;
        let n = Self::nodegroup(c, cluster, ng)?;
        n.begin("UPDATING", Outcome::Become(done), Some(id.clone()), polls);
        self.update_reply(cluster, &id)
    }

    fn create_addon(&mut self, cluster: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let name = str_of(body, "addonName")
            .ok_or_else(|| invalid("addonName is required".into()))?
            .to_string();
        let id = self.id();
        let arn = self.arn("addon", &format!("{cluster}/{name}/{id}"));
        let c = self.active_cluster(cluster)?;
        if c.addons.contains_key(&name) {
            return Err(in_use(format!("Addon already exists: {name}")));
        }
        let mut addon = json!({
            "addonName": name,
            "clusterName": cluster,
            "status": "CREATING",
            "addonVersion": body.get("addonVersion").cloned().unwrap_or(json!("v1.0.0-eksbuild.1")),
            "health": {"issues": []},
            "addonArn": arn,
            "createdAt": now(),
            "modifiedAt": now(),
            "tags": body.get("tags").cloned().unwrap_or(json!({})),
        });
        for k in ["serviceAccountRoleArn", "configurationValues"] {
            if let Some(v) = body.get(k) {
                addon[k] = v.clone();
            }
        }
        let mut res = Res::new(addon);
        let mut done = Map::new();
        done.insert("status".into(), json!("ACTIVE"));
        res.begin("CREATING", Outcome::Become(done), None, polls);
        let reply = json!({ "addon": res.body });
        c.addons.insert(name, res);
        Ok((200, reply))
    }

    fn update_addon(&mut self, cluster: &str, addon: &str, body: &Value) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(cluster)?;
        let a = c
            .addons
            .get(addon)
            .ok_or_else(|| not_found(format!("No addon: {addon} found in cluster: {cluster}")))?;
        if a.status() != "ACTIVE" && a.status() != "DEGRADED" {
            return Err(in_use(format!(
                "Addon {addon} is currently {} and cannot be updated",
                a.status()
            )));
        }
        let mut done = Map::new();
        done.insert("status".into(), json!("ACTIVE"));
        let mut params = Vec::new();
        for (k, t) in [
            ("addonVersion", "AddonVersion"),
            ("serviceAccountRoleArn", "ServiceAccountRoleArn"),
            ("configurationValues", "ConfigurationValues"),
            ("resolveConflicts", "ResolveConflicts"),
        ] {
            if let Some(v) = body.get(k) {
                params.push(json!({"type": t, "value": v.as_str().unwrap_or_default()}));
                if k != "resolveConflicts" {
                    done.insert(k.into(), v.clone());
                }
            }
        }
        let id = self.new_update(cluster, "AddonUpdate", params)?;
        let c = self.cluster(cluster)?;
        let a = c.addons.get_mut(addon).expect("checked above");
        a.begin("UPDATING", Outcome::Become(done), Some(id.clone()), polls);
        self.update_reply(cluster, &id)
    }

    fn delete_addon(&mut self, cluster: &str, addon: &str) -> Reply {
        let polls = self.opts.transition_polls;
        let c = self.cluster(cluster)?;
        let a = c
            .addons
            .get_mut(addon)
            .ok_or_else(|| not_found(format!("No addon: {addon} found in cluster: {cluster}")))?;
        if a.status() != "DELETING" {
            a.begin("DELETING", Outcome::Gone, None, polls);
        }
        Ok((200, json!({ "addon": a.body })))
    }
}

/// A running stand-in; the server thread lives as long as the test process.
pub struct EksStandIn {
    pub url: String,
    state: Arc<Mutex<State>>,
}

struct Incoming {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (head + Content-Length body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<Incoming> {
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    let mut expect_continue = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.trim().eq_ignore_ascii_case("100-continue");
            }
        }
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Incoming {
        method,
        target,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

fn respond(writer: &mut TcpStream, status: u16, error: Option<&str>, body: &Value) -> bool {
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: 00000000-0000-0000-0000-000000000000\r\n",
        reason(status),
        body.len()
    );
    if let Some(e) = error {
        head.push_str(&format!("x-amzn-errortype: {e}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    writer.write_all(head.as_bytes()).is_ok() && writer.flush().is_ok()
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
        let body: Value = if req.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => {
                    let msg = json!({"message": format!("malformed JSON body: {e}")});
                    if !respond(&mut writer, 400, Some("InvalidParameterException"), &msg) {
                        return;
                    }
                    continue;
                }
            }
        };
        let (status, error, reply) = {
            let mut s = lock(&state);
            let throttled = s.seen < s.opts.throttle_first;
            s.seen += 1;
            s.requests.push(Request {
                method: req.method.clone(),
                path: format!("/{}", segments.join("/")),
                query: query.to_string(),
                body: body.clone(),
                throttled,
            });
            if throttled {
                (
                    429,
                    Some("ThrottlingException"),
                    json!({"message": "Rate exceeded"}),
                )
            } else {
                match s.handle(&req.method, &segments, query, &body) {
                    Ok((status, v)) => (status, None, v),
                    Err(Fault(status, kind, message)) => {
                        (status, Some(kind), json!({ "message": message }))
                    }
                }
            }
        };
        if !respond(&mut writer, status, error, &reply) {
            return;
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl EksStandIn {
    pub fn start(opts: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            opts,
            clusters: BTreeMap::new(),
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
        EksStandIn { url, state }
    }

    /// Every request received so far, throttled ones included, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// The mutating requests (POST/PUT/DELETE) that were served (not throttled).
    pub fn mutations(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_mutation() && !r.throttled)
            .collect()
    }

    /// Forgets the recorded requests (state stays).
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// The current JSON of a cluster, without counting as a describe call.
    pub fn cluster(&self, name: &str) -> Option<Value> {
        lock(&self.state)
            .clusters
            .get(name)
            .map(|c| Value::Object(c.res.body.clone()))
    }

    /// The current JSON of a node group, without counting as a describe call.
    pub fn nodegroup(&self, cluster: &str, name: &str) -> Option<Value> {
        lock(&self.state)
            .clusters
            .get(cluster)
            .and_then(|c| c.nodegroups.get(name))
            .map(|n| Value::Object(n.body.clone()))
    }
}
