//! An in-memory Kubernetes API server stand-in over real HTTP/1.1 (plain http on 127.0.0.1) that the
//! unmodified `kube` client talks to through a kubeconfig. It replaces a real API server in the
//! end-to-end tests of the server-side-apply engine and of kube-runtime controllers.
//!
//! It is generic over resources: one storage, one write pipeline and one field manager serve every
//! kind, built-in or custom. Per-kind code exists only where the real API server special-cases a
//! kind: namespaces (lifecycle, finalization, default content), CustomResourceDefinitions
//! (establishing, serving, schema validation and pruning, cleanup), workload status (a simulated
//! kube-controller-manager), defaulting and validation of a few built-in kinds, and RBAC.
//!
//! What it speaks, following Kubernetes v1.31 wire format and semantics:
//! - discovery (`/api`, `/apis`, group versions, aggregated discovery v2, `/version`);
//! - get, list (label and field selectors, `limit`/`continue` pagination), watch (resourceVersion
//!   semantics, 410 Expired, bookmarks, `sendInitialEvents`, `timeoutSeconds`), create, update,
//!   merge/JSON/strategic patches, server-side apply with managed fields and conflicts, delete with
//!   finalizers and propagation policies, deletecollection, the `status` subresource and `dryRun`;
//! - `Status` bodies shaped exactly like the real ones;
//! - bearer-token authentication, impersonation and an RBAC evaluator; optionally EKS tokens
//!   (`k8s-aws-v1.` presigned STS GetCallerIdentity URLs), verified as STS verifies them.
//!
//! Deliberate simplifications are listed in the doc comments where they apply; the main ones:
//! every list is atomic for field management (the real server merges lists of containers, ports,
//! ... by key), strategic merge patch knows a small table of merge keys, and `continue` tokens list
//! the current state after the last key rather than a snapshot.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

// =================================================================================================
// Public API
// =================================================================================================

/// The bearer token of the admin user unless [`Options::token`] says otherwise.
pub const DEFAULT_TOKEN: &str = "standin-admin-token";
/// The user of requests that impersonate nobody.
pub const ADMIN_USER: &str = "standin-admin";
/// The field manager of the simulated controllers' status writes.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
/// The field manager of objects the API server itself writes (bootstrap objects, CRD status).
pub const APISERVER_MANAGER: &str = "kube-apiserver";
/// The Kubernetes version the stand-in reports and imitates.
pub const KUBE_VERSION: &str = "v1.31.0";
/// The node the stand-in pretends to have (DaemonSets run one pod on it).
pub const NODE_NAME: &str = "standin-node";

/// The interval of the simulated controllers.
const TICK: Duration = Duration::from_millis(25);
/// Watch events kept for watches that resume from a resourceVersion; older ones are "compacted".
const EVENT_HISTORY: usize = 50_000;
/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Largest accepted request line or header line.
const MAX_LINE: u64 = 64 << 10;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 256;

/// Timings and credentials of a stand-in.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bearer token required on every request.
    pub token: String,
    /// A created CRD reports `Established=True` this long after its creation; its resources are
    /// served (discovery and REST) only from then on.
    pub crd_established_after: Duration,
    /// Workloads report fully rolled out this long after their last spec (generation) change; Jobs
    /// complete this long after creation.
    pub rollout_after: Duration,
    /// A deleted namespace stays `Terminating` this long before its content and then itself are
    /// removed.
    pub namespace_finalize_after: Duration,
    /// How often watches that asked for bookmarks (`allowWatchBookmarks=true`) get one (a real API
    /// server sends one about every minute).
    pub bookmark_interval: Duration,
    /// Also accept EKS bearer tokens, as the API server of this EKS cluster would.
    pub eks: Option<EksAuth>,
}

/// The user an accepted EKS token authenticates as unless [`EksAuth::user`] says otherwise: the
/// name EKS gives the IAM identity that created the cluster.
pub const EKS_ADMIN_USER: &str = "kubernetes-admin";

/// EKS authentication, as the EKS authenticator does it: a bearer token `k8s-aws-v1.` +
/// base64url(a SigV4-presigned STS `GetCallerIdentity` URL with the cluster name in the signed
/// header `x-k8s-aws-id`) is accepted when STS would accept the presigned request with this
/// cluster's `x-k8s-aws-id`: the URL is a regional or global STS GetCallerIdentity call, the
/// signature verifies with a known access key's secret, and it was signed less than 15 minutes
/// ago (the authenticator caches a verified token that long). The identity then maps to
/// [`user`](Self::user) in [`groups`](Self::groups).
#[derive(Clone)]
pub struct EksAuth {
    /// The cluster name the token must be bound to.
    pub cluster: String,
    /// The IAM identities STS knows: (access key id, secret access key).
    pub credentials: Vec<(String, String)>,
    pub user: String,
    /// Besides `system:authenticated`.
    pub groups: Vec<String>,
}

impl EksAuth {
    /// Tokens for `cluster` signed with `access_key`/`secret` authenticate as
    /// [`EKS_ADMIN_USER`] in `system:masters`.
    pub fn new(cluster: &str, access_key: &str, secret: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            credentials: vec![(access_key.to_string(), secret.to_string())],
            user: EKS_ADMIN_USER.to_string(),
            groups: vec!["system:masters".to_string()],
        }
    }
}

impl std::fmt::Debug for EksAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.credentials.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("EksAuth")
            .field("cluster", &self.cluster)
            .field("access_keys", &keys)
            .field("user", &self.user)
            .field("groups", &self.groups)
            .finish()
    }
}

/// The CA certificate (PEM) the stand-in hands out as its cluster CA, for clients and stand-ins
/// of cloud APIs that need a well-formed one (a kubeconfig's `certificate-authority-data`, EKS
/// DescribeCluster). The stand-in serves plain http, so no handshake ever checks it.
pub const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUHlZlZnbNGFBNuem1vhXe9ihp5KgwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPa3ViZS1zdGFuZGluLWNhMCAXDTI2MTIwMjA0MDQwOVoYDzIx
MjYxMTA4MDQwNDA5WjAaMRgwFgYDVQQDDA9rdWJlLXN0YW5kaW4tY2EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAR+b4F5xfclQO483c5laDOOvZ7SbjDZe3zbHBI3
PfJEB3jhz0fCvxLtfp5lNzJai1QhAvJ0dkSh0enxD6zcfJwro2MwYTAdBgNVHQ4E
FgQU4kudqFv3D8s0+jvcH8+dhf5DGokwHwYDVR0jBBgwFoAU4kudqFv3D8s0+jvc
H8+dhf5DGokwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI
zj0EAwIDSQAwRgIhAOsjmzRzYMK/q5NmeYMP3JYM0j4Piax7NTUxjFa3BgrjAiEA
4YCqmwCDV2dzKjyiNV8xdJkcKvIkqsyCxGoJelYCgvM=
-----END CERTIFICATE-----
";

impl Default for Options {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_string(),
            crd_established_after: Duration::from_millis(300),
            rollout_after: Duration::from_millis(200),
            namespace_finalize_after: Duration::from_millis(100),
            bookmark_interval: Duration::from_secs(1),
            eks: None,
        }
    }
}

/// One request as received and answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The impersonated user (`Impersonate-User`), else the authenticated one: [`ADMIN_USER`]
    /// for the token (and for unauthenticated requests), [`EksAuth::user`] for an EKS token.
    pub user: String,
    /// `dryRun=All` in the query (or, for DELETE, in the body's DeleteOptions).
    pub dry_run: bool,
    pub content_type: Option<String>,
    /// The HTTP status answered (200 for watches that started streaming).
    pub status: u16,
    /// Discovery (`/api`, `/apis`, group versions, `/version`, ...) rather than a resource request.
    pub discovery: bool,
    /// The authorization verb: get, list, watch, create, update, patch (apply included), delete,
    /// deletecollection; empty for discovery.
    pub verb: String,
    /// The `fieldManager` query parameter.
    pub field_manager: Option<String>,
    /// The parsed body (`Null` when empty or unparsable; YAML apply bodies are converted to JSON).
    pub body: Value,
}

impl Request {
    /// The value of query parameter `key`, percent-decoded.
    pub fn query_value(&self, key: &str) -> Option<String> {
        Query::parse(&self.query).get(key).map(str::to_string)
    }

    /// Whether it is a server-side apply (`application/apply-patch+yaml`).
    pub fn is_apply(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/apply-patch"))
    }

    /// Whether it may change state (POST, PUT, PATCH, DELETE).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        write!(f, " -> {}", self.status)
    }
}

/// A running stand-in. Dropping it stops the accept loop and the controllers (best effort: open
/// connections end when their clients hang up).
pub struct KubeStandIn {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl KubeStandIn {
    /// Starts a stand-in with [`Options::default`].
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// Starts a stand-in on a random port of 127.0.0.1.
    pub fn start_with(opts: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(opts, &url)),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
        });
        let accept = shared.clone();
        std::thread::Builder::new()
            .name("kube-standin-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accept.connections.fetch_add(1, Ordering::SeqCst);
                    let conn = accept.clone();
                    let _ = std::thread::Builder::new()
                        .name("kube-standin-conn".into())
                        .spawn(move || serve(stream, &conn));
                }
            })
            .expect("spawn the accept thread");
        let ticker = shared.clone();
        std::thread::Builder::new()
            .name("kube-standin-controllers".into())
            .spawn(move || {
                while !ticker.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(TICK);
                    let changed = ticker.lock().tick();
                    if changed {
                        ticker.changed.notify_all();
                    }
                }
            })
            .expect("spawn the controller thread");
        KubeStandIn { url, addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A kubeconfig: cluster `standin` (this server), user `standin-admin` (the token), context
    /// `standin` (namespace `default`), current-context `standin`.
    pub fn kubeconfig(&self) -> String {
        self.render_kubeconfig(None)
    }

    /// Like [`kubeconfig`](Self::kubeconfig) with `as: <user>` on the user, so that the client
    /// impersonates `user` (sends `Impersonate-User`) and is subject to RBAC.
    pub fn kubeconfig_as(&self, user: &str) -> String {
        self.render_kubeconfig(Some(user))
    }

    fn render_kubeconfig(&self, impersonate: Option<&str>) -> String {
        let token = self.shared.lock().opts.token.clone();
        let mut user = format!("    token: {}\n", yaml_quote(&token));
        if let Some(u) = impersonate {
            user.push_str(&format!("    as: {}\n", yaml_quote(u)));
        }
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\n\
             contexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin-admin\n    namespace: default\n\
             current-context: standin\npreferences: {{}}\nusers:\n- name: standin-admin\n  user:\n{user}",
            self.url
        )
    }

    /// Base64 of [`CA_PEM`], as a kubeconfig's `certificate-authority-data` or EKS
    /// DescribeCluster's `certificateAuthority.data`.
    pub fn ca_data(&self) -> String {
        base64_encode(CA_PEM.as_bytes())
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to `path` with mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) {
        write_private(path, &self.kubeconfig());
    }

    /// Writes [`kubeconfig_as`](Self::kubeconfig_as) to `path` with mode 0600.
    pub fn write_kubeconfig_as(&self, path: &Path, user: &str) {
        write_private(path, &self.kubeconfig_as(user));
    }

    /// Every request received so far (discovery included, see [`Request::discovery`]), in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// The non-discovery requests that may change state.
    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| !r.discovery && r.is_write())
            .collect()
    }

    /// Forgets the recorded requests (state stays).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The stored object, as a GET of `api_version` would return it (without going through HTTP,
    /// authorization or request recording). CRs are found only while their CRD is served.
    pub fn object(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let st = self.shared.lock();
        let (group, version) = split_api_version(api_version);
        let res = st.resolve(group, version, plural)?;
        st.stored(&res, namespace, name)
            .map(|o| present(o, &res.api_version(version)))
    }

    /// All stored objects of a resource (in one namespace, or all of them), in list order.
    pub fn objects(&self, api_version: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        let st = self.shared.lock();
        let (group, version) = split_api_version(api_version);
        let Some(res) = st.resolve(group, version, plural) else {
            return Vec::new();
        };
        let av = res.api_version(version);
        st.bucket(&res)
            .map(|b| {
                b.values()
                    .filter(|o| namespace.is_none() || namespace == meta_str(o, "namespace"))
                    .map(|o| present(o, &av))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }

    /// The next `n` non-discovery requests are answered with `status` instead of being served: 429
    /// (with `Retry-After: 0`), 500, 503, 504 or any other code, each with a `Status` body. Note
    /// that `kube`'s default client retries 429, 503 and 504 by itself.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.lock().fail = (n, status);
    }

    /// Makes watches that ask for a streaming list (`sendInitialEvents=true`) answer 500, as a real
    /// API server backed by etcd 3.4 does.
    pub fn refuse_streaming_lists(&self, refuse: bool) {
        self.shared.lock().refuse_streaming_lists = refuse;
    }

    /// TCP connections accepted since the start (clients keep idle ones open for reuse).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Delays every request by `each_way` on arrival and again before its answer (a network
    /// round trip of twice that), for benchmarks of latency.
    pub fn set_latency(&self, each_way: Duration) {
        self.shared.lock().latency = each_way;
    }

    /// Forgets the watch history: watches resuming from any resourceVersion older than the current
    /// one get `410 Expired` (as after an etcd compaction), which makes informers relist.
    pub fn compact(&self) {
        let mut st = self.shared.lock();
        st.events.clear();
        st.compacted = st.rv;
    }
}

impl Drop for KubeStandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wake the accept loop so that it sees the stop flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn write_private(path: &Path, text: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .expect("create kubeconfig");
        file.write_all(text.as_bytes()).expect("write kubeconfig");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod kubeconfig");
    }
    #[cfg(not(unix))]
    std::fs::write(path, text).expect("write kubeconfig");
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// State shared by the accept loop, the connection threads and the controllers.
struct Shared {
    state: Mutex<State>,
    /// Notified after every change of the stored state (wakes watches).
    changed: Condvar,
    stop: AtomicBool,
    /// TCP connections accepted since the start.
    connections: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// =================================================================================================
// HTTP
// =================================================================================================

/// One HTTP/1.1 request as read from the connection.
struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.to_ascii_lowercase().contains("close"))
    }
}

enum ReadError {
    /// The client closed the connection (or it broke) between requests.
    Closed,
    /// A malformed request: answer 400 and close.
    Malformed(String),
}

/// Reads one line (with its terminator) of at most [`MAX_LINE`] bytes.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut buf)
        .map_err(|_| ReadError::Closed)?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(ReadError::Malformed("line too long or truncated".into()));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Malformed("header is not UTF-8".into()))
}

/// Reads one HTTP/1.1 request with a Content-Length or chunked body.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Incoming, ReadError> {
    let first = loop {
        match read_line(reader)? {
            None => return Err(ReadError::Closed),
            // Tolerate stray empty lines between requests (RFC 9112 §2.2).
            Some(l) if l.trim().is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(proto)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed(format!(
            "malformed request line {:?}",
            first.trim_end()
        )));
    };
    if !proto.starts_with("HTTP/1.") {
        return Err(ReadError::Malformed(format!(
            "unsupported protocol {proto}"
        )));
    }
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(ReadError::Closed);
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Malformed("too many headers".into()));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed(format!("malformed header {line:?}")));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut incoming = Incoming {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if incoming
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| ReadError::Closed)?;
    }
    let chunked = incoming
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let Some(size) = read_line(reader)? else {
                return Err(ReadError::Closed);
            };
            let size = size.trim();
            let hex = size.split(';').next().unwrap_or_default().trim();
            let n = usize::from_str_radix(hex, 16)
                .map_err(|_| ReadError::Malformed(format!("bad chunk size {size:?}")))?;
            if n == 0 {
                // Trailers, up to the empty line.
                loop {
                    match read_line(reader)? {
                        None => break,
                        Some(l) if l.trim().is_empty() => break,
                        Some(_) => {}
                    }
                }
                break;
            }
            if incoming.body.len() + n > MAX_BODY {
                return Err(ReadError::Malformed("request body too large".into()));
            }
            let start = incoming.body.len();
            incoming.body.resize(start + n, 0);
            reader
                .read_exact(&mut incoming.body[start..])
                .map_err(|_| ReadError::Closed)?;
            let mut crlf = [0u8; 2];
            reader
                .read_exact(&mut crlf)
                .map_err(|_| ReadError::Closed)?;
            if &crlf != b"\r\n" {
                return Err(ReadError::Malformed("chunk not followed by CRLF".into()));
            }
        }
    } else if let Some(length) = incoming.header("content-length") {
        let n: usize = length
            .parse()
            .map_err(|_| ReadError::Malformed(format!("bad Content-Length {length:?}")))?;
        if n > MAX_BODY {
            return Err(ReadError::Malformed("request body too large".into()));
        }
        incoming.body = vec![0; n];
        reader
            .read_exact(&mut incoming.body)
            .map_err(|_| ReadError::Closed)?;
    }
    Ok(incoming)
}

/// A complete (non-streaming) response.
struct Reply {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn error(e: &ApiError) -> Self {
        let mut r = Reply::json(e.code, &e.body());
        r.headers.extend(e.headers.iter().cloned());
        r
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Common response headers of the real API server.
fn head_common(out: &mut String, audit: u64) {
    out.push_str(&format!(
        "Audit-Id: {:08x}-0000-4000-8000-{:012x}\r\nCache-Control: no-cache, private\r\n\
         X-Kubernetes-Pf-Flowschema-Uid: 00000000-0000-4000-8000-00000000f10e\r\n\
         X-Kubernetes-Pf-Prioritylevel-Uid: 00000000-0000-4000-8000-00000000f1e1\r\n",
        audit, audit
    ));
}

fn write_reply(w: &mut TcpStream, reply: &Reply, head_only: bool, audit: u64) -> bool {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        reply.status,
        reason_phrase(reply.status),
        reply.content_type,
        reply.body.len()
    );
    head_common(&mut out, audit);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(&reply.body);
    }
    w.write_all(&bytes).is_ok() && w.flush().is_ok()
}

/// Writes one chunk of a chunked response.
fn write_chunk(w: &mut TcpStream, data: &[u8]) -> bool {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    w.write_all(&out).is_ok() && w.flush().is_ok()
}

/// Whether the peer has closed the connection (checked without consuming data).
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut buf = [0u8; 1];
    let closed = match stream.peek(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// Serves one connection: requests one after the other (keep-alive) until the client closes it, a
/// malformed request arrives or the stand-in stops.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader, &mut writer) {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Malformed(msg)) => {
                let reply = Reply::error(&ApiError::bad_request(msg)).header("Connection", "close");
                write_reply(&mut writer, &reply, false, 0);
                return;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let close = req.wants_close();
        let latency = shared.lock().latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let (outcome, audit) = handle(shared, &req);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let ok = match outcome {
            Outcome::Reply(reply) => write_reply(&mut writer, &reply, req.method == "HEAD", audit),
            Outcome::Watch(plan) => run_watch(shared, &mut writer, *plan, audit),
        };
        if !ok || close {
            return;
        }
    }
}

// =================================================================================================
// Routing
// =================================================================================================

/// A failed request, rendered as a `Status` body exactly like the real API server's.
#[derive(Debug, Clone)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Box<Value>>,
    headers: Vec<(String, String)>,
}

/// One `details.causes` entry; for field errors `message` is the error body and `field` the path.
#[derive(Debug, Clone, PartialEq)]
struct Cause {
    reason: &'static str,
    message: String,
    field: String,
}

impl Cause {
    fn json(&self) -> Value {
        let mut m = Map::new();
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        if !self.message.is_empty() {
            m.insert("message".into(), json!(self.message));
        }
        if !self.field.is_empty() {
            m.insert("field".into(), json!(self.field));
        }
        Value::Object(m)
    }

    /// `field: message`, as the aggregated message of an Invalid error lists it.
    fn render(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// Field error constructors with the real `field.Error` bodies.
fn required(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        message: with_detail("Required value".into(), detail),
        field: field.into(),
    }
}

fn invalid_value(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        message: with_detail(format!("Invalid value: {value}"), detail),
        field: field.into(),
    }
}

fn type_invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueTypeInvalid",
        message: with_detail(format!("Invalid value: {value}"), detail),
        field: field.into(),
    }
}

fn not_supported(field: &str, value: &str, supported: &[String]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
    Cause {
        reason: "FieldValueNotSupported",
        message: format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
        field: field.into(),
    }
}

fn forbidden_field(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden",
        message: with_detail("Forbidden".into(), detail),
        field: field.into(),
    }
}

fn too_long(field: &str, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooLong",
        message: format!("Too long: may not be more than {max} bytes"),
        field: field.into(),
    }
}

fn with_detail(mut s: String, detail: &str) -> String {
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// Go's `%q` of a string (close enough: JSON escaping).
fn go_quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// How `field.Invalid` renders a bad value: strings quoted, numbers and booleans bare, maps of
/// strings as Go prints `map[string]string{...}`, anything else as JSON.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "\"null\"".into(),
        Value::Object(m) if m.values().all(Value::is_string) => go_string_map(m),
        other => other.to_string(),
    }
}

fn go_string_map(m: &Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                go_quote(k),
                go_quote(v.as_str().unwrap_or_default())
            )
        })
        .collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// Status `details` with Go's omitempty semantics.
fn status_details(name: &str, group: &str, kind: &str) -> Value {
    let mut m = Map::new();
    if !name.is_empty() {
        m.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        m.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        m.insert("kind".into(), json!(kind));
    }
    Value::Object(m)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), json!({}));
        m.insert("status".into(), json!("Failure"));
        if !self.message.is_empty() {
            m.insert("message".into(), json!(self.message));
        }
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), (**d).clone());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// The 404 of a path that names no resource (unknown group, version, resource, subresource).
    fn no_such_path() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    fn not_found(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} {} not found", qualified(group, plural), go_quote(name)),
        )
        .with_details(status_details(name, group, plural))
    }

    fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                qualified(group, plural),
                go_quote(name)
            ),
        )
        .with_details(status_details(name, group, plural))
    }

    fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {why}",
                qualified(group, plural),
                go_quote(name)
            ),
        )
        .with_details(status_details(name, group, plural))
    }

    fn modified(group: &str, plural: &str, name: &str) -> Self {
        ApiError::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid: `Kind.group "name" is invalid: <causes>`.
    fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let rendered: Vec<String> = dedup(causes.iter().map(Cause::render).collect());
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message = match rendered.len() {
            0 => format!("{qualified_kind} {} is invalid", go_quote(name)),
            1 => format!(
                "{qualified_kind} {} is invalid: {}",
                go_quote(name),
                rendered[0]
            ),
            _ => format!(
                "{qualified_kind} {} is invalid: [{}]",
                go_quote(name),
                rendered.join(", ")
            ),
        };
        let mut details = status_details(name, group, kind);
        details["causes"] = Value::Array(causes.iter().map(Cause::json).collect());
        ApiError::new(422, "Invalid", message).with_details(details)
    }

    /// 403 Forbidden: `resource.group "name" is forbidden: why`.
    fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let q = qualified(group, resource);
        let message = if name.is_empty() {
            format!("{q} is forbidden: {why}")
        } else {
            format!("{q} {} is forbidden: {why}", go_quote(name))
        };
        ApiError::new(403, "Forbidden", message).with_details(status_details(name, group, resource))
    }

    fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    fn unsupported_media(accepted: &[&str]) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    fn internal(message: &str) -> Self {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    /// The answer of [`KubeStandIn::fail_next`].
    fn injected(code: u16) -> Self {
        match code {
            429 => ApiError::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            )
            .with_details(json!({}))
            .header("Retry-After", "0"),
            500 => ApiError::internal("injected failure"),
            503 => ApiError::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            )
            .header("Retry-After", "0"),
            504 => ApiError::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request",
            ),
            409 => ApiError::new(409, "Conflict", "injected conflict"),
            c => ApiError::new(c, "", format!("injected failure ({c})")),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

/// `plural` for the core group, else `plural.group`.
fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// Invalid request options (`CreateOptions.meta.k8s.io "" is invalid: ...`).
fn invalid_options(kind: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("meta.k8s.io", kind, "", causes)
}

/// Percent-decodes; `+` is a space only in queries.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && bytes[i] == b'+' {
            b' '
        } else {
            bytes[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A decoded query string.
#[derive(Debug, Clone, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Self {
        Query(
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k, true), percent_decode(v, true))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `true`/`1` (the API server parses booleans leniently).
    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True" | "TRUE"))
    }
}

/// Who asks and how; filled in while routing.
struct Ctx {
    user: String,
    groups: Vec<String>,
    impersonated: bool,
    user_agent: String,
    content_type: Option<String>,
    accept: String,
    query: Query,
    method: String,
    /// The authorization verb, once known.
    verb: String,
    dry_run: bool,
}

/// What a request turns into.
enum Outcome {
    Reply(Reply),
    Watch(Box<WatchPlan>),
}

/// Discovery paths (always allowed, never failed by `fail_next`).
fn is_discovery(seg: &[&str]) -> bool {
    matches!(
        seg,
        [] | ["version"]
            | ["api"]
            | ["api", _]
            | ["apis"]
            | ["apis", _]
            | ["apis", _, _]
            | ["healthz" | "livez" | "readyz"]
            | ["openapi", ..]
    )
}

/// Parses a request body by content type: YAML for apply patches and `application/yaml`, JSON
/// otherwise.
fn parse_body(body: &[u8], content_type: Option<&str>) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let ct = content_type.unwrap_or("application/json");
    if ct.starts_with("application/apply-patch+yaml") || ct.starts_with("application/yaml") {
        serde_yaml::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    }
}

/// Authenticates, records and serves one request.
fn handle(shared: &Shared, req: &Incoming) -> (Outcome, u64) {
    let target = req.target.as_str();
    // Tolerate absolute-form targets.
    let target = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = Query::parse(raw_query);
    let content_type = req.header("content-type").map(str::to_string);
    let impersonate = req.header("impersonate-user").map(str::to_string);
    let mut groups: Vec<String> = req
        .headers_named("impersonate-group")
        .into_iter()
        .map(str::to_string)
        .collect();
    let discovery = is_discovery(&seg);
    let parsed = parse_body(&req.body, content_type.as_deref());
    let mut dry_run = query.all("dryRun").contains(&"All");
    if req.method == "DELETE"
        && let Ok(b) = &parsed
        && b["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"))
    {
        dry_run = true;
    }
    if impersonate.is_some() {
        groups.push("system:authenticated".into());
    } else {
        groups = vec!["system:masters".into(), "system:authenticated".into()];
    }
    let mut ctx = Ctx {
        user: impersonate
            .clone()
            .unwrap_or_else(|| ADMIN_USER.to_string()),
        groups,
        impersonated: impersonate.is_some(),
        user_agent: req.header("user-agent").unwrap_or_default().to_string(),
        content_type: content_type.clone(),
        accept: req.header("accept").unwrap_or_default().to_string(),
        query,
        method: req.method.clone(),
        verb: String::new(),
        dry_run,
    };
    let mut st = shared.lock();
    st.audit += 1;
    let audit = st.audit;
    let bearer = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    let authenticated = match bearer {
        Some(b) if b == st.opts.token => true,
        Some(b) => match &st.opts.eks {
            Some(eks) if eks_authenticated(eks, b, SystemTime::now()) => {
                if !ctx.impersonated {
                    ctx.user = eks.user.clone();
                    ctx.groups = eks.groups.clone();
                    ctx.groups.push("system:authenticated".into());
                }
                true
            }
            _ => false,
        },
        None => false,
    };
    let result = if !authenticated {
        Err(ApiError::unauthorized())
    } else if impersonate.is_none() && !req.headers_named("impersonate-group").is_empty() {
        Err(ApiError::internal(
            "requested [{Group ...}] without impersonating a user",
        ))
    } else if !discovery && st.fail.0 > 0 {
        st.fail.0 -= 1;
        Err(ApiError::injected(st.fail.1))
    } else {
        st.route(&mut ctx, req, &seg, parsed.clone())
    };
    let (outcome, status) = match result {
        Ok(Outcome::Reply(r)) => {
            let s = r.status;
            (Outcome::Reply(r), s)
        }
        Ok(Outcome::Watch(p)) => (Outcome::Watch(p), 200),
        Err(e) => (Outcome::Reply(Reply::error(&e)), e.code),
    };
    st.requests.push(Request {
        method: req.method.clone(),
        path: format!("/{}", segments.join("/")),
        query: raw_query.to_string(),
        user: ctx.user.clone(),
        dry_run: ctx.dry_run,
        content_type,
        status,
        discovery,
        verb: ctx.verb.clone(),
        field_manager: ctx.query.get("fieldManager").map(str::to_string),
        body: parsed.unwrap_or(Value::Null),
    });
    let changed = std::mem::take(&mut st.dirty);
    drop(st);
    if changed {
        shared.changed.notify_all();
    }
    (outcome, audit)
}

impl State {
    fn route(
        &mut self,
        ctx: &mut Ctx,
        req: &Incoming,
        seg: &[&str],
        body: Result<Value, String>,
    ) -> Result<Outcome, ApiError> {
        let discovery_get = |r: Option<Value>| -> Result<Outcome, ApiError> {
            if req.method != "GET" && req.method != "HEAD" {
                return Err(ApiError::method_not_allowed());
            }
            r.map(|v| Outcome::Reply(Reply::json(200, &v)))
                .ok_or_else(ApiError::no_such_path)
        };
        match seg {
            [] => discovery_get(Some(self.root_paths())),
            ["version"] => discovery_get(Some(version_json())),
            ["healthz" | "livez" | "readyz"] => Ok(Outcome::Reply(Reply::text(200, "ok"))),
            ["api"] => {
                if let Some(ct) = aggregated_accept(&ctx.accept) {
                    let body = self.aggregated(true, ct);
                    return Ok(Outcome::Reply(aggregated_reply(body, ct)));
                }
                discovery_get(Some(self.core_versions()))
            }
            ["api", v] => discovery_get(self.resource_list("", v)),
            ["apis"] => {
                if let Some(ct) = aggregated_accept(&ctx.accept) {
                    let body = self.aggregated(false, ct);
                    return Ok(Outcome::Reply(aggregated_reply(body, ct)));
                }
                discovery_get(Some(self.group_list()))
            }
            ["apis", g] => discovery_get(self.group_json(g)),
            ["apis", g, v] => discovery_get(self.resource_list(g, v)),
            ["api", "v1", rest @ ..] => self.resource_request(ctx, req, "", "v1", rest, body),
            ["apis", g, v, rest @ ..] => self.resource_request(ctx, req, g, v, rest, body),
            _ => Err(ApiError::no_such_path()),
        }
    }

    fn resource_request(
        &mut self,
        ctx: &mut Ctx,
        req: &Incoming,
        group: &str,
        version: &str,
        rest: &[&str],
        body: Result<Value, String>,
    ) -> Result<Outcome, ApiError> {
        let (ns, plural, name, sub) = parse_rest(group, rest).ok_or_else(ApiError::no_such_path)?;
        let res = self
            .resolve(group, version, plural)
            .ok_or_else(ApiError::no_such_path)?;
        if !res.namespaced && ns.is_some() {
            return Err(ApiError::no_such_path());
        }
        let scalable = res.group == "apps"
            && matches!(
                res.plural.as_str(),
                "deployments" | "statefulsets" | "replicasets"
            );
        if let Some(sub) = sub
            && !((sub == "status" && res.status(version)) || (sub == "scale" && scalable))
        {
            return Err(ApiError::no_such_path());
        }
        let watch = ctx.query.flag("watch");
        let verb = match (req.method.as_str(), name.is_some()) {
            ("GET" | "HEAD", false) if watch => "watch",
            ("GET" | "HEAD", false) => "list",
            ("GET" | "HEAD", true) if watch => "watch",
            ("GET" | "HEAD", true) => "get",
            ("POST", false) => "create",
            ("PUT", true) => "update",
            ("PATCH", true) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return Err(ApiError::method_not_allowed()),
        };
        ctx.verb = verb.to_string();
        if res.namespaced && ns.is_none() && !matches!(verb, "list" | "watch") {
            return Err(ApiError::no_such_path());
        }
        if sub.is_some() && !matches!(verb, "get" | "update" | "patch") {
            return Err(ApiError::method_not_allowed());
        }
        if !res.verbs.iter().any(|v| v == verb) {
            return Err(ApiError::method_not_allowed());
        }
        if ctx.impersonated {
            // For namespaces the namespace of the request is the namespace itself.
            let ns_attr = if plural == "namespaces" && group.is_empty() {
                name
            } else {
                ns
            };
            self.authorize(ctx, group, plural, sub, ns_attr, name, verb)?;
        }
        let version = version.to_string();
        if sub == Some("scale") {
            return self.scale_request(
                ctx,
                &res,
                &version,
                ns,
                name.unwrap_or_default(),
                verb,
                body,
            );
        }
        match verb {
            "get" => {
                let name = name.unwrap_or_default();
                let obj = self
                    .stored(&res, ns, name)
                    .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
                Ok(Outcome::Reply(Reply::json(
                    200,
                    &present(obj, &res.api_version(&version)),
                )))
            }
            "list" => self
                .list(&res, &version, ns, &ctx.query)
                .map(|v| Outcome::Reply(Reply::json(200, &v))),
            "watch" => self
                .watch_plan(&res, &version, ns, name, &ctx.query)
                .map(|p| Outcome::Watch(Box::new(p))),
            "delete" | "deletecollection" => {
                let opts = match body {
                    Ok(Value::Null) => Value::Null,
                    Ok(v @ Value::Object(_)) => v,
                    Ok(_) => return Err(ApiError::bad_request("DeleteOptions must be an object")),
                    Err(e) => {
                        return Err(ApiError::bad_request(format!(
                            "the body of the request could not be decoded as DeleteOptions: {e}"
                        )));
                    }
                };
                let opts = DeleteOpts::parse(&opts, &ctx.query)?;
                ctx.dry_run = opts.dry_run;
                if verb == "delete" {
                    self.delete(&res, &version, ns, name.unwrap_or_default(), &opts)
                        .map(Outcome::Reply)
                } else {
                    self.delete_collection(&res, &version, ns, &ctx.query, &opts)
                        .map(Outcome::Reply)
                }
            }
            _ => {
                let op = self.write_op(ctx, &res, verb, body)?;
                let manager = match &op {
                    WriteOp::Apply { .. } => ctx
                        .query
                        .get("fieldManager")
                        .unwrap_or_default()
                        .to_string(),
                    _ => update_manager(ctx),
                };
                let validation = match ctx.query.get("fieldValidation") {
                    None | Some("") | Some("Warn") => FieldValidation::Warn,
                    Some("Ignore") => FieldValidation::Ignore,
                    Some("Strict") => FieldValidation::Strict,
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
                        )));
                    }
                };
                let written = self.write(WriteReq {
                    res: &res,
                    version: &version,
                    ns,
                    name,
                    status: sub == Some("status"),
                    scale: false,
                    op,
                    manager,
                    dry_run: ctx.dry_run,
                    validation,
                })?;
                let mut reply = Reply::json(written.code, &written.object);
                for w in written.warnings {
                    reply = reply.header("Warning", &format!("299 - {}", go_quote(&w)));
                }
                Ok(Outcome::Reply(reply))
            }
        }
    }

    /// The `scale` subresource of a Deployment, StatefulSet or ReplicaSet: an `autoscaling/v1`
    /// Scale read from the object, and writes of it that change only `spec.replicas` (recorded
    /// in managed fields with `subresource: scale`, as `kubectl scale` is on a real server).
    #[allow(clippy::too_many_arguments)]
    fn scale_request(
        &mut self,
        ctx: &mut Ctx,
        res: &ResDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        verb: &str,
        body: Result<Value, String>,
    ) -> Result<Outcome, ApiError> {
        let scale_of = |obj: &Value| {
            let labels = obj["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {
                    "name": obj["metadata"]["name"],
                    "namespace": obj["metadata"]["namespace"],
                    "uid": obj["metadata"]["uid"],
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "creationTimestamp": obj["metadata"]["creationTimestamp"],
                },
                "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
                "status": {
                    "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
                    "selector": labels,
                },
            })
        };
        let api_version = res.api_version(version);
        let live = self
            .stored(res, ns, name)
            .map(|o| present(o, &api_version))
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
        if verb == "get" {
            return Ok(Outcome::Reply(Reply::json(200, &scale_of(&live))));
        }
        let op = self.write_op(ctx, res, verb, body)?;
        let replicas = match &op {
            WriteOp::Update(v) | WriteOp::Patch(PatchKind::Merge | PatchKind::Strategic, v) => {
                v["spec"]["replicas"].as_i64()
            }
            WriteOp::Patch(PatchKind::Json, v) => v.as_array().and_then(|ops| {
                ops.iter().find_map(|o| {
                    (o["path"] == "/spec/replicas"
                        && matches!(o["op"].as_str(), Some("replace" | "add")))
                    .then(|| o["value"].as_i64())
                    .flatten()
                })
            }),
            _ => None,
        }
        .ok_or_else(|| ApiError::bad_request("a Scale write must set spec.replicas"))?;
        let manager = update_manager(ctx);
        let written = self.write(WriteReq {
            res,
            version,
            ns,
            name: Some(name),
            status: false,
            scale: true,
            op: WriteOp::Patch(PatchKind::Merge, json!({"spec": {"replicas": replicas}})),
            manager,
            dry_run: ctx.dry_run,
            validation: FieldValidation::Ignore,
        })?;
        Ok(Outcome::Reply(Reply::json(
            written.code,
            &scale_of(&written.object),
        )))
    }

    /// Checks the options of a write and decodes its body into a [`WriteOp`].
    fn write_op(
        &self,
        ctx: &Ctx,
        res: &ResDef,
        verb: &str,
        body: Result<Value, String>,
    ) -> Result<WriteOp, ApiError> {
        let options_kind = match verb {
            "create" => "CreateOptions",
            "update" => "UpdateOptions",
            _ => "PatchOptions",
        };
        let mut causes = Vec::new();
        for d in ctx.query.all("dryRun") {
            if d != "All" {
                causes.push(not_supported("dryRun", &go_quote(d), &["All".to_string()]));
            }
        }
        if let Some(fm) = ctx.query.get("fieldManager")
            && fm.len() > 128
        {
            causes.push(too_long("fieldManager", 128));
        }
        let ct = ctx
            .content_type
            .as_deref()
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let apply = verb == "patch" && ct == "application/apply-patch+yaml";
        if verb == "patch" {
            if apply && ctx.query.get("fieldManager").unwrap_or_default().is_empty() {
                causes.push(required("fieldManager", "is required for apply patch"));
            }
            if !apply && ctx.query.get("force").is_some() {
                causes.push(forbidden_field(
                    "force",
                    "may not be specified for non-apply patch",
                ));
            }
        }
        if !causes.is_empty() {
            return Err(invalid_options(options_kind, causes));
        }
        let mut accepted = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        if !res.crd {
            accepted.push("application/strategic-merge-patch+json");
        }
        let known = if verb == "patch" {
            accepted.contains(&ct.as_str())
        } else {
            matches!(ct.as_str(), "application/json" | "application/yaml" | "")
        };
        if !known {
            return Err(if verb == "patch" {
                ApiError::unsupported_media(&accepted)
            } else {
                ApiError::unsupported_media(&[
                    "application/json",
                    "application/yaml",
                    "application/vnd.kubernetes.protobuf",
                ])
            });
        }
        let body = body.map_err(|e| {
            if apply {
                ApiError::bad_request(format!("error decoding YAML: {e}"))
            } else {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            }
        })?;
        match verb {
            "create" | "update" => {
                if !body.is_object() {
                    return Err(ApiError::bad_request(format!(
                        "Object 'Kind' is missing in '{body}'"
                    )));
                }
                Ok(if verb == "create" {
                    WriteOp::Create(body)
                } else {
                    WriteOp::Update(body)
                })
            }
            _ => {
                let kind = match ct.as_str() {
                    "application/apply-patch+yaml" => {
                        return Ok(WriteOp::Apply {
                            config: body,
                            force: ctx.query.flag("force"),
                        });
                    }
                    "application/merge-patch+json" => PatchKind::Merge,
                    "application/json-patch+json" => PatchKind::Json,
                    "application/strategic-merge-patch+json" if !res.crd => PatchKind::Strategic,
                    _ => return Err(ApiError::unsupported_media(&accepted)),
                };
                Ok(WriteOp::Patch(kind, body))
            }
        }
    }
}

/// The field manager of an update or patch: `fieldManager`, else the user agent's program name
/// (as the API server derives it).
fn update_manager(ctx: &Ctx) -> String {
    ctx.query
        .get("fieldManager")
        .map(str::to_string)
        .unwrap_or_else(|| {
            ctx.user_agent
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string()
        })
}

/// (namespace, resource, name, subresource) of a resource request.
type ResourcePath<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

/// Splits the part of a resource path after `/api/v1` or `/apis/g/v` into (namespace, resource,
/// name, subresource).
fn parse_rest<'a>(group: &str, rest: &[&'a str]) -> Option<ResourcePath<'a>> {
    let namespaced_path = rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && !(group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (ns, rest) = if namespaced_path {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    match rest {
        [plural] => Some((ns, plural, None, None)),
        [plural, name] => Some((ns, plural, Some(name), None)),
        [plural, name, sub] => Some((ns, plural, Some(name), Some(sub))),
        _ => None,
    }
}

fn version_json() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": KUBE_VERSION,
        "gitCommit": "9e3a5bd6d8c5b1e4a1c3d2b1a0f9e8d7c6b5a403",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T07:28:49Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// The aggregated-discovery media type the client accepts first, if any.
fn aggregated_accept(accept: &str) -> Option<&'static str> {
    let first = accept
        .split(',')
        .next()
        .unwrap_or_default()
        .replace(' ', "");
    if !first.contains("as=APIGroupDiscoveryList") {
        return None;
    }
    if first.contains("v=v2beta1") {
        Some("v2beta1")
    } else if first.contains("v=v2") {
        Some("v2")
    } else {
        None
    }
}

fn aggregated_reply(body: Value, version: &str) -> Reply {
    let mut r = Reply::json(200, &body);
    r.content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    r.headers.push(("Vary".into(), "Accept".into()));
    r
}

impl State {
    fn root_paths(&self) -> Value {
        let mut paths = vec![
            "/api".to_string(),
            "/api/v1".to_string(),
            "/apis".to_string(),
        ];
        for (g, versions) in self.groups() {
            paths.push(format!("/apis/{g}"));
            for v in versions {
                paths.push(format!("/apis/{g}/{v}"));
            }
        }
        paths.extend(
            ["/healthz", "/livez", "/readyz", "/version"]
                .iter()
                .map(|s| s.to_string()),
        );
        json!({ "paths": paths })
    }

    fn core_versions(&self) -> Value {
        let addr = self.base.trim_start_matches("http://");
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]
        })
    }

    /// Non-core groups in discovery order with their versions, preferred first.
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.served() {
            if r.group.is_empty() {
                continue;
            }
            let i = match out.iter().position(|(g, _)| *g == r.group) {
                Some(i) => i,
                None => {
                    out.push((r.group.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            for v in &r.versions {
                if !out[i].1.contains(&v.name) {
                    out[i].1.push(v.name.clone());
                }
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    fn group_entry(name: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
            .collect();
        json!({
            "name": name,
            "versions": vs,
            "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
        })
    }

    fn group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, vs)| Self::group_entry(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn group_json(&self, group: &str) -> Option<Value> {
        let (g, vs) = self.groups().into_iter().find(|(g, _)| g == group)?;
        let mut v = Self::group_entry(&g, &vs);
        let m = v.as_object_mut()?;
        let mut out = Map::new();
        out.insert("kind".into(), json!("APIGroup"));
        out.insert("apiVersion".into(), json!("v1"));
        for (k, val) in std::mem::take(m) {
            out.insert(k, val);
        }
        Some(Value::Object(out))
    }

    fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let resources: Vec<ResDef> = self
            .served()
            .into_iter()
            .filter(|r| r.group == group && r.version(version).is_some())
            .collect();
        if resources.is_empty() {
            return None;
        }
        let mut list = Vec::new();
        for r in &resources {
            let mut main = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                main["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                main["categories"] = json!(r.categories);
            }
            main["storageVersionHash"] = json!(storage_hash(&r.group, &r.plural));
            list.push(main);
            if r.status(version) {
                list.push(json!({
                    "name": format!("{}/status", r.plural),
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": api_version_of(group, version),
            "resources": list,
        }))
    }

    /// Aggregated discovery (`apidiscovery.k8s.io`) of the core group or of all other groups.
    fn aggregated(&self, core: bool, disco_version: &str) -> Value {
        let served = self.served();
        let groups: Vec<(String, Vec<String>)> = if core {
            vec![(String::new(), vec!["v1".to_string()])]
        } else {
            self.groups()
        };
        let items: Vec<Value> = groups
            .iter()
            .map(|(g, versions)| {
                let vs: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = served
                            .iter()
                            .filter(|r| r.group == *g && r.version(v).is_some())
                            .map(|r| {
                                let kind = json!({"group": g, "version": v, "kind": r.kind});
                                let mut e = json!({
                                    "resource": r.plural,
                                    "responseKind": kind,
                                    "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                    "singularResource": r.singular,
                                    "verbs": r.verbs,
                                });
                                if !r.short_names.is_empty() {
                                    e["shortNames"] = json!(r.short_names);
                                }
                                if !r.categories.is_empty() {
                                    e["categories"] = json!(r.categories);
                                }
                                if r.status(v) {
                                    e["subresources"] = json!([{
                                        "subresource": "status",
                                        "responseKind": kind,
                                        "verbs": ["get", "patch", "update"],
                                    }]);
                                }
                                e
                            })
                            .collect();
                        json!({"version": v, "resources": resources, "freshness": "Current"})
                    })
                    .collect();
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs})
            })
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{disco_version}"),
            "metadata": {},
            "items": items,
        })
    }
}

/// A stable fake `storageVersionHash`.
fn storage_hash(group: &str, plural: &str) -> String {
    let h = fnv(format!("{group}/{plural}").as_bytes());
    let bytes = h.to_be_bytes();
    base64_encode(&bytes)[..11].to_string() + "="
}

/// Kube-aware version ordering key: GA > beta > alpha > other; higher numbers first.
fn version_priority(v: &str) -> (u8, u64, u64, std::cmp::Reverse<String>) {
    let other = (0, 0, 0, std::cmp::Reverse(v.to_string()));
    let Some(rest) = v.strip_prefix('v') else {
        return other;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return other;
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0, std::cmp::Reverse(String::new()));
    }
    for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(prefix)
            && let Ok(minor) = n.parse::<u64>()
        {
            return (rank, major, minor, std::cmp::Reverse(String::new()));
        }
    }
    other
}

// =================================================================================================
// Storage
// =================================================================================================

/// One served version of a resource.
#[derive(Debug, Clone)]
struct VersionDef {
    name: String,
    /// Has the `status` subresource.
    status: bool,
    /// The CRD's `openAPIV3Schema` for this version.
    schema: Option<Value>,
}

/// A resource type: built-in, or defined by an established CRD.
#[derive(Debug, Clone)]
struct ResDef {
    group: String,
    kind: String,
    list_kind: String,
    plural: String,
    singular: String,
    namespaced: bool,
    /// Served versions.
    versions: Vec<VersionDef>,
    storage_version: String,
    /// Maintains `metadata.generation` (not every built-in kind does).
    generation: bool,
    verbs: Vec<String>,
    short_names: Vec<String>,
    categories: Vec<String>,
    /// A custom resource (unstructured: list items keep apiVersion/kind, no strategic merge).
    crd: bool,
    /// The defining CRD is being deleted (creates are refused).
    terminating: bool,
}

impl ResDef {
    fn version(&self, v: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|x| x.name == v)
    }

    fn status(&self, v: &str) -> bool {
        self.version(v).is_some_and(|x| x.status)
    }

    fn schema(&self, v: &str) -> Option<&Value> {
        self.version(v).and_then(|x| x.schema.as_ref())
    }

    fn api_version(&self, v: &str) -> String {
        api_version_of(&self.group, v)
    }

    fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    fn bucket_key(&self) -> (String, String) {
        (self.group.clone(), self.plural.clone())
    }
}

/// group, version, kind, plural, namespaced, status subresource, generation, short names,
/// categories.
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

/// The built-in resources, in discovery order.
const BUILTINS: &[Builtin] = &[
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        true,
        false,
        &["ns"],
        &[],
    ),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        false,
        false,
        &["cm"],
        &[],
    ),
    ("", "v1", "Secret", "secrets", true, false, false, &[], &[]),
    (
        "",
        "v1",
        "Service",
        "services",
        true,
        true,
        false,
        &["svc"],
        &["all"],
    ),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        false,
        false,
        &["sa"],
        &[],
    ),
    (
        "",
        "v1",
        "Pod",
        "pods",
        true,
        true,
        false,
        &["po"],
        &["all"],
    ),
    (
        "",
        "v1",
        "Event",
        "events",
        true,
        false,
        false,
        &["ev"],
        &[],
    ),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        true,
        false,
        &["pvc"],
        &[],
    ),
    ("", "v1", "Node", "nodes", false, true, false, &["no"], &[]),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        true,
        true,
        &["deploy"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        true,
        true,
        &["sts"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        true,
        true,
        &["ds"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        true,
        true,
        &["rs"],
        &["all"],
    ),
    (
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        true,
        false,
        false,
        &["ev"],
        &[],
    ),
    (
        "batch",
        "v1",
        "Job",
        "jobs",
        true,
        true,
        true,
        &[],
        &["all"],
    ),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        true,
        true,
        &["cj"],
        &["all"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        true,
        true,
        &["ing"],
        &[],
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        false,
        true,
        &["netpol"],
        &[],
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        true,
        true,
        &["pdb"],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        false,
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        false,
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        false,
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        false,
        false,
        &[],
        &[],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        true,
        true,
        &["crd", "crds"],
        &["api-extensions"],
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        false,
        false,
        &[],
        &[],
    ),
];

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn builtin_defs() -> Vec<ResDef> {
    BUILTINS
        .iter()
        .map(
            |&(group, version, kind, plural, namespaced, status, generation, short, cats)| {
                let verbs = ALL_VERBS
                    .iter()
                    // Namespaces cannot be deleted as a collection.
                    .filter(|v| !(plural == "namespaces" && **v == "deletecollection"))
                    .map(|v| v.to_string())
                    .collect();
                ResDef {
                    group: group.into(),
                    kind: kind.into(),
                    list_kind: format!("{kind}List"),
                    plural: plural.into(),
                    singular: kind.to_ascii_lowercase(),
                    namespaced,
                    versions: vec![VersionDef {
                        name: version.into(),
                        status,
                        schema: None,
                    }],
                    storage_version: version.into(),
                    generation,
                    verbs,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    categories: cats.iter().map(|s| s.to_string()).collect(),
                    crd: false,
                    terminating: false,
                }
            },
        )
        .collect()
}

/// A change of a stored object, as watches see it.
#[derive(Debug, Clone)]
struct Event {
    rv: u64,
    etype: &'static str,
    group: String,
    plural: String,
    namespace: Option<String>,
    /// The object after the change (for DELETED: its last state, with the deletion's RV).
    object: Value,
    /// The object before a modification (to send ADDED/DELETED to selector-filtered watches when
    /// an object starts or stops matching).
    prev: Option<Value>,
}

/// Rollout bookkeeping of a workload, by uid.
#[derive(Debug, Clone)]
struct Rollout {
    generation: i64,
    since: Instant,
    template: String,
    /// Ready replicas when the current rollout started (old pods keep serving).
    prev_ready: i64,
    /// The template hash of the last complete rollout.
    prev_template: Option<String>,
}

/// The whole stored state of the API server.
struct State {
    opts: Options,
    base: String,
    /// The global resourceVersion counter (the last one handed out).
    rv: u64,
    /// (group, resource) → storage key (`namespace/name` or `name`) → object at storage version.
    objects: BTreeMap<(String, String), BTreeMap<String, Value>>,
    events: VecDeque<Event>,
    /// Watches or continues from resourceVersions below this get 410 Expired.
    compacted: u64,
    requests: Vec<Request>,
    /// Requests left to fail, and with which status.
    fail: (usize, u16),
    /// Watches asking for a streaming list (`sendInitialEvents=true`) answer 500, as an API
    /// server on etcd 3.4 does (streaming lists need etcd 3.5's watch progress requests).
    refuse_streaming_lists: bool,
    /// Injected delay on arrival and before the answer of every request.
    latency: Duration,
    audit: u64,
    seed: u64,
    /// Something changed since the last notification of watches.
    dirty: bool,
    builtins: Vec<ResDef>,
    rollouts: HashMap<String, Rollout>,
    /// When objects the controllers care about appeared or started deleting, by uid.
    clock: HashMap<String, Instant>,
    next_ip: u32,
}

fn obj_key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn split_api_version(av: &str) -> (&str, &str) {
    av.split_once('/').unwrap_or(("", av))
}

fn api_version_of(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn meta_str<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get("metadata")?.get(key)?.as_str()
}

/// `metadata` as a mutable map (created when missing or not a map).
fn meta_mut(o: &mut Value) -> &mut Map<String, Value> {
    if !o["metadata"].is_object() {
        o["metadata"] = json!({});
    }
    o["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

fn uid_of(o: &Value) -> String {
    meta_str(o, "uid").unwrap_or_default().to_string()
}

/// ObjectMeta fields in the order the real server serializes them.
const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Reorders keys as a real response has them: apiVersion, kind, metadata (in Go field order),
/// then the rest as they were.
fn canonical(obj: Value) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    if let Some(meta) = m.remove("metadata") {
        let meta = match meta {
            Value::Object(mut mm) => {
                let mut ordered = Map::new();
                for k in META_ORDER {
                    if let Some(v) = mm.remove(*k) {
                        ordered.insert(k.to_string(), v);
                    }
                }
                ordered.extend(mm);
                Value::Object(ordered)
            }
            other => other,
        };
        out.insert("metadata".into(), meta);
    }
    out.extend(m);
    Value::Object(out)
}

/// The object as served at `api_version` (custom resources are stored at one version and served
/// at every served version: no conversion beyond apiVersion, as with `conversion: None`).
fn present(o: &Value, api_version: &str) -> Value {
    let mut o = o.clone();
    if o.is_object() {
        o["apiVersion"] = json!(api_version);
    }
    o
}

/// Seconds-precision RFC 3339 UTC timestamp (metav1.Time).
fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
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
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// FNV-1a 64.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// =================================================================================================
// EKS tokens
// =================================================================================================

/// How long after signing the EKS authenticator accepts a token (it caches a verified token for
/// this long, although the presigned URL itself expires after 60 seconds).
const EKS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated for tokens signed "in the future".
const EKS_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Whether `token` is an EKS token for `auth.cluster` that STS would accept at `now` (see
/// [`EksAuth`]).
fn eks_authenticated(auth: &EksAuth, token: &str, now: SystemTime) -> bool {
    eks_token_problem(auth, token, now).is_none()
}

/// Why `token` is not accepted, `None` when it is.
fn eks_token_problem(auth: &EksAuth, token: &str, now: SystemTime) -> Option<&'static str> {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    let Some(encoded) = token.strip_prefix("k8s-aws-v1.") else {
        return Some("not an EKS token");
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('='))
    else {
        return Some("not base64url");
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Some("not a URL");
    };
    let Ok(url) = url::Url::parse(&text) else {
        return Some("not a URL");
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let region = match host.strip_prefix("sts.").map(|h| h.split_once('.')) {
        Some(Some((region, "amazonaws.com" | "amazonaws.com.cn"))) => region.to_string(),
        Some(Some(("amazonaws", "com"))) => "us-east-1".to_string(),
        _ => return Some("not an STS endpoint"),
    };
    if url.scheme() != "https" || url.port().is_some() || url.path() != "/" {
        return Some("not an STS endpoint");
    }
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |key: &str| -> Option<&str> {
        let mut values = params.iter().filter(|(k, _)| k == key);
        let first = values.next()?;
        values.next().is_none().then_some(first.1.as_str())
    };
    if param("Action") != Some("GetCallerIdentity") || param("Version") != Some("2011-06-15") {
        return Some("not a GetCallerIdentity call");
    }
    if param("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Some("not SigV4-presigned");
    }
    let (Some(credential), Some(date), Some(signed_headers), Some(signature)) = (
        param("X-Amz-Credential"),
        param("X-Amz-Date"),
        param("X-Amz-SignedHeaders"),
        param("X-Amz-Signature"),
    ) else {
        return Some("not SigV4-presigned");
    };
    if param("X-Amz-Expires")
        .and_then(|e| e.parse::<u64>().ok())
        .is_none()
    {
        return Some("no X-Amz-Expires");
    }
    // The scope: access key / yyyymmdd / region / sts / aws4_request.
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, day, scope_region, "sts", "aws4_request"] = scope[..] else {
        return Some("bad credential scope");
    };
    if scope_region != region || !date.starts_with(day) {
        return Some("bad credential scope");
    }
    let Some(signed_at) = amz_date(date) else {
        return Some("bad X-Amz-Date");
    };
    if now > signed_at + EKS_TOKEN_TTL || signed_at > now + EKS_CLOCK_SKEW {
        return Some("expired");
    }
    let Some((_, secret)) = auth.credentials.iter().find(|(k, _)| k == access_key) else {
        return Some("unknown access key");
    };
    // The headers STS sees: the URL's host, and the cluster id the authenticator adds.
    let headers: Vec<&str> = signed_headers.split(';').collect();
    if !headers.contains(&"x-k8s-aws-id") {
        return Some("the cluster id is not signed");
    }
    let mut canonical_headers = String::new();
    for name in &headers {
        let value = match *name {
            "host" => host.as_str(),
            "x-k8s-aws-id" => auth.cluster.as_str(),
            _ => return Some("an unknown header is signed"),
        };
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let mut query: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (sigv4_encode(k), sigv4_encode(v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let empty_payload = hex::encode(Sha256::digest(b""));
    let canonical_request = format!(
        "GET\n/\n{}\n{canonical_headers}\n{signed_headers}\n{empty_payload}",
        query.join("&")
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{day}/{region}/sts/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let hmac = |key: &[u8], data: &str| -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), day);
    for part in [region.as_str(), "sts", "aws4_request"] {
        key = hmac(&key, part);
    }
    let expected = hex::encode(hmac(&key, &string_to_sign));
    (expected != signature).then_some("the signature does not match")
}

/// SigV4's URI encoding: everything but the unreserved characters, upper-case hex.
fn sigv4_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` (UTC) as a time.
fn amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(data: &[u8]) -> String {
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
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); `None` if invalid.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
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

/// The pod-template-hash alphabet (also used for generateName suffixes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn safe_encode(mut n: u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = SAFE_ALPHABET[(n % SAFE_ALPHABET.len() as u64) as usize] as char;
            n /= SAFE_ALPHABET.len() as u64;
            c
        })
        .collect()
}

impl State {
    fn new(opts: Options, base: &str) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ fnv(base.as_bytes());
        let mut st = State {
            opts,
            base: base.to_string(),
            rv: 0,
            objects: BTreeMap::new(),
            events: VecDeque::new(),
            compacted: 0,
            requests: Vec::new(),
            fail: (0, 500),
            refuse_streaming_lists: false,
            latency: Duration::ZERO,
            audit: 0,
            seed,
            dirty: false,
            builtins: builtin_defs(),
            rollouts: HashMap::new(),
            clock: HashMap::new(),
            next_ip: 10,
        };
        st.bootstrap();
        st
    }

    fn random(&mut self) -> u64 {
        // splitmix64
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn new_uid(&mut self) -> String {
        let (a, b) = (self.random(), self.random());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// The established CRDs as resources.
    fn crd_defs(&self) -> Vec<ResDef> {
        let Some(crds) = self.objects.get(&(
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
        )) else {
            return Vec::new();
        };
        let mut defs: Vec<ResDef> = crds
            .values()
            .filter(|crd| crd_condition(crd, "Established") == Some(true))
            .filter_map(crd_resdef)
            .collect();
        defs.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
        defs
    }

    /// Every served resource: built-ins, then custom resources.
    fn served(&self) -> Vec<ResDef> {
        let mut all = self.builtins.clone();
        all.extend(self.crd_defs());
        all
    }

    fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResDef> {
        if let Some(b) = self
            .builtins
            .iter()
            .find(|r| r.is(group, plural) && r.version(version).is_some())
        {
            return Some(b.clone());
        }
        self.crd_defs()
            .into_iter()
            .find(|r| r.is(group, plural) && r.version(version).is_some())
    }

    fn builtin(&self, group: &str, plural: &str) -> ResDef {
        self.builtins
            .iter()
            .find(|r| r.is(group, plural))
            .cloned()
            .expect("a built-in resource")
    }

    fn bucket(&self, res: &ResDef) -> Option<&BTreeMap<String, Value>> {
        self.objects.get(&res.bucket_key())
    }

    fn stored(&self, res: &ResDef, ns: Option<&str>, name: &str) -> Option<&Value> {
        let ns = if res.namespaced { ns } else { None };
        self.bucket(res)?.get(&obj_key(ns, name))
    }

    fn stored_by(&self, group: &str, plural: &str, key: &str) -> Option<&Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))?
            .get(key)
    }

    /// Stores `obj` with a new resourceVersion and records the watch event; returns the stored
    /// object.
    fn put(
        &mut self,
        group: &str,
        plural: &str,
        mut obj: Value,
        etype: &'static str,
        prev: Option<Value>,
    ) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let obj = canonical(obj);
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        self.objects
            .entry((group.to_string(), plural.to_string()))
            .or_default()
            .insert(obj_key(ns.as_deref(), &name), obj.clone());
        self.log(Event {
            rv: self.rv,
            etype,
            group: group.to_string(),
            plural: plural.to_string(),
            namespace: ns,
            object: obj.clone(),
            prev,
        });
        obj
    }

    /// Removes an object for good (a DELETED event with a new resourceVersion).
    fn remove(&mut self, group: &str, plural: &str, key: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(&(group.to_string(), plural.to_string()))?
            .remove(key)?;
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.clock.remove(&uid_of(&obj));
        self.rollouts.remove(&uid_of(&obj));
        self.log(Event {
            rv: self.rv,
            etype: "DELETED",
            group: group.to_string(),
            plural: plural.to_string(),
            namespace: meta_str(&obj, "namespace").map(str::to_string),
            object: obj.clone(),
            prev: None,
        });
        Some(obj)
    }

    fn log(&mut self, e: Event) {
        self.events.push_back(e);
        while self.events.len() > EVENT_HISTORY {
            if let Some(old) = self.events.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.dirty = true;
    }

    /// `Some(terminating)` if the namespace exists.
    fn namespace_state(&self, name: &str) -> Option<bool> {
        let ns = self.stored_by("", "namespaces", name)?;
        Some(
            ns["metadata"].get("deletionTimestamp").is_some()
                || ns["status"]["phase"] == "Terminating",
        )
    }

    // ---------------------------------------------------------------------------------------------
    // list
    // ---------------------------------------------------------------------------------------------

    fn list(
        &self,
        res: &ResDef,
        version: &str,
        ns: Option<&str>,
        q: &Query,
    ) -> Result<Value, ApiError> {
        let labels = parse_label_selector(q.get("labelSelector").unwrap_or_default())?;
        let fields = parse_field_selector(res, q.get("fieldSelector").unwrap_or_default())?;
        let limit = match q.get("limit") {
            None | Some("") => 0,
            Some(l) => l.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid limit {l:?}: must be a non-negative integer"
                ))
            })?,
        };
        if let Some(rv) = q.get("resourceVersion")
            && !rv.is_empty()
        {
            let n = rv.parse::<u64>().map_err(|_| {
                invalid_options(
                    "ListOptions",
                    vec![invalid_value(
                        "resourceVersion",
                        &go_quote(rv),
                        "must be a valid resource version",
                    )],
                )
            })?;
            if q.get("resourceVersionMatch") == Some("Exact") && n < self.compacted && n != 0 {
                return Err(ApiError::expired(format!(
                    "too old resource version: {n} ({})",
                    self.compacted
                )));
            }
        }
        let (start, list_rv) = match q.get("continue") {
            Some(tok) if !tok.is_empty() => {
                let (start, rv) = decode_continue(tok)?;
                if rv < self.compacted {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ));
                }
                (Some(start), rv)
            }
            _ => (None, self.rv),
        };
        let av = res.api_version(version);
        let mut items = Vec::new();
        let mut last_key = None;
        let mut more = 0usize;
        if let Some(bucket) = self.bucket(res) {
            let range: Box<dyn Iterator<Item = (&String, &Value)>> = match &start {
                Some(s) => Box::new(bucket.range(s.clone()..)),
                None => Box::new(bucket.iter()),
            };
            for (key, obj) in range {
                if let Some(ns) = ns
                    && meta_str(obj, "namespace") != Some(ns)
                {
                    continue;
                }
                if !object_matches(obj, &labels, &fields) {
                    continue;
                }
                if limit > 0 && items.len() == limit {
                    more += 1;
                    continue;
                }
                items.push(list_item(res, obj, &av));
                last_key = Some(key.clone());
            }
        }
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if more > 0
            && let Some(last) = last_key
        {
            metadata["continue"] = json!(encode_continue(&format!("{last}\u{0}"), list_rv));
            if labels.is_empty() && fields.is_empty() {
                metadata["remainingItemCount"] = json!(more);
            }
        }
        Ok(json!({
            "kind": res.list_kind,
            "apiVersion": av,
            "metadata": metadata,
            "items": items,
        }))
    }

    // ---------------------------------------------------------------------------------------------
    // watch
    // ---------------------------------------------------------------------------------------------

    fn watch_plan(
        &self,
        res: &ResDef,
        version: &str,
        ns: Option<&str>,
        name: Option<&str>,
        q: &Query,
    ) -> Result<WatchPlan, ApiError> {
        let labels = parse_label_selector(q.get("labelSelector").unwrap_or_default())?;
        let mut fields = parse_field_selector(res, q.get("fieldSelector").unwrap_or_default())?;
        if let Some(name) = name {
            fields.push(FieldReq {
                field: "metadata.name".into(),
                value: name.into(),
                equal: true,
            });
        }
        let bookmarks = q.flag("allowWatchBookmarks");
        let send_initial = q.flag("sendInitialEvents");
        if send_initial && self.refuse_streaming_lists {
            return Err(ApiError::internal(
                "Internal error occurred: etcdserver: the watch progress request is not supported by this etcd (streaming lists need etcd 3.5 or newer)",
            ));
        }
        if q.get("sendInitialEvents").is_some() {
            let mut causes = Vec::new();
            if q.get("resourceVersionMatch") != Some("NotOlderThan") {
                causes.push(forbidden_field(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if !bookmarks {
                causes.push(forbidden_field(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                ));
            }
            if !causes.is_empty() {
                return Err(invalid_options("ListOptions", causes));
            }
        }
        let rv = q.get("resourceVersion").unwrap_or_default();
        let from = match rv {
            "" | "0" => None,
            rv => Some(rv.parse::<u64>().map_err(|_| {
                invalid_options(
                    "ListOptions",
                    vec![invalid_value(
                        "resourceVersion",
                        &go_quote(rv),
                        "must be a valid resource version",
                    )],
                )
            })?),
        };
        let timeout = match q.get("timeoutSeconds") {
            None | Some("") => Duration::from_secs(1800),
            Some(t) => Duration::from_secs(
                t.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
            ),
        };
        Ok(WatchPlan {
            res: res.clone(),
            version: version.to_string(),
            api_version: res.api_version(version),
            namespace: ns.map(str::to_string),
            labels,
            fields,
            initial: send_initial || from.is_none(),
            initial_end_bookmark: send_initial,
            from,
            bookmarks,
            deadline: Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)),
            interval: self.opts.bookmark_interval,
        })
    }

    // ---------------------------------------------------------------------------------------------
    // delete
    // ---------------------------------------------------------------------------------------------

    fn delete(
        &mut self,
        res: &ResDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Reply, ApiError> {
        let live = self
            .stored(res, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
        if let Some(uid) = &opts.uid
            && *uid != uid_of(&live)
        {
            return Err(ApiError::conflict(
                &res.group,
                &res.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    uid_of(&live)
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && Some(rv.as_str()) != meta_str(&live, "resourceVersion")
        {
            return Err(ApiError::conflict(
                &res.group,
                &res.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta_str(&live, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        if res.is("", "namespaces") && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(
                "",
                "namespaces",
                name,
                "this namespace may not be deleted",
            ));
        }
        let av = res.api_version(version);
        let (gone, obj) = self.delete_object(res, &live, opts.propagation.as_deref(), opts.dry_run);
        if gone
            && !matches!(
                (res.group.as_str(), res.plural.as_str()),
                ("", "pods" | "services")
            )
        {
            let mut details = status_details(name, &res.group, &res.plural);
            details["uid"] = json!(uid_of(&live));
            return Ok(Reply::json(
                200,
                &json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }),
            ));
        }
        Ok(Reply::json(200, &present(&obj, &av)))
    }

    /// Deletes one object: at once, or by setting deletionTimestamp when finalizers (or the
    /// namespace/CRD lifecycle) hold it. Returns whether it is gone, and its last state.
    fn delete_object(
        &mut self,
        res: &ResDef,
        live: &Value,
        propagation: Option<&str>,
        dry_run: bool,
    ) -> (bool, Value) {
        let ns = meta_str(live, "namespace").map(str::to_string);
        let name = meta_str(live, "name").unwrap_or_default().to_string();
        let key = obj_key(ns.as_deref(), &name);
        let deleting = live["metadata"].get("deletionTimestamp").is_some();
        let mut finalizers: Vec<String> = live["metadata"]["finalizers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let is_ns = res.is("", "namespaces");
        let is_crd = res.is("apiextensions.k8s.io", "customresourcedefinitions");
        if !is_ns && !is_crd {
            match propagation {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.push("foregroundDeletion".into())
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                _ => {}
            }
        }
        if is_crd && !finalizers.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
            finalizers.push(CRD_CLEANUP_FINALIZER.into());
        }
        if is_ns || !finalizers.is_empty() {
            if deleting {
                return (false, live.clone());
            }
            let mut new = live.clone();
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if !is_ns {
                m.insert("finalizers".into(), json!(finalizers));
            }
            if res.generation
                && let Some(g) = m.get("generation").and_then(Value::as_i64)
            {
                m.insert("generation".into(), json!(g + 1));
            }
            if is_ns {
                set_path(
                    &mut new,
                    &["status".into(), "phase".into()],
                    json!("Terminating"),
                );
            }
            if dry_run {
                return (false, new);
            }
            let uid = uid_of(&new);
            self.clock.insert(uid, Instant::now());
            let stored = self.put(&res.group, &res.plural, new, "MODIFIED", Some(live.clone()));
            return (false, stored);
        }
        if dry_run {
            return (true, live.clone());
        }
        let gone = self
            .remove(&res.group, &res.plural, &key)
            .unwrap_or_else(|| live.clone());
        self.after_delete(res, &gone);
        (true, gone)
    }

    /// Cleanup of state derived from a deleted object.
    fn after_delete(&mut self, res: &ResDef, gone: &Value) {
        if res.is("apiextensions.k8s.io", "customresourcedefinitions")
            && let Some(def) = crd_resdef(gone)
        {
            // Any remaining custom resources go with their definition.
            let keys: Vec<String> = self
                .objects
                .get(&def.bucket_key())
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default();
            for k in keys {
                self.remove(&def.group, &def.plural, &k);
            }
        }
    }

    fn delete_collection(
        &mut self,
        res: &ResDef,
        version: &str,
        ns: Option<&str>,
        q: &Query,
        opts: &DeleteOpts,
    ) -> Result<Reply, ApiError> {
        let labels = parse_label_selector(q.get("labelSelector").unwrap_or_default())?;
        let fields = parse_field_selector(res, q.get("fieldSelector").unwrap_or_default())?;
        let victims: Vec<Value> = self
            .bucket(res)
            .map(|b| {
                b.values()
                    .filter(|o| ns.is_none() || meta_str(o, "namespace") == ns)
                    .filter(|o| object_matches(o, &labels, &fields))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let av = res.api_version(version);
        let mut items = Vec::new();
        for v in victims {
            let (_, last) = self.delete_object(res, &v, opts.propagation.as_deref(), opts.dry_run);
            items.push(list_item(res, &last, &av));
        }
        Ok(Reply::json(
            200,
            &json!({
                "kind": res.list_kind,
                "apiVersion": av,
                "metadata": {"resourceVersion": self.rv.to_string()},
                "items": items,
            }),
        ))
    }
}

/// An object as an item of a list: built-in lists carry no apiVersion/kind on their items (typed
/// lists), custom resource lists do (unstructured).
fn list_item(res: &ResDef, obj: &Value, api_version: &str) -> Value {
    let mut o = present(obj, api_version);
    if !res.crd
        && let Some(m) = o.as_object_mut()
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

fn encode_continue(start: &str, rv: u64) -> String {
    base64_encode(
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
            .to_string()
            .as_bytes(),
    )
}

fn decode_continue(token: &str) -> Result<(String, u64), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = base64_decode(token).ok_or_else(bad)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(bad());
    }
    let start = v["start"].as_str().ok_or_else(bad)?.to_string();
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    Ok((start, rv))
}

/// Options of a DELETE (query parameters and the DeleteOptions body).
struct DeleteOpts {
    dry_run: bool,
    propagation: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl DeleteOpts {
    fn parse(body: &Value, q: &Query) -> Result<Self, ApiError> {
        let mut causes = Vec::new();
        let mut dry_run = false;
        let mut dry: Vec<String> = q.all("dryRun").iter().map(|s| s.to_string()).collect();
        if let Some(a) = body["dryRun"].as_array() {
            dry.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        for d in dry {
            if d == "All" {
                dry_run = true;
            } else {
                causes.push(not_supported("dryRun", &go_quote(&d), &["All".to_string()]));
            }
        }
        let mut propagation = body["propagationPolicy"]
            .as_str()
            .map(str::to_string)
            .or_else(|| q.get("propagationPolicy").map(str::to_string));
        if propagation.is_none() {
            propagation = match body["orphanDependents"].as_bool() {
                Some(true) => Some("Orphan".into()),
                Some(false) => Some("Background".into()),
                None => None,
            };
        }
        if let Some(p) = &propagation
            && !matches!(p.as_str(), "Foreground" | "Background" | "Orphan")
        {
            causes.push(not_supported(
                "propagationPolicy",
                &go_quote(p),
                &[
                    "Foreground".into(),
                    "Background".into(),
                    "Orphan".into(),
                    "nil".into(),
                ],
            ));
        }
        if !causes.is_empty() {
            return Err(invalid_options("DeleteOptions", causes));
        }
        Ok(DeleteOpts {
            dry_run,
            propagation,
            uid: body["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
        })
    }
}

/// A watch about to stream.
struct WatchPlan {
    res: ResDef,
    version: String,
    api_version: String,
    namespace: Option<String>,
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
    /// Start with synthetic ADDED events for the current objects.
    initial: bool,
    /// End the initial events with a bookmark annotated `k8s.io/initial-events-end`.
    initial_end_bookmark: bool,
    /// Resume after this resourceVersion.
    from: Option<u64>,
    bookmarks: bool,
    deadline: Instant,
    interval: Duration,
}

impl WatchPlan {
    fn line(etype: &str, object: Value) -> Vec<u8> {
        let mut s = json!({"type": etype, "object": object}).to_string();
        s.push('\n');
        s.into_bytes()
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Vec<u8> {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        Self::line(
            "BOOKMARK",
            json!({"kind": self.res.kind, "apiVersion": self.api_version, "metadata": meta}),
        )
    }

    fn in_scope(&self, obj: &Value) -> bool {
        self.namespace.is_none() || meta_str(obj, "namespace") == self.namespace.as_deref()
    }

    fn matches(&self, obj: &Value) -> bool {
        self.in_scope(obj) && object_matches(obj, &self.labels, &self.fields)
    }

    /// The line an event becomes for this watch, if any (objects entering or leaving the selection
    /// are ADDED or DELETED).
    fn translate(&self, e: &Event) -> Option<Vec<u8>> {
        if !self.res.is(&e.group, &e.plural) {
            return None;
        }
        let now = self.matches(&e.object);
        let etype = match e.etype {
            "MODIFIED" => {
                let before = e.prev.as_ref().is_some_and(|p| self.matches(p));
                match (before, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
            t if now => t,
            _ => return None,
        };
        Some(Self::line(etype, present(&e.object, &self.api_version)))
    }
}

/// Streams a watch until its timeout, the client leaving, the resource disappearing or the
/// stand-in stopping. Returns whether the connection can be reused.
fn run_watch(shared: &Shared, w: &mut TcpStream, plan: WatchPlan, audit: u64) -> bool {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    );
    head_common(&mut head, audit);
    head.push_str("\r\n");
    if w.write_all(head.as_bytes()).is_err() || w.flush().is_err() {
        return false;
    }
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut pos;
    {
        let st = shared.lock();
        pos = st.rv;
        if plan.initial {
            if let Some(bucket) = st.bucket(&plan.res) {
                for obj in bucket.values().filter(|o| plan.matches(o)) {
                    pending.push(WatchPlan::line("ADDED", present(obj, &plan.api_version)));
                }
            }
            if plan.initial_end_bookmark {
                pending.push(plan.bookmark(pos, true));
            }
        } else if let Some(from) = plan.from {
            if from < st.compacted {
                let err = ApiError::expired(format!(
                    "too old resource version: {from} ({})",
                    st.compacted
                ));
                drop(st);
                let ok = write_chunk(w, &WatchPlan::line("ERROR", err.body()));
                return ok && w.write_all(b"0\r\n\r\n").is_ok() && w.flush().is_ok();
            }
            pos = from;
        }
    }
    let mut next_bookmark = Instant::now() + plan.interval;
    loop {
        for line in pending.drain(..) {
            if !write_chunk(w, &line) {
                return false;
            }
        }
        let now = Instant::now();
        if now >= plan.deadline {
            return w.write_all(b"0\r\n\r\n").is_ok() && w.flush().is_ok();
        }
        if shared.stop.load(Ordering::SeqCst) || peer_closed(w) {
            return false;
        }
        let mut st = shared.lock();
        loop {
            if st
                .resolve(&plan.res.group, &plan.version, &plan.res.plural)
                .is_none()
            {
                // The resource is gone (CRD deleted): the real server closes such watches.
                drop(st);
                return w.write_all(b"0\r\n\r\n").is_ok() && w.flush().is_ok();
            }
            let first = st.events.partition_point(|e| e.rv <= pos);
            for e in st.events.range(first..) {
                if let Some(line) = plan.translate(e) {
                    pending.push(line);
                }
            }
            pos = pos.max(st.rv);
            let now = Instant::now();
            if plan.bookmarks && pending.is_empty() && now >= next_bookmark {
                pending.push(plan.bookmark(pos, false));
            }
            if now >= next_bookmark {
                next_bookmark = now + plan.interval;
            }
            if !pending.is_empty() || now >= plan.deadline || shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let wait = plan
                .deadline
                .min(next_bookmark)
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            let (guard, timeout) = shared
                .changed
                .wait_timeout(st, wait)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            if timeout.timed_out() {
                // Give the outer loop a chance to notice a departed client.
                drop(st);
                break;
            }
        }
    }
}

// =================================================================================================
// Writes
// =================================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`: a JSON merge patch that merges the well-known
    /// keyed lists (containers, env, ports, volumes, ...) by key and honours `$patch` directives.
    Strategic,
}

enum WriteOp {
    Create(Value),
    Update(Value),
    Patch(PatchKind, Value),
    Apply { config: Value, force: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// One write (create, update, patch, apply) of one object.
struct WriteReq<'a> {
    res: &'a ResDef,
    version: &'a str,
    ns: Option<&'a str>,
    /// The name in the URL (`None` for a POST to the collection).
    name: Option<&'a str>,
    /// Through the `status` subresource.
    status: bool,
    /// Through the `scale` subresource (only `spec.replicas` changes; managed fields record
    /// the subresource, as a real server does for `kubectl scale`).
    scale: bool,
    op: WriteOp,
    manager: String,
    dry_run: bool,
    validation: FieldValidation,
}

struct Written {
    code: u16,
    object: Value,
    warnings: Vec<String>,
}

/// Whether PUT of a missing object creates it (as for these kinds on the real server).
fn allow_create_on_update(res: &ResDef) -> bool {
    matches!(
        (res.group.as_str(), res.plural.as_str()),
        ("coordination.k8s.io", "leases") | ("", "events") | ("events.k8s.io", "events")
    )
}

/// apiVersion and kind of a create/update body: missing ones default to the URL's, different ones
/// are refused.
fn check_type(body: &mut Value, res: &ResDef, api_version: &str) -> Result<(), ApiError> {
    match body.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => body["apiVersion"] = json!(api_version),
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {}
    }
    match body.get("kind").and_then(Value::as_str) {
        None | Some("") => body["kind"] = json!(res.kind),
        Some(k) if k != res.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
        _ => {}
    }
    if !body["metadata"].is_object() && !body["metadata"].is_null() {
        return Err(ApiError::bad_request(
            "metadata must be an object".to_string(),
        ));
    }
    Ok(())
}

fn check_name(body: &Value, url_name: &str) -> Result<(), ApiError> {
    match meta_str(body, "name") {
        Some(n) if !n.is_empty() && n != url_name => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({url_name})"
        ))),
        _ => Ok(()),
    }
}

fn check_namespace(body: &Value, res: &ResDef, ns: Option<&str>) -> Result<(), ApiError> {
    if !res.namespaced {
        return Ok(());
    }
    match meta_str(body, "namespace") {
        Some(n) if !n.is_empty() && Some(n) != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// Removes null values from maps (an apply configuration's nulls mean "not specified").
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The system-maintained metadata a write cannot change.
const SYSTEM_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

impl State {
    /// Assigns the name of an object to be created (from `generateName` if needed).
    fn create_name(&mut self, res: &ResDef, body: &mut Value) -> Result<String, ApiError> {
        if let Some(n) = meta_str(body, "name")
            && !n.is_empty()
        {
            return Ok(n.to_string());
        }
        let generate = meta_str(body, "generateName")
            .unwrap_or_default()
            .to_string();
        if generate.is_empty() {
            return Err(ApiError::invalid(
                &res.group,
                &res.kind,
                "",
                vec![required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        let base: String = generate.chars().take(58).collect();
        let name = format!("{base}{}", safe_encode(self.random(), 5));
        meta_mut(body).insert("name".into(), json!(name));
        Ok(name)
    }

    /// The one write pipeline of every kind: decode and check, merge (patch or apply), fix system
    /// metadata and the status subresource, admission (namespace lifecycle), defaulting, schema
    /// pruning, validation, field management, generation, no-op detection, dry-run, storage.
    fn write(&mut self, w: WriteReq) -> Result<Written, ApiError> {
        let res = w.res;
        let api_version = res.api_version(w.version);
        let status_sub = res.status(w.version);
        let scope = if w.status {
            Scope::Status
        } else {
            Scope::Main {
                status: !status_sub,
            }
        };
        let subresource = if w.status {
            "status"
        } else if w.scale {
            "scale"
        } else {
            ""
        };
        let ns = if res.namespaced { w.ns } else { None };
        let mut warnings = Vec::new();
        let mut live: Option<Value> = w
            .name
            .and_then(|n| self.stored(res, ns, n))
            .map(|o| present(o, &api_version));
        let not_found = |name: &str| ApiError::not_found(&res.group, &res.plural, name);
        let modified = |name: &str| ApiError::modified(&res.group, &res.plural, name);

        // 1. The candidate object.
        let mut apply_entries: Option<Vec<Entry>> = None;
        let mut sent_fields: Option<Value> = None;
        let (mut obj, creating) = match w.op {
            WriteOp::Create(mut body) => {
                check_type(&mut body, res, &api_version)?;
                check_namespace(&body, res, ns)?;
                let name = self.create_name(res, &mut body)?;
                if meta_str(&body, "resourceVersion").is_some_and(|s| !s.is_empty()) {
                    return Err(ApiError::internal(
                        "resourceVersion should not be set on objects to be created",
                    ));
                }
                live = self
                    .stored(res, ns, &name)
                    .map(|o| present(o, &api_version));
                sent_fields = body["metadata"].get("managedFields").cloned();
                (body, true)
            }
            WriteOp::Update(mut body) => {
                check_type(&mut body, res, &api_version)?;
                let name = w.name.unwrap_or_default();
                check_name(&body, name)?;
                check_namespace(&body, res, ns)?;
                meta_mut(&mut body).insert("name".into(), json!(name));
                match &live {
                    None if w.status || !allow_create_on_update(res) => {
                        return Err(not_found(name));
                    }
                    None => (body, true),
                    Some(l) => {
                        match meta_str(&body, "resourceVersion").unwrap_or_default() {
                            "" if res.crd => {
                                return Err(ApiError::invalid(
                                    &res.group,
                                    &res.kind,
                                    name,
                                    vec![invalid_value(
                                        "metadata.resourceVersion",
                                        "0x0",
                                        "must be specified for an update",
                                    )],
                                ));
                            }
                            "" => {}
                            rv if Some(rv) != meta_str(l, "resourceVersion") => {
                                return Err(modified(name));
                            }
                            _ => {}
                        }
                        sent_fields = body["metadata"].get("managedFields").cloned();
                        (body, false)
                    }
                }
            }
            WriteOp::Patch(kind, patch) => {
                let name = w.name.unwrap_or_default();
                let l = live.as_ref().ok_or_else(|| not_found(name))?;
                let patched = apply_patch(kind, l, &patch)?;
                if !patched.is_object() {
                    return Err(ApiError::bad_request("the patched object is not an object"));
                }
                check_name(&patched, name)?;
                if meta_str(&patched, "resourceVersion") != meta_str(l, "resourceVersion")
                    && meta_str(&patched, "resourceVersion").is_some_and(|s| !s.is_empty())
                {
                    return Err(modified(name));
                }
                if patched.get("apiVersion") != l.get("apiVersion")
                    || patched.get("kind") != l.get("kind")
                {
                    return Err(ApiError::bad_request(
                        "the apiVersion and kind of an object cannot be changed by a patch",
                    ));
                }
                sent_fields = patched["metadata"].get("managedFields").cloned();
                (patched, false)
            }
            WriteOp::Apply { mut config, force } => {
                let name = w.name.unwrap_or_default();
                if !config.is_object() {
                    return Err(ApiError::bad_request(format!(
                        "error decoding YAML: the apply configuration must be an object, got {config}"
                    )));
                }
                let cfg_av = config["apiVersion"].as_str().unwrap_or_default();
                if cfg_av != api_version {
                    return Err(ApiError::bad_request(format!(
                        "Incorrect version specified in apply patch. Specified patch version: {}, expected: {api_version}",
                        if cfg_av.is_empty() { "/" } else { cfg_av }
                    )));
                }
                let cfg_kind = config["kind"].as_str().unwrap_or_default();
                if cfg_kind != res.kind {
                    return Err(ApiError::bad_request(format!(
                        "invalid object type: {}, Kind={cfg_kind}",
                        if res.group.is_empty() {
                            format!("/{}", w.version)
                        } else {
                            api_version.clone()
                        }
                    )));
                }
                if let Some(e) = decode_errors(res, &config) {
                    return Err(ApiError::bad_request(e));
                }
                check_name(&config, name)?;
                check_namespace(&config, res, ns)?;
                if config["metadata"]
                    .get("managedFields")
                    .is_some_and(|m| !m.is_null())
                {
                    return Err(ApiError::bad_request("metadata.managedFields must be nil"));
                }
                drop_nulls(&mut config);
                match scope {
                    Scope::Main { status: false } => {
                        if let Some(m) = config.as_object_mut() {
                            m.remove("status");
                        }
                    }
                    Scope::Status => {
                        if let Some(m) = config.as_object_mut() {
                            m.retain(|k, _| {
                                matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                            });
                        }
                    }
                    Scope::Main { status: true } => {}
                }
                if let Some(schema) = res.schema(w.version) {
                    let mut unknown = Vec::new();
                    schema_prune(&mut config, schema, w.status, &mut unknown);
                    self.report_unknown(w.validation, &unknown, true, &mut warnings)?;
                }
                if w.status && live.is_none() {
                    return Err(not_found(name));
                }
                let cfg_rv = meta_str(&config, "resourceVersion").unwrap_or_default();
                if !cfg_rv.is_empty()
                    && live.as_ref().and_then(|l| meta_str(l, "resourceVersion")) != Some(cfg_rv)
                {
                    return Err(if live.is_some() {
                        modified(name)
                    } else {
                        not_found(name)
                    });
                }
                let base = live.clone().unwrap_or_else(|| {
                    let mut m = json!({"apiVersion": api_version, "kind": res.kind, "metadata": {"name": name}});
                    if let Some(ns) = ns {
                        m["metadata"]["namespace"] = json!(ns);
                    }
                    m
                });
                let entries = live
                    .as_ref()
                    .and_then(|l| decode_entries(&l["metadata"]["managedFields"]))
                    .unwrap_or_default();
                let (merged, entries) = server_side_apply(
                    &base,
                    live.is_some(),
                    &config,
                    entries,
                    &ApplyBy {
                        manager: &w.manager,
                        api_version: &api_version,
                        subresource,
                        force,
                        scope,
                        prune_empty: !res.crd,
                        normalize: &|o: &mut Value| default_pure(res, o),
                    },
                )
                .map_err(conflict_error)?;
                apply_entries = Some(entries);
                (merged, live.is_none())
            }
        };

        if let Some(e) = decode_errors(res, &obj) {
            return Err(ApiError::bad_request(e));
        }

        // 2. Identity and system metadata.
        let name = meta_str(&obj, "name")
            .map(str::to_string)
            .or_else(|| w.name.map(str::to_string))
            .unwrap_or_default();
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(res.kind);
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            match ns {
                Some(ns) => {
                    m.insert("namespace".into(), json!(ns));
                }
                None => {
                    m.remove("namespace");
                }
            }
            m.remove("selfLink");
        }
        let now = now_rfc3339();
        if creating {
            let uid = self.new_uid();
            let m = meta_mut(&mut obj);
            for k in SYSTEM_META {
                m.remove(*k);
            }
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now));
            if res.generation {
                m.insert("generation".into(), json!(1));
            }
            if status_sub && let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        } else if let Some(l) = &live {
            if w.status {
                // Only the status changes through the status subresource.
                let status = obj.get("status").cloned();
                let fields = obj["metadata"].get("managedFields").cloned();
                obj = l.clone();
                match status {
                    Some(s) => obj["status"] = s,
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                if let Some(f) = fields {
                    meta_mut(&mut obj).insert("managedFields".into(), f);
                }
            } else if status_sub {
                match l.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            let m = meta_mut(&mut obj);
            for k in SYSTEM_META {
                match l["metadata"].get(*k) {
                    Some(v) => m.insert(k.to_string(), v.clone()),
                    None => m.remove(*k),
                };
            }
        }

        // 3. Admission: the namespace lifecycle.
        if let Some(ns) = ns {
            match self.namespace_state(ns) {
                None => return Err(ApiError::not_found("", "namespaces", ns)),
                Some(true) if creating => {
                    let mut e = ApiError::forbidden(
                        &res.group,
                        &res.plural,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    );
                    if let Some(d) = e.details.as_mut() {
                        d["causes"] = json!([{
                            "reason": "NamespaceTerminating",
                            "message": format!("namespace {ns} is being terminated"),
                            "field": "metadata.namespace",
                        }]);
                    }
                    return Err(e);
                }
                _ => {}
            }
        }
        if creating && res.terminating {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            )
            .with_details(json!({})));
        }

        // 4. Defaulting, custom resource pruning and schema defaults.
        self.default_object(res, &mut obj, live.as_ref(), creating);
        if let Some(schema) = res.schema(w.version) {
            let mut unknown = Vec::new();
            schema_prune(&mut obj, schema, status_sub && !w.status, &mut unknown);
            if apply_entries.is_none() {
                self.report_unknown(w.validation, &unknown, false, &mut warnings)?;
            }
        }

        // 5. Validation.
        let mut causes = self.validate(res, w.version, &obj, live.as_ref(), creating);
        if let Some(l) = &live
            && l["metadata"].get("deletionTimestamp").is_some()
        {
            let old: BTreeSet<&str> = string_list(&l["metadata"]["finalizers"])
                .into_iter()
                .collect();
            if string_list(&obj["metadata"]["finalizers"])
                .iter()
                .any(|f| !old.contains(f))
            {
                causes.push(forbidden_field(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&res.group, &res.kind, &name, causes));
        }

        // 6. Managed fields.
        let old_entries = live
            .as_ref()
            .and_then(|l| decode_entries(&l["metadata"]["managedFields"]))
            .unwrap_or_default();
        let applied = apply_entries.is_some();
        let entries = match apply_entries {
            Some(e) => Some(e),
            None => {
                let base = match &sent_fields {
                    Some(f) if is_reset_fields(f) => None,
                    Some(f) => Some(
                        decode_entries(f)
                            .filter(|e| !e.is_empty())
                            .unwrap_or_else(|| old_entries.clone()),
                    ),
                    None => Some(old_entries.clone()),
                };
                base.map(|base| {
                    update_fields(
                        live.as_ref(),
                        &obj,
                        base,
                        &w.manager,
                        &api_version,
                        subresource,
                        scope,
                    )
                })
            }
        };
        match entries {
            Some(mut e) => {
                let acting = Entry::identity(
                    &w.manager,
                    if applied { "Apply" } else { "Update" },
                    &api_version,
                    subresource,
                );
                stamp_times(&mut e, &old_entries, &acting, &now);
                let encoded = encode_entries(e);
                let m = meta_mut(&mut obj);
                if encoded.as_array().is_some_and(|a| a.is_empty()) {
                    m.remove("managedFields");
                } else {
                    m.insert("managedFields".into(), encoded);
                }
            }
            None => {
                meta_mut(&mut obj).remove("managedFields");
            }
        }

        // 7. Generation.
        if !creating
            && res.generation
            && !w.status
            && let Some(l) = &live
            && spec_part(l, status_sub) != spec_part(&obj, status_sub)
        {
            let g = l["metadata"]["generation"].as_i64().unwrap_or(0);
            meta_mut(&mut obj).insert("generation".into(), json!(g + 1));
        }

        // 8. No-op writes store nothing and keep the resourceVersion.
        if let Some(l) = &live
            && !creating
            && without_times(l) == without_times(&obj)
        {
            return Ok(Written {
                code: 200,
                object: l.clone(),
                warnings,
            });
        }
        if creating && self.stored(res, ns, &name).is_some() {
            return Err(ApiError::already_exists(&res.group, &res.plural, &name));
        }
        let code = if creating { 201 } else { 200 };
        if w.dry_run {
            if creating {
                meta_mut(&mut obj).remove("resourceVersion");
            }
            return Ok(Written {
                code,
                object: canonical(obj),
                warnings,
            });
        }

        // 9. Storage.
        let finalized = !creating
            && obj["metadata"].get("deletionTimestamp").is_some()
            && string_list(&obj["metadata"]["finalizers"]).is_empty()
            && !res.is("", "namespaces");
        let storage_av = res.api_version(&res.storage_version);
        let stored = self.put(
            &res.group,
            &res.plural,
            present(&obj, &storage_av),
            if creating { "ADDED" } else { "MODIFIED" },
            live.clone(),
        );
        if finalized {
            let key = obj_key(ns, &name);
            if let Some(gone) = self.remove(&res.group, &res.plural, &key) {
                self.after_delete(res, &gone);
            }
        }
        if creating {
            self.after_create(res, &stored);
        }
        Ok(Written {
            code,
            object: present(&stored, &api_version),
            warnings,
        })
    }

    /// Unknown (pruned) fields of a custom resource: a warning, an error with
    /// `fieldValidation=Strict`, or nothing with `Ignore`.
    fn report_unknown(
        &self,
        validation: FieldValidation,
        unknown: &[String],
        apply: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        if unknown.is_empty() {
            return Ok(());
        }
        match validation {
            FieldValidation::Ignore => Ok(()),
            FieldValidation::Warn => {
                warnings.extend(
                    unknown
                        .iter()
                        .map(|u| format!("unknown field {}", go_quote(u))),
                );
                Ok(())
            }
            FieldValidation::Strict if apply => Err(ApiError::bad_request(format!(
                "failed to create typed patch object: {}",
                unknown
                    .iter()
                    .map(|u| format!(".{u}: field not declared in schema"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                unknown
                    .iter()
                    .map(|u| format!("unknown field {}", go_quote(u)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// What the real controllers do right after some objects appear.
    fn after_create(&mut self, res: &ResDef, obj: &Value) {
        let uid = uid_of(obj);
        if res.is("apiextensions.k8s.io", "customresourcedefinitions") || res.is("batch", "jobs") {
            self.clock.insert(uid, Instant::now());
        }
        if res.is("", "namespaces") {
            let ns = meta_str(obj, "name").unwrap_or_default().to_string();
            self.namespace_defaults(&ns);
        }
    }

    /// The ServiceAccount `default` and ConfigMap `kube-root-ca.crt` of a namespace.
    fn namespace_defaults(&mut self, ns: &str) {
        let sa = self.builtin("", "serviceaccounts");
        let cm = self.builtin("", "configmaps");
        for (res, body) in [
            (
                sa,
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            ),
            (
                cm,
                json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": ns,
                        "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}
                    },
                    "data": {"ca.crt": STANDIN_CA},
                }),
            ),
        ] {
            let _ = self.write(WriteReq {
                res: &res,
                version: "v1",
                ns: Some(ns),
                name: None,
                status: false,
                scale: false,
                op: WriteOp::Create(body),
                manager: CONTROLLER_MANAGER.into(),
                dry_run: false,
                validation: FieldValidation::Ignore,
            });
        }
    }
}

/// A fake CA bundle for `kube-root-ca.crt`.
const STANDIN_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\ndmVyLWNhQHN0YW5kaW4wHhcNMjQwMTAxMDAwMDAwWhcNMzQwMTAxMDAwMDAwWjAj\n-----END CERTIFICATE-----\n";

fn string_list(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The part of an object whose changes bump `metadata.generation`: everything but metadata (and
/// status, when it is a subresource).
fn spec_part(o: &Value, status_sub: bool) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if status_sub {
            m.remove("status");
        }
    }
    o
}

/// The object without managedFields timestamps (what a no-op write compares).
fn without_times(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(entries) = o["metadata"]
        .get_mut("managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in entries {
            if let Some(m) = e.as_object_mut() {
                m.remove("time");
            }
        }
    }
    o
}

// -------------------------------------------------------------------------------------------------
// patches
// -------------------------------------------------------------------------------------------------

fn apply_patch(kind: PatchKind, live: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut out = live.clone();
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "the merge patch must be a JSON object",
                ));
            }
            merge_patch(&mut out, patch);
        }
        PatchKind::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "the strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(&mut out, patch, "");
        }
        PatchKind::Json => {
            let ops = patch.as_array().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                    json_type(patch)
                ))
            })?;
            for op in ops {
                json_patch_op(&mut out, op).map_err(|e| ApiError::new(422, "Invalid", e))?;
            }
        }
    }
    Ok(out)
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The merge key of well-known keyed lists (strategic merge patch), by field name.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let has = |k: &str| {
        items
            .iter()
            .all(|i| i.get(k).is_some() || i.get("$patch").is_some())
    };
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "secrets" => Some("name"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" if has("port") => Some("port"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// A strategic merge patch (see [`PatchKind::Strategic`]).
fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = p.clone();
            p.retain(|k, _| !k.starts_with('$'));
            *target = Value::Object(p);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = json!({});
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: BTreeSet<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(k.as_str()));
    }
    for (k, v) in p {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(arr), Some(del)) =
                (t.get_mut(list).and_then(Value::as_array_mut), v.as_array())
            {
                arr.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(mk) = merge_key(k, items) {
                    for item in items {
                        let key = item.get(mk);
                        let pos = cur.iter().position(|c| c.get(mk) == key && key.is_some());
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                cur.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => strategic_merge(&mut cur[i], item, k),
                            (None, false) => {
                                let mut fresh = Value::Null;
                                strategic_merge(&mut fresh, item, k);
                                cur.push(fresh);
                            }
                        }
                    }
                } else if k == "finalizers" && field == "metadata" {
                    for item in items {
                        if !cur.contains(item) {
                            cur.push(item.clone());
                        }
                    }
                } else {
                    *cur = items.clone();
                }
            }
            (Some(cur @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(cur, v, k);
                if cur.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, v, k);
                if fresh.is_null() {
                    t.remove(k);
                } else {
                    t.insert(k.clone(), fresh);
                }
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn pointer_tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("JSON pointer must start with '/': {path:?}"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer_parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("doc is missing path: {t}"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("invalid array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("doc is missing path: {t}")),
        };
    }
    Ok(cur)
}

fn pointer_add(doc: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), String> {
    let tokens = pointer_tokens(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match pointer_parent(doc, parent)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!(
                    "jsonpatch replace operation does not apply: doc is missing key: {path}"
                ));
            }
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                if replace {
                    let slot = a
                        .get_mut(i)
                        .ok_or_else(|| format!("array index {i} out of range"))?;
                    *slot = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(format!("array index {i} out of range"));
                }
            }
        }
        _ => return Err(format!("doc is missing path: {path}")),
    }
    Ok(())
}

fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let tokens = pointer_tokens(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the root".into());
    };
    match pointer_parent(doc, parent)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| {
            format!("jsonpatch remove operation does not apply: doc is missing path: {path}")
        }),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("array index {i} out of range"))
            }
        }
        _ => Err(format!("doc is missing path: {path}")),
    }
}

fn json_patch_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op["op"]
        .as_str()
        .ok_or("JSON patch operation without \"op\"")?;
    let path = op["path"]
        .as_str()
        .ok_or("JSON patch operation without \"path\"")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or(format!("missing value for {kind}"))
    };
    match kind {
        "add" => pointer_add(doc, path, value()?, false),
        "replace" => pointer_add(doc, path, value()?, true),
        "remove" => pointer_remove(doc, path).map(|_| ()),
        "move" => {
            let from = op["from"].as_str().ok_or("move without \"from\"")?;
            let v = pointer_remove(doc, from)?;
            pointer_add(doc, path, v, false)
        }
        "copy" => {
            let from = op["from"].as_str().ok_or("copy without \"from\"")?;
            let v = doc
                .pointer(from)
                .cloned()
                .ok_or(format!("copy from missing path {from}"))?;
            pointer_add(doc, path, v, false)
        }
        "test" => {
            let expected = value()?;
            if doc.pointer(path) == Some(&expected) {
                Ok(())
            } else {
                Err(format!("testing value {path} failed: test failed"))
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

// =================================================================================================
// Field management
// =================================================================================================

/// A field path: map keys from the root. Every list is atomic (one leaf), unlike the real server,
/// which merges associative lists (containers by name, ...) element by element.
type FieldPath = Vec<String>;

/// Which part of an object a write manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The main resource; `status` tells whether the status is part of it (no status
    /// subresource).
    Main { status: bool },
    /// The status subresource: only `.status`.
    Status,
}

/// The managed leaves of an object: maps recurse, anything else (scalars, lists, empty maps) is a
/// leaf. Under metadata only labels, annotations, finalizers and ownerReferences are managed.
fn leaves(obj: &Value, scope: Scope) -> BTreeMap<FieldPath, Value> {
    fn collect(v: &Value, path: &mut FieldPath, out: &mut BTreeMap<FieldPath, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, c) in m {
                    path.push(k.clone());
                    collect(c, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone(), v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    let Some(m) = obj.as_object() else {
        return out;
    };
    for (k, v) in m {
        let mut path = vec![k.clone()];
        match (scope, k.as_str()) {
            (_, "apiVersion" | "kind") => {}
            (Scope::Status, "status") => collect(v, &mut path, &mut out),
            (Scope::Status, _) => {}
            (Scope::Main { .. }, "metadata") => {
                for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(mv) = v.get(mk) {
                        let mut p = vec!["metadata".to_string(), mk.to_string()];
                        collect(mv, &mut p, &mut out);
                    }
                }
            }
            (Scope::Main { status: false }, "status") => {}
            _ => collect(v, &mut path, &mut out),
        }
    }
    out
}

/// Paths added or modified, and paths removed, from `before` to `after`.
fn diff(
    before: &BTreeMap<FieldPath, Value>,
    after: &BTreeMap<FieldPath, Value>,
) -> (BTreeSet<FieldPath>, BTreeSet<FieldPath>) {
    let changed = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    (changed, removed)
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && b[..a.len()] == *a
}

/// `.spec.replicas`, as the real conflict messages print paths.
fn path_string(p: &[String]) -> String {
    p.iter().map(|s| format!(".{s}")).collect()
}

fn get_path<'a>(v: &'a Value, p: &[String]) -> Option<&'a Value> {
    p.iter().try_fold(v, |cur, k| cur.as_object()?.get(k))
}

/// Sets a value, creating (or replacing non-map) intermediate maps.
fn set_path(v: &mut Value, p: &[String], value: Value) {
    let Some((last, parents)) = p.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else { return };
        cur = m.entry(k.clone()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert(last.clone(), value);
    }
}

/// Removes a leaf; with `prune_empty`, maps it leaves empty go too (as Go's `omitempty` maps and
/// pointers of typed objects do), `metadata` itself excepted.
fn remove_path(v: &mut Value, p: &[String], prune_empty: bool) {
    /// Returns whether `cur` became an empty map that may go.
    fn go(cur: &mut Value, p: &[String], prune: bool) -> bool {
        let Some(m) = cur.as_object_mut() else {
            return false;
        };
        match p {
            [] => return false,
            [last] => {
                m.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(child) = m.get_mut(first)
                    && go(child, rest, prune)
                {
                    m.remove(first);
                }
            }
        }
        prune && m.is_empty()
    }
    let Some(m) = v.as_object_mut() else { return };
    match p {
        [] => {}
        [only] => {
            m.remove(only);
        }
        [first, rest @ ..] => {
            if let Some(child) = m.get_mut(first)
                && go(child, rest, prune_empty)
                && first != "metadata"
            {
                m.remove(first);
            }
        }
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: String,
    time: String,
    set: BTreeSet<FieldPath>,
}

impl Entry {
    fn identity(manager: &str, operation: &str, api_version: &str, subresource: &str) -> Entry {
        Entry {
            manager: manager.into(),
            operation: operation.into(),
            api_version: api_version.into(),
            subresource: subresource.into(),
            time: String::new(),
            set: BTreeSet::new(),
        }
    }

    /// Same manager identity: manager, operation and subresource, and for updates the apiVersion
    /// (appliers keep one entry across versions).
    fn same(&self, o: &Entry) -> bool {
        self.manager == o.manager
            && self.operation == o.operation
            && self.subresource == o.subresource
            && (self.operation == "Apply" || self.api_version == o.api_version)
    }

    /// How conflict messages name a manager.
    fn display(&self) -> String {
        let mut s = go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                go_quote(&self.subresource)
            ));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn json(&self) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), json!(self.manager));
        }
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), fields_v1(&self.set));
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// Encodes a field set as FieldsV1 (`{"f:spec":{"f:replicas":{}}}`; a member with children gets
/// a `"."` key).
fn fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = json!({});
    for p in set {
        let mut cur = &mut root;
        for seg in p {
            let Some(m) = cur.as_object_mut() else { break };
            cur = m.entry(format!("f:{seg}")).or_insert_with(|| json!({}));
        }
    }
    for p in set {
        let pointer: String = p
            .iter()
            .map(|seg| format!("/f:{}", seg.replace('~', "~0").replace('/', "~1")))
            .collect();
        if let Some(m) = root.pointer_mut(&pointer).and_then(Value::as_object_mut)
            && !m.is_empty()
        {
            m.insert(".".into(), json!({}));
        }
    }
    root
}

/// Decodes FieldsV1; list element keys (`k:`, `v:`, `i:`) collapse to their (atomic) list.
fn parse_fields_v1(v: &Value) -> Option<BTreeSet<FieldPath>> {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) -> Option<()> {
        let m = v.as_object()?;
        if m.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return Some(());
        }
        for (k, c) in m {
            if k == "." {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            } else if let Some(name) = k.strip_prefix("f:") {
                path.push(name.to_string());
                walk(c, path, out)?;
                path.pop();
            } else if k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:") {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            } else {
                return None;
            }
        }
        Some(())
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out)?;
    Some(out)
}

/// Decodes `metadata.managedFields`; `None` when absent or malformed.
fn decode_entries(v: &Value) -> Option<Vec<Entry>> {
    let arr = v.as_array()?;
    arr.iter()
        .map(|e| {
            let s = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let operation = s("operation");
            if operation != "Apply" && operation != "Update" {
                return None;
            }
            if e.get("fieldsType").is_some_and(|t| t != "FieldsV1") {
                return None;
            }
            Some(Entry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                subresource: s("subresource"),
                time: s("time"),
                set: match e.get("fieldsV1") {
                    Some(f) => parse_fields_v1(f)?,
                    None => BTreeSet::new(),
                },
            })
        })
        .collect()
}

/// `managedFields: [{}]` asks to reset managed fields.
fn is_reset_fields(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty() && a.iter().all(|e| e.as_object().is_some_and(Map::is_empty))
    }) || v.as_array().is_some_and(Vec::is_empty)
}

/// Encodes entries in the real order: Apply before Update, then by time, manager, apiVersion,
/// subresource; empty entries are dropped.
fn encode_entries(mut entries: Vec<Entry>) -> Value {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    Value::Array(entries.iter().map(Entry::json).collect())
}

/// Keeps the time of unchanged entries; the acting manager's changed entry gets `now`.
fn stamp_times(entries: &mut [Entry], old: &[Entry], acting: &Entry, now: &str) {
    for e in entries.iter_mut() {
        let prev = old.iter().find(|o| o.same(e));
        e.time = match prev {
            Some(o) if o.set == e.set && o.api_version == e.api_version => o.time.clone(),
            Some(o) if !e.same(acting) => o.time.clone(),
            _ => now.to_string(),
        };
        if e.time.is_empty() {
            e.time = now.to_string();
        }
    }
}

/// Field ownership after an update-type write (create, PUT, merge/JSON/strategic patch):
/// changed and removed paths leave every other manager; changed paths become the updater's.
fn update_fields(
    live: Option<&Value>,
    new: &Value,
    mut entries: Vec<Entry>,
    manager: &str,
    api_version: &str,
    subresource: &str,
    scope: Scope,
) -> Vec<Entry> {
    let before = live.map(|l| leaves(l, scope)).unwrap_or_default();
    let after = leaves(new, scope);
    let (changed, removed) = diff(&before, &after);
    let me = Entry::identity(manager, "Update", api_version, subresource);
    for e in entries.iter_mut().filter(|e| !e.same(&me)) {
        e.set
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    match entries.iter_mut().find(|e| e.same(&me)) {
        Some(e) => {
            e.set.retain(|p| !removed.contains(p));
            e.set.extend(changed);
        }
        None => {
            let mut e = me;
            e.set = changed;
            entries.push(e);
        }
    }
    entries.retain(|e| !e.set.is_empty());
    entries
}

/// Who applies and how.
struct ApplyBy<'a> {
    manager: &'a str,
    api_version: &'a str,
    subresource: &'a str,
    force: bool,
    scope: Scope,
    /// Remove maps left empty by pruning (typed objects).
    prune_empty: bool,
    /// Defaulting applied to the merged object before comparing it with the live one, so that
    /// atomic lists do not differ only by server-side defaults.
    normalize: &'a dyn Fn(&mut Value),
}

/// A conflict: the other manager and the path.
type ApplyConflict = (Entry, FieldPath);

/// Server-side apply of `config` onto `base` (the live object, or a skeleton when creating).
///
/// The applied set A is the config's leaves. Paths the manager applied before and no longer
/// applies are removed unless another manager owns them. The config is merged in (maps
/// recursively, leaves replaced). Paths that other managers own and whose value changes conflict;
/// without `force` that is an error, with it they leave those managers. The manager's Apply
/// entry becomes A (values equal to the live ones are thus co-owned).
fn server_side_apply(
    base: &Value,
    live_exists: bool,
    config: &Value,
    mut entries: Vec<Entry>,
    by: &ApplyBy,
) -> Result<(Value, Vec<Entry>), Vec<ApplyConflict>> {
    let applied = leaves(config, by.scope);
    let a_set: BTreeSet<FieldPath> = applied.keys().cloned().collect();
    let me = Entry::identity(by.manager, "Apply", by.api_version, by.subresource);
    let prev: BTreeSet<FieldPath> = entries
        .iter()
        .find(|e| e.same(&me))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let mut merged = base.clone();
    for (p, v) in &applied {
        let empty_map = v.as_object().is_some_and(Map::is_empty);
        if empty_map && get_path(&merged, p).is_some_and(Value::is_object) {
            continue;
        }
        set_path(&mut merged, p, v.clone());
    }
    for p in prev.difference(&a_set) {
        let owned_elsewhere = entries.iter().any(|e| !e.same(&me) && e.set.contains(p));
        let related = a_set.iter().any(|q| is_prefix(q, p) || is_prefix(p, q));
        if !owned_elsewhere && !related {
            remove_path(&mut merged, p, by.prune_empty);
        }
    }
    let before = if live_exists {
        leaves(base, by.scope)
    } else {
        BTreeMap::new()
    };
    let mut normalized = merged.clone();
    (by.normalize)(&mut normalized);
    let after = leaves(&normalized, by.scope);
    let (changed, removed) = diff(&before, &after);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !e.same(&me)) {
        for p in e.set.intersection(&changed) {
            if a_set.contains(p) {
                conflicts.push((e.clone(), p.clone()));
            }
        }
    }
    if !by.force && !conflicts.is_empty() {
        return Err(conflicts);
    }
    for e in entries.iter_mut().filter(|e| !e.same(&me)) {
        e.set
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let mut mine = me;
    mine.set = a_set;
    match entries.iter_mut().find(|e| e.same(&mine)) {
        Some(e) => *e = mine,
        None => entries.push(mine),
    }
    entries.retain(|e| !e.set.is_empty());
    Ok((merged, entries))
}

/// The 409 of an apply conflict, worded like the real one.
fn conflict_error(mut conflicts: Vec<ApplyConflict>) -> ApiError {
    conflicts.sort_by(|a, b| (a.0.display(), &a.1).cmp(&(b.0.display(), &b.1)));
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(e, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", e.display()),
                "field": path_string(p),
            })
        })
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0.display(),
            path_string(&conflicts[0].1)
        )
    } else {
        let mut lines = Vec::new();
        let mut managers: Vec<String> = conflicts.iter().map(|(e, _)| e.display()).collect();
        managers.dedup();
        for m in &managers {
            lines.push(format!("conflicts with {m}:"));
            for (e, p) in &conflicts {
                if e.display() == *m {
                    lines.push(format!("- {}", path_string(p)));
                }
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
}

// =================================================================================================
// Selectors
// =================================================================================================

/// One label selector requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Exists(String),
    NotExists(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// Parses `a=b,c!=d,e,!f,g in (h,i),j notin (k)` (`==` too).
fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>, ApiError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |t: &str, why: &str| {
        ApiError::bad_request(format!("unable to parse requirement: {}: {why}", t.trim()))
    };
    let mut out = Vec::new();
    for term in split_top_level(s) {
        let t = term.trim();
        if t.is_empty() {
            return Err(bad(
                t,
                "found '', expected: !, identifier, or 'end of string'",
            ));
        }
        let req = if let Some(k) = t.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = t.split_once("!=") {
            LabelReq::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once("==") {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once('=') {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else {
            let key_end = t
                .find(|c: char| c.is_whitespace() || c == '(')
                .unwrap_or(t.len());
            let (key, rest) = (t[..key_end].to_string(), t[key_end..].trim());
            if rest.is_empty() {
                LabelReq::Exists(key)
            } else {
                let (notin, after) = if let Some(a) = rest.strip_prefix("notin") {
                    (true, a.trim())
                } else if let Some(a) = rest.strip_prefix("in") {
                    (false, a.trim())
                } else {
                    return Err(bad(t, "expected one of '=', '==', '!=', 'in', 'notin'"));
                };
                let inner = after
                    .strip_prefix('(')
                    .and_then(|a| a.strip_suffix(')'))
                    .ok_or_else(|| bad(t, "expected a parenthesized list of values"))?;
                let values: Vec<String> = inner
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                if notin {
                    LabelReq::NotIn(key, values)
                } else {
                    LabelReq::In(key, values)
                }
            }
        };
        let (key, values): (&str, Vec<&str>) = match &req {
            LabelReq::Exists(k) | LabelReq::NotExists(k) => (k, vec![]),
            LabelReq::Eq(k, v) | LabelReq::Ne(k, v) => (k, vec![v.as_str()]),
            LabelReq::In(k, v) | LabelReq::NotIn(k, v) => {
                (k, v.iter().map(String::as_str).collect())
            }
        };
        if let Some(e) = qualified_name_error(key) {
            return Err(bad(
                t,
                &format!("key: Invalid value: {}: {e}", go_quote(key)),
            ));
        }
        for v in values {
            if !label_value_ok(v) {
                return Err(bad(
                    t,
                    &format!("values: Invalid value: {}: {LABEL_VALUE_MSG}", go_quote(v)),
                ));
            }
        }
        out.push(req);
    }
    Ok(out)
}

fn labels_match(reqs: &[LabelReq], obj: &Value) -> bool {
    let labels = obj["metadata"]["labels"].as_object();
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        LabelReq::Exists(k) => get(k).is_some(),
        LabelReq::NotExists(k) => get(k).is_none(),
        LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
        LabelReq::Ne(k, v) => get(k) != Some(v.as_str()),
        LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
    })
}

/// One field selector requirement (`=`/`==` or `!=`).
#[derive(Debug, Clone, PartialEq)]
struct FieldReq {
    field: String,
    value: String,
    equal: bool,
}

/// The field selectors a resource supports besides metadata.name and metadata.namespace.
fn extra_field_selectors(res: &ResDef) -> &'static [&'static str] {
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("batch", "jobs") => &["status.successful"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

fn parse_field_selector(res: &ResDef, s: &str) -> Result<Vec<FieldReq>, ApiError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for term in s.split(',') {
        let t = term.trim();
        let (field, value, equal) = if let Some((k, v)) = t.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = t.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = t.split_once('=') {
            (k, v, true)
        } else {
            return Err(ApiError::bad_request(format!(
                "invalid selector: '{s}'; can't understand '{t}'"
            )));
        };
        let field = field.trim();
        let known = matches!(field, "metadata.name" | "metadata.namespace")
            || extra_field_selectors(res).contains(&field);
        if !known {
            return Err(ApiError::bad_request(if res.crd {
                format!(
                    "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    go_quote(field)
                )
            } else {
                format!("field label not supported: {field}")
            }));
        }
        out.push(FieldReq {
            field: field.to_string(),
            value: value.trim().to_string(),
            equal,
        });
    }
    Ok(out)
}

fn field_value(obj: &Value, field: &str) -> String {
    let path: Vec<String> = field.split('.').map(str::to_string).collect();
    match get_path(obj, &path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn object_matches(obj: &Value, labels: &[LabelReq], fields: &[FieldReq]) -> bool {
    labels_match(labels, obj)
        && fields
            .iter()
            .all(|f| (field_value(obj, &f.field) == f.value) == f.equal)
}

/// Whether a workload's `spec.selector` (matchLabels and matchExpressions) selects `labels`.
fn selector_selects(selector: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let ml = selector["matchLabels"].as_object();
    let ok_labels = ml.is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let ok_exprs = selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values = string_list(&e["values"]);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => get(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        })
    });
    ok_labels && ok_exprs
}

// =================================================================================================
// Validation
// =================================================================================================

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Messages for an invalid DNS name (`kind` of name: subdomain, label, 1035 label).
fn dns_name_errors(s: &str, which: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (max, ok, msg) = match which {
        "label" => (63, is_dns1123_label(s), DNS1123_LABEL_MSG),
        "1035" => (63, is_dns1035_label(s), DNS1035_LABEL_MSG),
        _ => (253, is_dns1123_subdomain(s), DNS1123_SUBDOMAIN_MSG),
    };
    if s.len() > max {
        out.push(format!("must be no more than {max} characters"));
    }
    if !ok {
        out.push(msg.to_string());
    }
    out
}

fn name_part_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The error of a label/annotation key (`prefix/name`), if any.
fn qualified_name_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if !is_dns1123_subdomain(p) {
            return Some(format!("prefix part {DNS1123_SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    if !name_part_ok(name) {
        return Some(NAME_PART_MSG.into());
    }
    None
}

fn label_value_ok(v: &str) -> bool {
    v.is_empty() || name_part_ok(v)
}

/// A Go-ish rendering of a label selector for "field is immutable" messages.
fn go_selector(sel: &Value) -> String {
    let labels = sel["matchLabels"]
        .as_object()
        .map(go_string_map)
        .unwrap_or_else(|| "map[string]string(nil)".into());
    let exprs = match sel["matchExpressions"].as_array() {
        Some(a) if !a.is_empty() => {
            format!("[]v1.LabelSelectorRequirement{}", Value::Array(a.clone()))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// Shape errors a typed (Go) decoder would reject with 400 before validation.
fn decode_errors(res: &ResDef, obj: &Value) -> Option<String> {
    match obj.get("metadata") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(other) => {
            return Some(format!(
                "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
                json_type(other),
                res.kind
            ));
        }
    }
    if !res.crd {
        for field in ["spec", "status"] {
            match obj.get(field) {
                None | Some(Value::Null) | Some(Value::Object(_)) => {}
                Some(other) => {
                    return Some(format!(
                        "json: cannot unmarshal {} into Go struct field {}.{field} of type v1.{}{}",
                        json_type(other),
                        res.kind,
                        res.kind,
                        if field == "spec" { "Spec" } else { "Status" }
                    ));
                }
            }
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(m) = obj["metadata"].get(field) {
            match m {
                Value::Null => {}
                Value::Object(m) => {
                    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_string()) {
                        return Some(format!(
                            "json: cannot unmarshal {} into Go struct field ObjectMeta.metadata.{field} of type string (key {k:?})",
                            json_type(v)
                        ));
                    }
                }
                other => {
                    return Some(format!(
                        "json: cannot unmarshal {} into Go struct field ObjectMeta.metadata.{field} of type map[string]string",
                        json_type(other)
                    ));
                }
            }
        }
    }
    if res.crd {
        return None;
    }
    let string_maps: &[&str] = match (res.group.as_str(), res.plural.as_str()) {
        ("", "configmaps") => &["data"],
        ("", "secrets") => &["data", "stringData"],
        _ => &[],
    };
    for field in string_maps {
        if let Some(m) = obj.get(*field).and_then(Value::as_object)
            && let Some((_, v)) = m.iter().find(|(_, v)| !v.is_string())
        {
            return Some(format!(
                "json: cannot unmarshal {} into Go struct field {}.{field} of type string",
                json_type(v),
                res.kind
            ));
        }
    }
    if res.is("", "secrets")
        && let Some(m) = obj.get("data").and_then(Value::as_object)
    {
        for v in m.values().filter_map(Value::as_str) {
            if base64_decode(v).is_none() {
                return Some("illegal base64 data at input byte 0".into());
            }
        }
    }
    None
}

impl State {
    /// Validation of the final object (422 causes).
    fn validate(
        &self,
        res: &ResDef,
        version: &str,
        obj: &Value,
        live: Option<&Value>,
        creating: bool,
    ) -> Vec<Cause> {
        let mut c = Vec::new();
        let name = meta_str(obj, "name").unwrap_or_default();
        // metadata.name
        let which = match (res.group.as_str(), res.plural.as_str()) {
            ("", "namespaces") => "label",
            ("", "services") => "1035",
            ("rbac.authorization.k8s.io", _) => "path",
            _ => "subdomain",
        };
        if creating {
            if which == "path" {
                if name == "." || name == ".." {
                    c.push(invalid_value(
                        "metadata.name",
                        &go_quote(name),
                        &format!("may not be '{name}'"),
                    ));
                } else if let Some(bad) = ["/", "%"].iter().find(|s| name.contains(**s)) {
                    c.push(invalid_value(
                        "metadata.name",
                        &go_quote(name),
                        &format!("may not contain '{bad}'"),
                    ));
                }
            } else {
                for e in dns_name_errors(name, which) {
                    c.push(invalid_value("metadata.name", &go_quote(name), &e));
                }
            }
        }
        // labels and annotations
        if let Some(labels) = obj["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                if let Some(e) = qualified_name_error(k) {
                    c.push(invalid_value("metadata.labels", &go_quote(k), &e));
                }
                let v = v.as_str().unwrap_or_default();
                if v.len() > 63 {
                    c.push(invalid_value(
                        "metadata.labels",
                        &go_quote(v),
                        "must be no more than 63 characters",
                    ));
                } else if !label_value_ok(v) {
                    c.push(invalid_value(
                        "metadata.labels",
                        &go_quote(v),
                        LABEL_VALUE_MSG,
                    ));
                }
            }
        }
        if let Some(ann) = obj["metadata"]["annotations"].as_object() {
            let mut total = 0;
            for (k, v) in ann {
                if let Some(e) = qualified_name_error(&k.to_ascii_lowercase()) {
                    c.push(invalid_value("metadata.annotations", &go_quote(k), &e));
                }
                total += k.len() + v.as_str().map_or(0, str::len);
            }
            if total > 256 * 1024 {
                c.push(too_long("metadata.annotations", 256 * 1024));
            }
        }
        // per kind
        let spec = &obj["spec"];
        let old_spec = live.map(|l| &l["spec"]);
        match (res.group.as_str(), res.plural.as_str()) {
            ("apps", kind @ ("deployments" | "statefulsets" | "daemonsets" | "replicasets")) => {
                let singular = &kind[..kind.len() - 1];
                validate_selector(spec, singular, &mut c);
                validate_pod_template(&spec["template"], "spec.template", false, &mut c);
                if let Some(r) = spec.get("replicas")
                    && r.as_i64().is_some_and(|r| r < 0)
                {
                    c.push(invalid_value(
                        "spec.replicas",
                        &r.to_string(),
                        "must be greater than or equal to 0",
                    ));
                }
                if let Some(old) = old_spec {
                    if kind != "statefulsets" && old.get("selector") != spec.get("selector") {
                        c.push(invalid_value(
                            "spec.selector",
                            &go_selector(&spec["selector"]),
                            "field is immutable",
                        ));
                    }
                    if kind == "statefulsets" {
                        let strip = |s: &Value| {
                            let mut s = s.clone();
                            if let Some(m) = s.as_object_mut() {
                                for k in [
                                    "replicas",
                                    "ordinals",
                                    "template",
                                    "updateStrategy",
                                    "persistentVolumeClaimRetentionPolicy",
                                    "minReadySeconds",
                                ] {
                                    m.remove(k);
                                }
                            }
                            s
                        };
                        if strip(old) != strip(spec) {
                            c.push(forbidden_field("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
                        }
                    }
                }
            }
            ("batch", "jobs") => {
                validate_pod_template(&spec["template"], "spec.template", true, &mut c);
                if let Some(old) = old_spec {
                    if old.get("template") != spec.get("template") {
                        c.push(invalid_value(
                            "spec.template",
                            &format!("core.PodTemplateSpec{}", spec["template"]),
                            "field is immutable",
                        ));
                    }
                    if old.get("selector") != spec.get("selector") {
                        c.push(invalid_value(
                            "spec.selector",
                            &go_selector(&spec["selector"]),
                            "field is immutable",
                        ));
                    }
                }
            }
            ("batch", "cronjobs") => {
                if spec["schedule"].as_str().unwrap_or_default().is_empty() {
                    c.push(required("spec.schedule", ""));
                }
                validate_pod_template(
                    &spec["jobTemplate"]["spec"]["template"],
                    "spec.jobTemplate.spec.template",
                    true,
                    &mut c,
                );
            }
            ("", "pods") => {
                validate_pod_spec(spec, "spec", false, &mut c);
            }
            ("", "services") => validate_service(spec, old_spec, &mut c),
            ("", "configmaps") => {
                for field in ["data", "binaryData"] {
                    if let Some(m) = obj[field].as_object() {
                        for k in m.keys() {
                            if k.is_empty()
                                || k.len() > 253
                                || !k.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
                                })
                            {
                                c.push(invalid_value(
                                    &format!("{field}[{k}]"),
                                    &go_quote(k),
                                    CONFIG_KEY_MSG,
                                ));
                            }
                        }
                    }
                }
            }
            ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
                let rr = &obj["roleRef"];
                let kind = rr["kind"].as_str().unwrap_or_default();
                let allowed: &[&str] = if res.plural == "rolebindings" {
                    &["Role", "ClusterRole"]
                } else {
                    &["ClusterRole"]
                };
                if !allowed.contains(&kind) {
                    c.push(not_supported(
                        "roleRef.kind",
                        &go_quote(kind),
                        &allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    ));
                }
                if rr["name"].as_str().unwrap_or_default().is_empty() {
                    c.push(required("roleRef.name", ""));
                }
                if rr["apiGroup"].as_str().unwrap_or_default() != "rbac.authorization.k8s.io" {
                    c.push(not_supported(
                        "roleRef.apiGroup",
                        &go_quote(rr["apiGroup"].as_str().unwrap_or_default()),
                        &["rbac.authorization.k8s.io".to_string()],
                    ));
                }
                if let Some(l) = live
                    && l["roleRef"] != obj["roleRef"]
                {
                    c.push(invalid_value(
                        "roleRef",
                        &format!(
                            "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                            go_quote(rr["apiGroup"].as_str().unwrap_or_default()),
                            go_quote(kind),
                            go_quote(rr["name"].as_str().unwrap_or_default())
                        ),
                        "cannot change roleRef",
                    ));
                }
            }
            ("rbac.authorization.k8s.io", "roles" | "clusterroles") => {
                if let Some(rules) = obj["rules"].as_array() {
                    for (i, r) in rules.iter().enumerate() {
                        if string_list(&r["verbs"]).is_empty() {
                            c.push(required(
                                &format!("rules[{i}].verbs"),
                                "verbs must contain at least one value",
                            ));
                        }
                        let non_resource = !string_list(&r["nonResourceURLs"]).is_empty();
                        if !non_resource
                            && r.get("apiGroups")
                                .and_then(Value::as_array)
                                .is_none_or(Vec::is_empty)
                        {
                            c.push(required(
                                &format!("rules[{i}].apiGroups"),
                                "resource rules must supply at least one api group",
                            ));
                        }
                    }
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                validate_crd(obj, live, &mut c);
            }
            _ => {}
        }
        if let Some(schema) = res.schema(version) {
            let mut root = schema.clone();
            if res.status(version)
                && let Some(p) = root.get_mut("properties").and_then(Value::as_object_mut)
            {
                // The status of a main-resource write is the stored one; validate it only when
                // present (it is validated on status writes).
                if obj.get("status").is_none() {
                    p.remove("status");
                }
            }
            schema_validate_root(obj, &root, &mut c);
        }
        c
    }
}

fn validate_selector(spec: &Value, singular: &str, c: &mut Vec<Cause>) {
    let Some(sel) = spec.get("selector").filter(|s| !s.is_null()) else {
        c.push(required("spec.selector", ""));
        return;
    };
    let empty = sel["matchLabels"].as_object().is_none_or(Map::is_empty)
        && sel["matchExpressions"].as_array().is_none_or(Vec::is_empty);
    if empty {
        c.push(invalid_value(
            "spec.selector",
            &go_selector(sel),
            &format!("empty selector is invalid for {singular}"),
        ));
        return;
    }
    let labels = &spec["template"]["metadata"]["labels"];
    if !selector_selects(sel, labels) {
        let rendered = labels
            .as_object()
            .map(go_string_map)
            .unwrap_or_else(|| "map[string]string(nil)".into());
        c.push(invalid_value(
            "spec.template.metadata.labels",
            &rendered,
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_pod_template(tpl: &Value, path: &str, job: bool, c: &mut Vec<Cause>) {
    validate_pod_spec(&tpl["spec"], &format!("{path}.spec"), job, c);
}

fn validate_pod_spec(spec: &Value, path: &str, job: bool, c: &mut Vec<Cause>) {
    match spec["containers"].as_array() {
        None => c.push(required(&format!("{path}.containers"), "")),
        Some(a) if a.is_empty() => c.push(required(&format!("{path}.containers"), "")),
        Some(_) => {}
    }
    for list in ["initContainers", "containers"] {
        let mut seen = BTreeSet::new();
        for (i, ct) in spec[list].as_array().into_iter().flatten().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            let name = ct["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                c.push(required(&format!("{p}.name"), ""));
            } else if !is_dns1123_label(name) {
                c.push(invalid_value(
                    &format!("{p}.name"),
                    &go_quote(name),
                    DNS1123_LABEL_MSG,
                ));
            } else if !seen.insert(name.to_string()) {
                c.push(Cause {
                    reason: "FieldValueDuplicate",
                    message: format!("Duplicate value: {}", go_quote(name)),
                    field: format!("{p}.name"),
                });
            }
            if ct["image"].as_str().unwrap_or_default().trim().is_empty() {
                c.push(required(&format!("{p}.image"), ""));
            }
        }
    }
    if job {
        match spec["restartPolicy"].as_str() {
            None | Some("") => c.push(required(
                &format!("{path}.restartPolicy"),
                "valid values: \"OnFailure\", \"Never\"",
            )),
            Some("OnFailure" | "Never") => {}
            Some(other) => c.push(not_supported(
                &format!("{path}.restartPolicy"),
                &go_quote(other),
                &["OnFailure".into(), "Never".into()],
            )),
        }
    }
}

fn validate_service(spec: &Value, old: Option<&Value>, c: &mut Vec<Cause>) {
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !types.contains(&ty) {
        c.push(not_supported(
            "spec.type",
            &go_quote(ty),
            &types.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ));
    }
    let ports = spec["ports"].as_array().cloned().unwrap_or_default();
    if ty != "ExternalName" && ports.is_empty() && spec["clusterIP"] != "None" {
        c.push(required("spec.ports", ""));
    }
    for (i, p) in ports.iter().enumerate() {
        let port = p["port"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&port) {
            c.push(invalid_value(
                &format!("spec.ports[{i}].port"),
                &port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
        if ports.len() > 1 && p["name"].as_str().unwrap_or_default().is_empty() {
            c.push(required(&format!("spec.ports[{i}].name"), ""));
        }
    }
    if let Some(old) = old {
        let was = old["clusterIP"].as_str().unwrap_or_default();
        let now = spec["clusterIP"].as_str().unwrap_or_default();
        if !was.is_empty() && was != now && ty != "ExternalName" {
            c.push(invalid_value(
                "spec.clusterIP",
                &go_quote(now),
                "field is immutable",
            ));
        }
    }
}

fn validate_crd(obj: &Value, live: Option<&Value>, c: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = meta_str(obj, "name").unwrap_or_default();
    if group.is_empty() {
        c.push(required("spec.group", ""));
    } else if !is_dns1123_subdomain(group) || !group.contains('.') {
        c.push(invalid_value(
            "spec.group",
            &go_quote(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        c.push(required("spec.names.plural", ""));
    }
    if name != format!("{plural}.{group}") {
        c.push(invalid_value(
            "metadata.name",
            &go_quote(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        c.push(required("spec.names.kind", ""));
    }
    match spec["scope"].as_str() {
        None | Some("") => c.push(required("spec.scope", "")),
        Some("Cluster" | "Namespaced") => {}
        Some(other) => c.push(not_supported(
            "spec.scope",
            &go_quote(other),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        c.push(required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions.iter().filter(|v| v["storage"] == true).count();
        if storage != 1 {
            c.push(invalid_value(
                "spec.versions",
                &format!(
                    "[]apiextensions.CustomResourceDefinitionVersion{}",
                    Value::Array(versions.clone())
                ),
                "must have exactly one version marked as storage version",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, v) in versions.iter().enumerate() {
            let vn = v["name"].as_str().unwrap_or_default();
            if !is_dns1035_label(vn) {
                c.push(invalid_value(
                    &format!("spec.versions[{i}].name"),
                    &go_quote(vn),
                    DNS1035_LABEL_MSG,
                ));
            } else if !seen.insert(vn.to_string()) {
                c.push(Cause {
                    reason: "FieldValueDuplicate",
                    message: format!("Duplicate value: {}", go_quote(vn)),
                    field: format!("spec.versions[{i}].name"),
                });
            }
            let schema = &v["schema"]["openAPIV3Schema"];
            if !schema.is_object() {
                c.push(required(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                ));
            } else {
                match schema["type"].as_str() {
                    Some("object") => {}
                    None | Some("") => c.push(required(
                        &format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                        "must not be empty at the root",
                    )),
                    Some(other) => c.push(not_supported(
                        &format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                        &go_quote(other),
                        &["object".into()],
                    )),
                }
            }
        }
    }
    if let Some(l) = live {
        for (field, path) in [("scope", "spec.scope"), ("group", "spec.group")] {
            if l["spec"][field] != spec[field] {
                c.push(invalid_value(
                    path,
                    &go_value(&spec[field]),
                    "field is immutable",
                ));
            }
        }
    }
}

// -------------------------------------------------------------------------------------------------
// custom resource schemas (structural OpenAPI v3 subset)
// -------------------------------------------------------------------------------------------------

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Prunes fields the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`) and
/// applies `default`s, as the real server does for custom resources; pruned paths are collected.
fn schema_prune(obj: &mut Value, schema: &Value, skip_status: bool, unknown: &mut Vec<String>) {
    let Some(m) = obj.as_object_mut() else { return };
    let props = schema["properties"].as_object();
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
            || (skip_status && k == "status")
        {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(s) => {
                if let Some(child) = m.get_mut(&k) {
                    prune_value(child, s, &k, unknown);
                }
            }
            None if preserve => {}
            None => {
                m.remove(&k);
                unknown.push(k);
            }
        }
    }
    if let Some(p) = props {
        for (k, s) in p {
            if !m.contains_key(k)
                && let Some(d) = s.get("default")
                && !(skip_status && k == "status")
            {
                m.insert(k.clone(), d.clone());
            }
        }
    }
}

fn prune_value(v: &mut Value, s: &Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let props = s["properties"].as_object();
            let additional = s.get("additionalProperties");
            let preserve = s["x-kubernetes-preserve-unknown-fields"] == true;
            let embedded = s["x-kubernetes-embedded-resource"] == true;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let p = child_path(path, &k);
                if let Some(ps) = props.and_then(|p| p.get(&k)) {
                    if let Some(c) = m.get_mut(&k) {
                        prune_value(c, ps, &p, unknown);
                    }
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    if let Some(c) = m.get_mut(&k) {
                        prune_value(c, a, &p, unknown);
                    }
                } else if preserve
                    || additional == Some(&Value::Bool(true))
                    || (embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                {
                } else if props.is_some() || s["type"] == "object" {
                    m.remove(&k);
                    unknown.push(p);
                }
            }
            if let Some(props) = props {
                for (k, ps) in props {
                    if !m.contains_key(k)
                        && let Some(d) = ps.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                for (i, e) in a.iter_mut().enumerate() {
                    prune_value(e, items, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn schema_validate_root(obj: &Value, schema: &Value, c: &mut Vec<Cause>) {
    let Some(m) = obj.as_object() else { return };
    let props = schema["properties"].as_object();
    for r in string_list(&schema["required"]) {
        if !m.contains_key(r) {
            c.push(required(r, ""));
        }
    }
    for (k, v) in m {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(s) = props.and_then(|p| p.get(k)) {
            schema_validate(v, s, k, c);
        }
    }
}

/// Type, enum, bounds, required, properties, items, additionalProperties (not `pattern`,
/// `format`, CEL rules or `oneOf`/`anyOf`).
fn schema_validate(v: &Value, s: &Value, path: &str, c: &mut Vec<Cause>) {
    if v.is_null() && s["nullable"] == true {
        return;
    }
    let actual = json_type(v);
    let int_or_string = s["x-kubernetes-int-or-string"] == true;
    if int_or_string {
        if !matches!(actual, "integer" | "string") {
            c.push(type_invalid(
                path,
                &go_quote(actual),
                &format!(
                    "{path} in body must be of type integer-or-string: {}",
                    go_quote(actual)
                ),
            ));
            return;
        }
    } else if let Some(t) = s["type"].as_str() {
        let ok = match t {
            "number" => matches!(actual, "integer" | "number"),
            t => t == actual,
        };
        if !ok {
            c.push(type_invalid(
                path,
                &go_quote(actual),
                &format!("{path} in body must be of type {t}: {}", go_quote(actual)),
            ));
            return;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let supported: Vec<String> = e
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        c.push(not_supported(path, &go_value(v), &supported));
    }
    match v {
        Value::String(st) => {
            let n = st.chars().count() as u64;
            if let Some(min) = s["minLength"].as_u64()
                && n < min
            {
                c.push(invalid_value(
                    path,
                    &go_quote(st),
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = s["maxLength"].as_u64()
                && n > max
            {
                c.push(too_long(path, max as usize));
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or_default();
            if let Some(min) = s["minimum"].as_f64() {
                let excl = s["exclusiveMinimum"] == true;
                if x < min || (excl && x == min) {
                    c.push(invalid_value(
                        path,
                        &num.to_string(),
                        &format!(
                            "{path} in body should be greater than {}{}",
                            if excl { "" } else { "or equal to " },
                            s["minimum"]
                        ),
                    ));
                }
            }
            if let Some(max) = s["maximum"].as_f64() {
                let excl = s["exclusiveMaximum"] == true;
                if x > max || (excl && x == max) {
                    c.push(invalid_value(
                        path,
                        &num.to_string(),
                        &format!(
                            "{path} in body should be less than {}{}",
                            if excl { "" } else { "or equal to " },
                            s["maximum"]
                        ),
                    ));
                }
            }
        }
        Value::Array(a) => {
            if let Some(min) = s["minItems"].as_u64()
                && (a.len() as u64) < min
            {
                c.push(invalid_value(
                    path,
                    &a.len().to_string(),
                    &format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = s["maxItems"].as_u64()
                && (a.len() as u64) > max
            {
                c.push(Cause {
                    reason: "FieldValueTooMany",
                    message: format!("Too many: {}: must have at most {max} items", a.len()),
                    field: path.into(),
                });
            }
            if let Some(items) = s.get("items").filter(|i| i.is_object()) {
                for (i, e) in a.iter().enumerate() {
                    schema_validate(e, items, &format!("{path}[{i}]"), c);
                }
            }
        }
        Value::Object(m) => {
            for r in string_list(&s["required"]) {
                if !m.contains_key(r) {
                    c.push(required(&child_path(path, r), ""));
                }
            }
            let props = s["properties"].as_object();
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, cv) in m {
                let p = child_path(path, k);
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    schema_validate(cv, ps, &p, c);
                } else if let Some(a) = additional {
                    schema_validate(cv, a, &p, c);
                }
            }
        }
        _ => {}
    }
}

// =================================================================================================
// Defaulting
// =================================================================================================

/// Image pull policy default: Always for `:latest` or untagged images, else IfNotPresent.
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

/// The defaults of a pod spec (as SetDefaults_PodSpec and SetDefaults_Container).
fn default_pod_spec(spec: &mut Value, job: bool) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    if !job {
        set_default(m, "restartPolicy", json!("Always"));
    }
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "schedulerName", json!("default-scheduler"));
    set_default(m, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            for ct in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = ct
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                set_default(ct, "imagePullPolicy", json!(default_pull_policy(&image)));
                set_default(ct, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(ct, "terminationMessagePolicy", json!("File"));
                set_default(ct, "resources", json!({}));
                if let Some(ports) = ct.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn spec_map(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.get_mut("spec").and_then(Value::as_object_mut)
}

/// Stateless defaulting of built-in kinds (what the real decoders' SetDefaults_* do).
fn default_pure(res: &ResDef, obj: &mut Value) {
    let job_tpl = |spec: &mut Map<String, Value>| {
        if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
            default_pod_spec(t, true);
        }
    };
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "namespaces") => {
            let name = meta_str(obj, "name").unwrap_or_default().to_string();
            let m = meta_mut(obj);
            if !m.get("labels").is_some_and(Value::is_object) {
                m.insert("labels".into(), json!({}));
            }
            if let Some(l) = m.get_mut("labels").and_then(Value::as_object_mut) {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if !obj["spec"].is_object() {
                obj["spec"] = json!({});
            }
            if let Some(s) = spec_map(obj) {
                set_default(s, "finalizers", json!(["kubernetes"]));
            }
        }
        ("", "secrets") => {
            if let Some(m) = obj.as_object_mut() {
                set_default(m, "type", json!("Opaque"));
                if let Some(Value::Object(sd)) = m.remove("stringData") {
                    if !m.get("data").is_some_and(Value::is_object) {
                        m.insert("data".into(), json!({}));
                    }
                    if let Some(d) = m.get_mut("data").and_then(Value::as_object_mut) {
                        for (k, v) in sd {
                            d.insert(
                                k,
                                json!(base64_encode(v.as_str().unwrap_or_default().as_bytes())),
                            );
                        }
                    }
                }
            }
        }
        ("", "services") => {
            if let Some(s) = spec_map(obj) {
                set_default(s, "type", json!("ClusterIP"));
                set_default(s, "sessionAffinity", json!("None"));
                if s.get("type") != Some(&json!("ExternalName")) {
                    set_default(s, "internalTrafficPolicy", json!("Cluster"));
                }
                if let Some(ports) = s.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set_default(p, "targetPort", port);
                        }
                    }
                }
            }
        }
        ("", "pods") => {
            if let Some(s) = obj.get_mut("spec") {
                default_pod_spec(s, false);
            }
        }
        ("", "persistentvolumeclaims") => {
            if let Some(s) = spec_map(obj) {
                set_default(s, "volumeMode", json!("Filesystem"));
            }
        }
        ("apps", kind @ ("deployments" | "statefulsets" | "daemonsets" | "replicasets")) => {
            if let Some(s) = spec_map(obj) {
                if kind != "daemonsets" {
                    set_default(s, "replicas", json!(1));
                }
                if kind != "replicasets" {
                    set_default(s, "revisionHistoryLimit", json!(10));
                }
                match kind {
                    "deployments" => {
                        set_default(s, "progressDeadlineSeconds", json!(600));
                        set_default(
                            s,
                            "strategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                        );
                    }
                    "statefulsets" => {
                        set_default(s, "podManagementPolicy", json!("OrderedReady"));
                        set_default(
                            s,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                        );
                        set_default(
                            s,
                            "persistentVolumeClaimRetentionPolicy",
                            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                        );
                    }
                    "daemonsets" => set_default(
                        s,
                        "updateStrategy",
                        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                    ),
                    _ => {}
                }
                if let Some(t) = s.get_mut("template").and_then(|t| t.get_mut("spec")) {
                    default_pod_spec(t, false);
                }
            }
        }
        ("batch", "jobs") => {
            if let Some(s) = spec_map(obj) {
                set_default(s, "completions", json!(1));
                set_default(s, "parallelism", json!(1));
                set_default(s, "backoffLimit", json!(6));
                set_default(s, "completionMode", json!("NonIndexed"));
                set_default(s, "suspend", json!(false));
                set_default(s, "podReplacementPolicy", json!("TerminatingOrFailed"));
                job_tpl(s);
            }
        }
        ("batch", "cronjobs") => {
            if let Some(s) = spec_map(obj) {
                set_default(s, "concurrencyPolicy", json!("Allow"));
                set_default(s, "suspend", json!(false));
                set_default(s, "successfulJobsHistoryLimit", json!(3));
                set_default(s, "failedJobsHistoryLimit", json!(1));
                if let Some(js) = s
                    .get_mut("jobTemplate")
                    .and_then(|j| j.get_mut("spec"))
                    .and_then(Value::as_object_mut)
                {
                    job_tpl(js);
                }
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            if let Some(s) = spec_map(obj) {
                set_default(s, "conversion", json!({"strategy": "None"}));
                if let Some(n) = s.get_mut("names").and_then(Value::as_object_mut) {
                    let kind = n
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if !kind.is_empty() {
                        set_default(n, "singular", json!(kind.to_ascii_lowercase()));
                        set_default(n, "listKind", json!(format!("{kind}List")));
                    }
                }
            }
        }
        _ => {}
    }
}

impl State {
    /// Defaulting and the mutations of built-in admission/registry code.
    fn default_object(
        &mut self,
        res: &ResDef,
        obj: &mut Value,
        live: Option<&Value>,
        creating: bool,
    ) {
        default_pure(res, obj);
        match (res.group.as_str(), res.plural.as_str()) {
            ("", "namespaces") if creating => {
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "persistentvolumeclaims") if creating => {
                obj["status"] = json!({"phase": "Pending"});
            }
            ("", "services") => {
                let old_ip = live
                    .and_then(|l| l["spec"]["clusterIP"].as_str())
                    .map(str::to_string);
                if let Some(s) = spec_map(obj) {
                    let external = s.get("type") == Some(&json!("ExternalName"));
                    let missing = s
                        .get("clusterIP")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty);
                    if !external && missing {
                        let ip = match old_ip {
                            Some(ip) if !ip.is_empty() => ip,
                            _ => {
                                self.next_ip += 1;
                                format!(
                                    "10.96.{}.{}",
                                    (self.next_ip >> 8) & 0xff,
                                    self.next_ip & 0xff
                                )
                            }
                        };
                        s.insert("clusterIP".into(), json!(ip));
                    }
                    if !external && let Some(ip) = s.get("clusterIP").cloned() {
                        set_default(s, "clusterIPs", json!([ip]));
                        set_default(s, "ipFamilies", json!(["IPv4"]));
                        set_default(s, "ipFamilyPolicy", json!("SingleStack"));
                    }
                }
                if creating {
                    obj["status"] = json!({"loadBalancer": {}});
                }
            }
            ("batch", "jobs") if creating => {
                let uid = uid_of(obj);
                let name = meta_str(obj, "name").unwrap_or_default().to_string();
                let manual = obj["spec"]["manualSelector"] == true;
                if let Some(s) = spec_map(obj)
                    && !manual
                    && s.get("selector").is_none_or(Value::is_null)
                {
                    s.insert(
                        "selector".into(),
                        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                    );
                    if let Some(t) = s.get_mut("template").filter(|t| t.is_object()) {
                        if !t["metadata"].is_object() {
                            t["metadata"] = json!({});
                        }
                        if !t["metadata"]["labels"].is_object() {
                            t["metadata"]["labels"] = json!({});
                        }
                        if let Some(l) = t["metadata"]["labels"].as_object_mut() {
                            l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                            l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                            l.insert("controller-uid".into(), json!(uid));
                            l.insert("job-name".into(), json!(name));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

// =================================================================================================
// Controllers
// =================================================================================================

/// The finalizer the API server puts on deleted CRDs until their custom resources are gone.
const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The status of a CRD condition, if present.
fn crd_condition(crd: &Value, ty: &str) -> Option<bool> {
    crd["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| c["status"] == "True")
}

/// A CRD as a resource (whether or not it is established).
fn crd_resdef(crd: &Value) -> Option<ResDef> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str()?.to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str()?.to_string();
    let kind = names["kind"].as_str()?.to_string();
    let versions: Vec<VersionDef> = spec["versions"]
        .as_array()?
        .iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| {
            Some(VersionDef {
                name: v["name"].as_str()?.to_string(),
                status: v["subresources"]["status"].is_object(),
                schema: v["schema"]["openAPIV3Schema"]
                    .as_object()
                    .map(|m| Value::Object(m.clone())),
            })
        })
        .collect();
    let storage_version = spec["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    Some(ResDef {
        group,
        list_kind: names["listKind"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}List")),
        singular: names["singular"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_ascii_lowercase()),
        kind,
        plural,
        namespaced: spec["scope"] == "Namespaced",
        versions,
        storage_version,
        generation: true,
        verbs: ALL_VERBS.iter().map(|v| v.to_string()).collect(),
        short_names: string_list(&names["shortNames"])
            .into_iter()
            .map(str::to_string)
            .collect(),
        categories: string_list(&names["categories"])
            .into_iter()
            .map(str::to_string)
            .collect(),
        crd: true,
        terminating: crd["metadata"].get("deletionTimestamp").is_some(),
    })
}

/// Whether a container image's registry host ends in `.invalid` (an image that cannot be pulled).
fn unpullable(image: &str) -> bool {
    let Some((first, _)) = image.split_once('/') else {
        return false;
    };
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return false;
    }
    let host = first.split(':').next().unwrap_or(first);
    host.ends_with(".invalid")
}

fn pod_spec_unpullable(spec: &Value) -> bool {
    ["initContainers", "containers"].iter().any(|l| {
        spec[*l].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| unpullable(c["image"].as_str().unwrap_or_default()))
        })
    })
}

/// A stable 10-character hash of a pod template (like pod-template-hash).
fn template_hash(template: &Value) -> String {
    safe_encode(fnv(template.to_string().as_bytes()), 10)
}

/// Puts lastTransitionTime (and lastUpdateTime/lastProbeTime where the kind has them) on
/// conditions, keeping the old times of conditions whose status did not change.
fn stamp_conditions(new: Vec<Value>, old: &Value, now: &str, update_time: bool) -> Vec<Value> {
    new.into_iter()
        .map(|mut c| {
            let prev = old
                .as_array()
                .and_then(|a| a.iter().find(|o| o["type"] == c["type"]));
            let same_status = prev.is_some_and(|p| p["status"] == c["status"]);
            let same_all = prev.is_some_and(|p| {
                p["status"] == c["status"]
                    && p["reason"] == c["reason"]
                    && p["message"] == c["message"]
            });
            if update_time {
                c["lastUpdateTime"] = match prev {
                    Some(p) if same_all => p["lastUpdateTime"].clone(),
                    _ => json!(now),
                };
            }
            c["lastTransitionTime"] = match prev {
                Some(p) if same_status => p["lastTransitionTime"].clone(),
                _ => json!(now),
            };
            c
        })
        .collect()
}

/// Inserts `v` unless it is 0 (Go `omitempty` on int32 status fields).
fn put_count(m: &mut Map<String, Value>, key: &str, v: i64) {
    if v != 0 {
        m.insert(key.into(), json!(v));
    }
}

impl State {
    /// One round of the simulated controllers; returns whether anything changed.
    fn tick(&mut self) -> bool {
        let before = self.rv;
        self.crd_controller();
        self.namespace_controller();
        self.workload_controller();
        self.garbage_collector();
        self.rv != before || std::mem::take(&mut self.dirty)
    }

    /// Every resource with storage (including custom resources of CRDs not established).
    fn all_defs(&self) -> Vec<ResDef> {
        let mut all = self.builtins.clone();
        if let Some(crds) = self.objects.get(&(
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
        )) {
            all.extend(crds.values().filter_map(crd_resdef));
        }
        all
    }

    fn def_of(&self, group: &str, plural: &str) -> Option<ResDef> {
        self.all_defs().into_iter().find(|r| r.is(group, plural))
    }

    /// A status write through the status subresource, as a controller does it.
    fn write_status(&mut self, res: &ResDef, obj: &Value, status: Value, manager: &str) {
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let ns = meta_str(obj, "namespace").map(str::to_string);
        let mut body = obj.clone();
        body["status"] = status;
        if let Some(m) = body["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        let version = res.storage_version.clone();
        let _ = self.write(WriteReq {
            res,
            version: &version,
            ns: ns.as_deref(),
            name: Some(&name),
            status: res.status(&version),
            scale: false,
            op: WriteOp::Update(body),
            manager: manager.into(),
            dry_run: false,
            validation: FieldValidation::Ignore,
        });
    }

    fn crd_controller(&mut self) {
        let crd_res = self.builtin("apiextensions.k8s.io", "customresourcedefinitions");
        let crds: Vec<Value> = self
            .bucket(&crd_res)
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default();
        let now = now_rfc3339();
        for crd in crds {
            let uid = uid_of(&crd);
            let born = *self.clock.entry(uid.clone()).or_insert_with(Instant::now);
            let deleting = crd["metadata"].get("deletionTimestamp").is_some();
            let names = &crd["spec"]["names"];
            let mut accepted = json!({
                "plural": names["plural"],
                "singular": names["singular"],
                "kind": names["kind"],
                "listKind": names["listKind"],
            });
            for k in ["shortNames", "categories"] {
                if names[k].is_array() {
                    accepted[k] = names[k].clone();
                }
            }
            let established = crd_condition(&crd, "Established") == Some(true)
                || born.elapsed() >= self.opts.crd_established_after;
            let mut conditions = vec![
                json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"}),
                if established {
                    json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"})
                } else {
                    json!({"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"})
                },
            ];
            if deleting {
                conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
            }
            let mut stored: Vec<Value> = crd["status"]["storedVersions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(def) = crd_resdef(&crd)
                && !stored.contains(&json!(def.storage_version))
            {
                stored.push(json!(def.storage_version));
            }
            let status = json!({
                "conditions": stamp_conditions(conditions, &crd["status"]["conditions"], &now, false),
                "acceptedNames": accepted,
                "storedVersions": stored,
            });
            if crd.get("status") != Some(&status) {
                self.write_status(&crd_res, &crd, status, APISERVER_MANAGER);
            }
            if deleting {
                self.finish_crd_deletion(&crd_res, &crd);
            }
        }
    }

    /// Deletes the custom resources of a deleted CRD, then the CRD itself.
    fn finish_crd_deletion(&mut self, crd_res: &ResDef, crd: &Value) {
        let Some(def) = crd_resdef(crd) else { return };
        let items: Vec<Value> = self
            .bucket(&def)
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default();
        for item in &items {
            if item["metadata"].get("deletionTimestamp").is_none() {
                self.delete_object(&def, item, None, false);
            }
        }
        if self.bucket(&def).is_some_and(|b| !b.is_empty()) {
            return;
        }
        let name = meta_str(crd, "name").unwrap_or_default().to_string();
        let Some(current) = self
            .stored_by(&crd_res.group, &crd_res.plural, &name)
            .cloned()
        else {
            return;
        };
        let rest: Vec<&str> = string_list(&current["metadata"]["finalizers"])
            .into_iter()
            .filter(|f| *f != CRD_CLEANUP_FINALIZER)
            .collect();
        if rest.is_empty() {
            if let Some(gone) = self.remove(&crd_res.group, &crd_res.plural, &name) {
                self.after_delete(crd_res, &gone);
            }
        } else if rest.len() != string_list(&current["metadata"]["finalizers"]).len() {
            let mut next = current.clone();
            meta_mut(&mut next).insert("finalizers".into(), json!(rest));
            self.put(
                &crd_res.group,
                &crd_res.plural,
                next,
                "MODIFIED",
                Some(current),
            );
        }
    }

    fn namespace_controller(&mut self) {
        let ns_res = self.builtin("", "namespaces");
        let terminating: Vec<Value> = self
            .bucket(&ns_res)
            .map(|b| {
                b.values()
                    .filter(|n| n["metadata"].get("deletionTimestamp").is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for ns in terminating {
            let uid = uid_of(&ns);
            let since = *self.clock.entry(uid).or_insert_with(Instant::now);
            if since.elapsed() < self.opts.namespace_finalize_after {
                continue;
            }
            let name = meta_str(&ns, "name").unwrap_or_default().to_string();
            let mut remaining = 0;
            for def in self.all_defs().into_iter().filter(|d| d.namespaced) {
                let items: Vec<Value> = self
                    .bucket(&def)
                    .map(|b| {
                        b.values()
                            .filter(|o| meta_str(o, "namespace") == Some(name.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                for item in items {
                    if item["metadata"].get("deletionTimestamp").is_none() {
                        let (gone, _) = self.delete_object(&def, &item, None, false);
                        if !gone {
                            remaining += 1;
                        }
                    } else {
                        remaining += 1;
                    }
                }
            }
            if remaining == 0 {
                self.remove("", "namespaces", &name);
            }
        }
    }

    fn workload_controller(&mut self) {
        for (group, plural) in [
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("apps", "replicasets"),
            ("batch", "jobs"),
        ] {
            let res = self.builtin(group, plural);
            let items: Vec<Value> = self
                .bucket(&res)
                .map(|b| b.values().cloned().collect())
                .unwrap_or_default();
            for obj in items {
                if obj["metadata"].get("deletionTimestamp").is_some() {
                    continue;
                }
                let status = if plural == "jobs" {
                    self.job_status(&obj)
                } else {
                    self.rollout_status(plural, &obj)
                };
                if let Some(status) = status
                    && obj.get("status") != Some(&status)
                {
                    self.write_status(&res, &obj, status, CONTROLLER_MANAGER);
                }
            }
        }
    }

    /// The status a Deployment, StatefulSet, DaemonSet or ReplicaSet controller would report.
    fn rollout_status(&mut self, plural: &str, obj: &Value) -> Option<Value> {
        let uid = uid_of(obj);
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        let template = template_hash(&obj["spec"]["template"]);
        let replicas = if plural == "daemonsets" {
            1
        } else {
            obj["spec"]["replicas"].as_i64().unwrap_or(1)
        };
        let ready_now = match plural {
            "daemonsets" => obj["status"]["numberReady"].as_i64().unwrap_or(0),
            _ => obj["status"]["readyReplicas"].as_i64().unwrap_or(0),
        };
        let r = self.rollouts.entry(uid).or_insert_with(|| Rollout {
            generation,
            since: Instant::now(),
            template: template.clone(),
            prev_ready: 0,
            prev_template: None,
        });
        if r.generation != generation {
            if r.template != template {
                r.prev_template = Some(r.template.clone());
            }
            r.prev_ready = ready_now;
            r.generation = generation;
            r.template = template.clone();
            r.since = Instant::now();
        }
        let stuck = pod_spec_unpullable(&obj["spec"]["template"]["spec"]);
        let ready = replicas == 0 || (!stuck && r.since.elapsed() >= self.opts.rollout_after);
        if ready {
            r.prev_template = None;
            r.prev_ready = replicas;
        }
        let rolling_template = r
            .prev_template
            .as_ref()
            .is_some_and(|p| *p != template && r.prev_ready > 0);
        let prev_ready = r.prev_ready.min(replicas.max(r.prev_ready));
        let prev_template = r.prev_template.clone();
        let name = meta_str(obj, "name").unwrap_or_default();
        let now = now_rfc3339();
        let mut s = Map::new();
        match plural {
            "deployments" => {
                let rs = format!("{name}-{template}");
                let (total, updated, avail) = if ready {
                    (replicas, replicas, replicas)
                } else if rolling_template {
                    (prev_ready + 1, 1, prev_ready)
                } else {
                    let a = prev_ready.min(replicas);
                    (replicas, replicas, a)
                };
                s.insert("observedGeneration".into(), json!(generation));
                put_count(&mut s, "replicas", total);
                put_count(&mut s, "updatedReplicas", updated);
                put_count(&mut s, "readyReplicas", avail);
                put_count(&mut s, "availableReplicas", avail);
                put_count(&mut s, "unavailableReplicas", (total - avail).max(0));
                // The controller carries the collision count over.
                if let Some(cc) = obj["status"]
                    .get("collisionCount")
                    .filter(|c| c.is_number())
                {
                    s.insert("collisionCount".into(), cc.clone());
                }
                let max_unavailable = replicas / 4;
                let available = avail >= replicas - max_unavailable;
                let conditions = vec![
                    if available {
                        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
                    } else {
                        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
                    },
                    if ready {
                        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs}\" has successfully progressed.")})
                    } else {
                        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{rs}\" is progressing.")})
                    },
                ];
                s.insert(
                    "conditions".into(),
                    json!(stamp_conditions(
                        conditions,
                        &obj["status"]["conditions"],
                        &now,
                        true
                    )),
                );
            }
            "statefulsets" => {
                let update_rev = format!("{name}-{template}");
                let (current_rev, current, updated, ready_n) = if ready {
                    (update_rev.clone(), replicas, replicas, replicas)
                } else if rolling_template {
                    let old = format!("{name}-{}", prev_template.unwrap_or_default());
                    (old, prev_ready, 0, prev_ready)
                } else {
                    (
                        update_rev.clone(),
                        replicas,
                        replicas,
                        prev_ready.min(replicas),
                    )
                };
                s.insert("observedGeneration".into(), json!(generation));
                s.insert("replicas".into(), json!(replicas));
                put_count(&mut s, "readyReplicas", ready_n);
                put_count(&mut s, "currentReplicas", current);
                put_count(&mut s, "updatedReplicas", updated);
                s.insert("currentRevision".into(), json!(current_rev));
                s.insert("updateRevision".into(), json!(update_rev));
                let cc = obj["status"]["collisionCount"].as_i64().unwrap_or(0);
                s.insert("collisionCount".into(), json!(cc));
                s.insert("availableReplicas".into(), json!(ready_n));
            }
            "daemonsets" => {
                let (ready_n, updated) = if ready {
                    (1, 1)
                } else if rolling_template {
                    (1, 0)
                } else {
                    (0, 1)
                };
                s.insert("currentNumberScheduled".into(), json!(1));
                s.insert("desiredNumberScheduled".into(), json!(1));
                put_count(&mut s, "numberAvailable", ready_n);
                s.insert("numberMisscheduled".into(), json!(0));
                s.insert("numberReady".into(), json!(ready_n));
                put_count(&mut s, "numberUnavailable", 1 - ready_n);
                s.insert("observedGeneration".into(), json!(generation));
                put_count(&mut s, "updatedNumberScheduled", updated);
            }
            _ => {
                let ready_n = if ready {
                    replicas
                } else {
                    prev_ready.min(replicas)
                };
                s.insert("replicas".into(), json!(replicas));
                put_count(&mut s, "fullyLabeledReplicas", replicas);
                put_count(&mut s, "readyReplicas", ready_n);
                put_count(&mut s, "availableReplicas", ready_n);
                s.insert("observedGeneration".into(), json!(generation));
            }
        }
        Some(Value::Object(s))
    }

    /// The status a Job controller would report: running, then complete after `rollout_after`
    /// (never, with an unpullable image).
    fn job_status(&mut self, obj: &Value) -> Option<Value> {
        let old = &obj["status"];
        if crd_condition(obj, "Complete") == Some(true) || obj["spec"]["suspend"] == true {
            return None;
        }
        let uid = uid_of(obj);
        let born = *self.clock.entry(uid).or_insert_with(Instant::now);
        let now = now_rfc3339();
        let start = old["startTime"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| now.clone());
        let completions = obj["spec"]["completions"].as_i64().unwrap_or(1);
        let parallelism = obj["spec"]["parallelism"].as_i64().unwrap_or(1);
        let stuck = pod_spec_unpullable(&obj["spec"]["template"]["spec"]);
        if !stuck && born.elapsed() >= self.opts.rollout_after {
            let conditions = ["SuccessCriteriaMet", "Complete"]
                .iter()
                .map(|t| {
                    json!({
                        "type": t,
                        "status": "True",
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                        "lastProbeTime": now,
                        "lastTransitionTime": now,
                    })
                })
                .collect::<Vec<_>>();
            return Some(json!({
                "conditions": conditions,
                "startTime": start,
                "completionTime": now,
                "succeeded": completions,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "ready": 0,
            }));
        }
        Some(json!({
            "startTime": start,
            "active": parallelism.min(completions).max(1),
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "ready": 0,
        }))
    }

    /// Foreground and orphan deletion, and deletion of objects whose owners are all gone.
    fn garbage_collector(&mut self) {
        let defs = self.all_defs();
        let mut all: Vec<(ResDef, Value)> = Vec::new();
        for d in &defs {
            if let Some(b) = self.bucket(d) {
                all.extend(b.values().map(|o| (d.clone(), o.clone())));
            }
        }
        let uids: BTreeSet<String> = all.iter().map(|(_, o)| uid_of(o)).collect();
        let owners_of = |o: &Value| -> Vec<String> {
            o["metadata"]["ownerReferences"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r["uid"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        for (def, obj) in &all {
            let uid = uid_of(obj);
            let finalizers = string_list(&obj["metadata"]["finalizers"]);
            let deleting = obj["metadata"].get("deletionTimestamp").is_some();
            if deleting
                && (finalizers.contains(&"foregroundDeletion") || finalizers.contains(&"orphan"))
            {
                let foreground = finalizers.contains(&"foregroundDeletion");
                let dependents: Vec<(ResDef, Value)> = all
                    .iter()
                    .filter(|(_, d)| owners_of(d).contains(&uid))
                    .cloned()
                    .collect();
                let mut waiting = false;
                for (dd, dep) in dependents {
                    let key = obj_key(
                        meta_str(&dep, "namespace"),
                        meta_str(&dep, "name").unwrap_or_default(),
                    );
                    let Some(current) = self.stored_by(&dd.group, &dd.plural, &key).cloned() else {
                        continue;
                    };
                    if foreground {
                        waiting = true;
                        if current["metadata"].get("deletionTimestamp").is_none() {
                            self.delete_object(&dd, &current, Some("Foreground"), false);
                        }
                    } else {
                        let mut next = current.clone();
                        if let Some(refs) = next["metadata"]["ownerReferences"].as_array_mut() {
                            refs.retain(|r| r["uid"] != json!(uid));
                        }
                        self.put(&dd.group, &dd.plural, next, "MODIFIED", Some(current));
                    }
                }
                if !waiting {
                    let key = obj_key(
                        meta_str(obj, "namespace"),
                        meta_str(obj, "name").unwrap_or_default(),
                    );
                    if let Some(current) = self.stored_by(&def.group, &def.plural, &key).cloned() {
                        let rest: Vec<&str> = string_list(&current["metadata"]["finalizers"])
                            .into_iter()
                            .filter(|f| *f != "foregroundDeletion" && *f != "orphan")
                            .collect();
                        if rest.is_empty() {
                            if let Some(gone) = self.remove(&def.group, &def.plural, &key) {
                                self.after_delete(def, &gone);
                            }
                        } else {
                            let mut next = current.clone();
                            meta_mut(&mut next).insert("finalizers".into(), json!(rest));
                            self.put(&def.group, &def.plural, next, "MODIFIED", Some(current));
                        }
                    }
                }
                continue;
            }
            let owners = owners_of(obj);
            if !deleting && !owners.is_empty() && owners.iter().all(|o| !uids.contains(o)) {
                let key = obj_key(
                    meta_str(obj, "namespace"),
                    meta_str(obj, "name").unwrap_or_default(),
                );
                if let Some(current) = self.stored_by(&def.group, &def.plural, &key).cloned() {
                    self.delete_object(def, &current, None, false);
                }
            }
        }
    }

    /// The objects a fresh cluster has: namespaces (with their default ServiceAccount and root
    /// CA ConfigMap), the `kubernetes` Service, one Node and the default ClusterRoles.
    fn bootstrap(&mut self) {
        let admin = APISERVER_MANAGER.to_string();
        let create = |st: &mut State, group: &str, plural: &str, ns: Option<&str>, body: Value| {
            let res = st.builtin(group, plural);
            let version = res.storage_version.clone();
            st.write(WriteReq {
                res: &res,
                version: &version,
                ns,
                name: None,
                status: false,
                scale: false,
                op: WriteOp::Create(body),
                manager: admin.clone(),
                dry_run: false,
                validation: FieldValidation::Ignore,
            })
            .map(|w| w.object)
            .expect("bootstrap object")
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            create(
                self,
                "",
                "namespaces",
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            );
        }
        create(
            self,
            "",
            "services",
            Some("default"),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
            }),
        );
        let node = create(
            self,
            "",
            "nodes",
            None,
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": NODE_NAME, "labels": {
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "node-role.kubernetes.io/control-plane": "",
                }},
                "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            }),
        );
        let node_res = self.builtin("", "nodes");
        let now = now_rfc3339();
        self.write_status(
            &node_res,
            &node,
            json!({
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": NODE_NAME}],
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": KUBE_VERSION, "kubeProxyVersion": KUBE_VERSION, "containerRuntimeVersion": "containerd://1.7.18", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0", "machineID": "standin", "systemUUID": "standin", "bootID": "standin"},
            }),
            "kubelet",
        );
        let namespaced: Vec<&str> = vec![
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
            "pods",
            "persistentvolumeclaims",
            "events",
            "deployments",
            "statefulsets",
            "daemonsets",
            "replicasets",
            "jobs",
            "cronjobs",
            "ingresses",
            "networkpolicies",
            "poddisruptionbudgets",
            "leases",
        ];
        let groups = json!([
            "",
            "apps",
            "batch",
            "networking.k8s.io",
            "policy",
            "coordination.k8s.io",
            "events.k8s.io"
        ]);
        let write_verbs = json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]);
        let read_verbs = json!(["get", "list", "watch"]);
        let view_resources: Vec<&str> = namespaced
            .iter()
            .copied()
            .filter(|r| *r != "secrets")
            .collect();
        let status_resources: Vec<String> =
            namespaced.iter().map(|r| format!("{r}/status")).collect();
        let roles = [
            (
                "cluster-admin",
                json!([
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]}
                ]),
            ),
            (
                "admin",
                json!([
                    {"apiGroups": groups, "resources": namespaced, "verbs": write_verbs},
                    {"apiGroups": groups, "resources": status_resources, "verbs": read_verbs},
                    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": write_verbs},
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": read_verbs}
                ]),
            ),
            (
                "edit",
                json!([
                    {"apiGroups": groups, "resources": namespaced, "verbs": write_verbs},
                    {"apiGroups": groups, "resources": status_resources, "verbs": read_verbs},
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": read_verbs}
                ]),
            ),
            (
                "view",
                json!([
                    {"apiGroups": groups, "resources": view_resources, "verbs": read_verbs},
                    {"apiGroups": groups, "resources": status_resources, "verbs": read_verbs},
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": read_verbs}
                ]),
            ),
        ];
        for (name, rules) in roles {
            create(
                self,
                "rbac.authorization.k8s.io",
                "clusterroles",
                None,
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {
                        "name": name,
                        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
                    },
                    "rules": rules,
                }),
            );
        }
        create(
            self,
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {
                    "name": "cluster-admin",
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
                },
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}],
            }),
        );
        self.requests.clear();
    }
}

// =================================================================================================
// RBAC
// =================================================================================================

/// What a request asks to do, for the authorizer.
struct Attributes<'a> {
    user: &'a str,
    groups: &'a [String],
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    subresource: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

/// Whether an RBAC subject is the requesting user (User, Group or ServiceAccount).
fn subject_matches(subject: &Value, binding_ns: Option<&str>, a: &Attributes) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => name == a.user,
        "Group" => a.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .or(binding_ns)
                .unwrap_or_default();
            a.user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// Whether one PolicyRule allows the request (verbs, apiGroups, resources with `*` and
/// `*/subresource`, resourceNames).
fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let has = |field: &str, want: &str| {
        string_list(&rule[field])
            .iter()
            .any(|x| *x == want || *x == "*")
    };
    if !has("verbs", a.verb) || !has("apiGroups", a.group) {
        return false;
    }
    let combined = match a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.to_string(),
    };
    let resource_ok = string_list(&rule["resources"]).iter().any(|r| {
        *r == "*"
            || *r == combined
            || a.subresource
                .is_some_and(|s| r.strip_prefix("*/") == Some(s))
    });
    if !resource_ok {
        return false;
    }
    let names = string_list(&rule["resourceNames"]);
    names.is_empty() || a.name.is_some_and(|n| names.contains(&n))
}

impl State {
    /// RBAC evaluation over the stored roles and bindings: allowed, or the errors met (missing
    /// roles) for the denial reason.
    fn rbac_allows(&self, a: &Attributes) -> (bool, Vec<String>) {
        let rbac = "rbac.authorization.k8s.io";
        let mut errors = Vec::new();
        let cluster_role = |name: &str| self.stored_by(rbac, "clusterroles", name);
        let allows = |role: &Value| {
            role["rules"]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|r| rule_allows(r, a)))
        };
        if let Some(crbs) = self
            .objects
            .get(&(rbac.to_string(), "clusterrolebindings".to_string()))
        {
            for b in crbs.values() {
                let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
                if !subjects.iter().any(|s| subject_matches(s, None, a)) {
                    continue;
                }
                let rn = b["roleRef"]["name"].as_str().unwrap_or_default();
                match cluster_role(rn) {
                    Some(role) if allows(role) => return (true, errors),
                    Some(_) => {}
                    None => errors.push(format!(
                        "clusterrole.rbac.authorization.k8s.io {} not found",
                        go_quote(rn)
                    )),
                }
            }
        }
        if let Some(ns) = a.namespace
            && let Some(rbs) = self
                .objects
                .get(&(rbac.to_string(), "rolebindings".to_string()))
        {
            for b in rbs
                .values()
                .filter(|b| meta_str(b, "namespace") == Some(ns))
            {
                let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
                if !subjects.iter().any(|s| subject_matches(s, Some(ns), a)) {
                    continue;
                }
                let rn = b["roleRef"]["name"].as_str().unwrap_or_default();
                let (role, what) = if b["roleRef"]["kind"] == "ClusterRole" {
                    (cluster_role(rn), "clusterrole")
                } else {
                    (
                        self.stored_by(rbac, "roles", &obj_key(Some(ns), rn)),
                        "role",
                    )
                };
                match role {
                    Some(role) if allows(role) => return (true, errors),
                    Some(_) => {}
                    None => errors.push(format!(
                        "{what}.rbac.authorization.k8s.io {} not found",
                        go_quote(rn)
                    )),
                }
            }
        }
        (false, errors)
    }

    /// Authorizes an impersonated request; 403 with the real message shape when denied.
    #[allow(clippy::too_many_arguments)]
    fn authorize(
        &self,
        ctx: &Ctx,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
        verb: &str,
    ) -> Result<(), ApiError> {
        let a = Attributes {
            user: &ctx.user,
            groups: &ctx.groups,
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
        };
        let (allowed, errors) = self.rbac_allows(&a);
        if allowed {
            return Ok(());
        }
        let combined = match subresource {
            Some(s) => format!("{resource}/{s}"),
            None => resource.to_string(),
        };
        let mut why = match namespace {
            Some(ns) => format!(
                "User {} cannot {verb} resource {} in API group {} in the namespace {}",
                go_quote(&ctx.user),
                go_quote(&combined),
                go_quote(group),
                go_quote(ns)
            ),
            None => format!(
                "User {} cannot {verb} resource {} in API group {} at the cluster scope",
                go_quote(&ctx.user),
                go_quote(&combined),
                go_quote(group)
            ),
        };
        match errors.len() {
            0 => {}
            1 => why.push_str(&format!(": RBAC: {}", errors[0])),
            _ => why.push_str(&format!(": RBAC: [{}]", errors.join(", "))),
        }
        Err(ApiError::forbidden(
            group,
            resource,
            name.unwrap_or_default(),
            &why,
        ))
    }
}
