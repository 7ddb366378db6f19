//! Connecting to a cluster from a kubeconfig, and turning client errors into messages that say what
//! was refused, by whom, and what to do. Credentials are never part of a message.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config, client::ClientBuilder};

use super::Error;

/// A client plus what messages need to say about it.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The API server URL (no credentials).
    pub server: String,
    /// The kubeconfig context's namespace, or `default`.
    pub default_namespace: String,
    /// What discovery said, shared by every engine on this connection (the agent's reconciles
    /// reuse it instead of asking again per Sync); see [`super::resolve::Resolver`].
    pub discovery: super::resolve::SharedDiscovery,
    /// Inventories as a long-running watch sees them (the agent), so a resync reads its
    /// inventory without a request; see [`super::inventory::Cache`].
    pub inventories: super::inventory::Cache,
}

/// Connects with `path` (or `$KUBECONFIG`, or `~/.kube/config`) and `context` (or the current one).
/// No request is made yet. The path is one the user gave (command line, environment); a path a
/// repository names goes through [`connect_text`] after a confined read.
pub async fn connect(path: Option<&Path>, context: Option<&str>) -> Result<Connection, Error> {
    let kubeconfig = match path {
        Some(p) => {
            let text = crate::source::read_user_file(p).map_err(|e| Error::Other(e.to_string()))?;
            Some(parse_kubeconfig(&p.to_string_lossy(), &text).map_err(Error::Other)?)
        }
        None => default_kubeconfig().map_err(Error::Other)?,
    };
    let config = match kubeconfig {
        Some(k) => from_kubeconfig(k, context).await?,
        None if context.is_some() => {
            return Err(Error::Other(
                "no kubeconfig found ($KUBECONFIG, ~/.kube/config) to take --context from".into(),
            ));
        }
        // No kubeconfig: the pod's service account (in a cluster).
        None => Config::incluster().map_err(|e| {
            Error::Other(format!(
                "no kubeconfig found and not running in a cluster ({e}); pass --kubeconfig"
            ))
        })?,
    };
    finish(config).map_err(Error::Other)
}

/// Connects with a kubeconfig's text (read by the caller, e.g. from a repository through a
/// confined source); `shown` names it in errors.
pub async fn connect_text(
    shown: &str,
    text: &str,
    context: Option<&str>,
) -> Result<Connection, Error> {
    let kubeconfig = parse_kubeconfig(shown, text).map_err(Error::Other)?;
    finish(from_kubeconfig(kubeconfig, context).await?).map_err(Error::Other)
}

/// Parses a kubeconfig. The error says where the problem is but never quotes the file (or the
/// parser's message, which can): a kubeconfig holds tokens and keys.
pub fn parse_kubeconfig(shown: &str, text: &str) -> Result<Kubeconfig, String> {
    let secret_safe = |at: Option<serde_yaml::Location>| {
        let place = at.map_or(String::new(), |l| {
            format!(" at line {}, column {}", l.line(), l.column())
        });
        format!(
            "{shown}: not a valid kubeconfig{place} (its content is not shown: it may hold credentials)"
        )
    };
    if let Err(e) = crate::fleet::yaml::check_limits(&shown.into(), text) {
        return Err(format!("{shown}: {}", e.message));
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| secret_safe(e.location()))?;
    serde_yaml::from_value::<Kubeconfig>(value).map_err(|_| secret_safe(None))
}

/// `$KUBECONFIG` (its files merged, as kubectl merges them) or `~/.kube/config`; `None` when
/// there is none.
pub fn default_kubeconfig() -> Result<Option<Kubeconfig>, String> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        candidates.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    } else if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".kube").join("config"));
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in candidates {
        if !path.exists() {
            continue;
        }
        let text = crate::source::read_user_file(&path).map_err(|e| e.to_string())?;
        let k = parse_kubeconfig(&path.to_string_lossy(), &text)?;
        merged = Some(match merged {
            None => k,
            Some(m) => m
                .merge(k)
                .map_err(|e| format!("cannot merge the kubeconfigs in $KUBECONFIG: {e}"))?,
        });
    }
    Ok(merged)
}

async fn from_kubeconfig(kubeconfig: Kubeconfig, context: Option<&str>) -> Result<Config, Error> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::Other(format!("cannot use the kubeconfig: {e}")))
}

/// Requests one connection has in flight at most (a watch counts until its response headers
/// arrive, not while it streams). kube's HTTP/1 client opens a connection per concurrent request
/// and keeps every one of them open while idle, with no timer to close them: the agent, applying
/// 10 Syncs at once at the engine's concurrency of 16 each, was left holding 245 idle connections
/// (about 7 MiB of buffers, a third of its steady memory, and as many sockets on the API server).
/// The bound keeps the pool at about this many connections; one apply (16 at a time) never
/// reaches it.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 32;

fn finish(mut config: Config) -> Result<Connection, String> {
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let default_namespace = config.default_namespace.clone();
    let client = ClientBuilder::try_from(config)
        .map_err(|e| format!("cannot build a Kubernetes client: {e}"))?
        .with_layer(&tower::limit::ConcurrencyLimitLayer::new(
            MAX_REQUESTS_IN_FLIGHT,
        ))
        .build();
    Ok(Connection {
        client,
        server,
        default_namespace,
        discovery: Default::default(),
        inventories: Default::default(),
    })
}

/// What a request was doing, for error messages.
pub struct Op<'a> {
    pub verb: &'a str,
    /// `deployments.apps`, `configmaps`.
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Whether an error is worth retrying: connection faults and 5xx (kube's own retry layer already
/// handles 429/503/504 with Retry-After).
fn transient(e: &::kube::Error) -> bool {
    match e {
        ::kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `f` with retries (exponential backoff, 5 attempts) on transient faults.
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T, ::kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ::kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if transient(&e) && attempt < 5 => {
                tracing::debug!(attempt, error = %e, "transient API error, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The API status of an error, when the server answered.
pub fn status(e: &::kube::Error) -> Option<&::kube::core::Status> {
    match e {
        ::kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

pub fn is_not_found(e: &::kube::Error) -> bool {
    status(e).is_some_and(|s| s.code == 404)
}

/// Maps errors that end the run (auth, reachability) to their report; others to a plain message.
pub fn describe(conn: &Connection, op: &Op<'_>, e: ::kube::Error) -> Error {
    match &e {
        ::kube::Error::Api(s) if s.code == 401 => Error::Unauthorized {
            server: conn.server.clone(),
            message: s.message.clone(),
        },
        ::kube::Error::Api(s) if s.code == 403 => Error::Forbidden {
            verb: op.verb.to_string(),
            resource: op.resource.to_string(),
            namespace: op.namespace.map(str::to_string),
            name: op.name.map(str::to_string),
            message: s.message.clone(),
        },
        ::kube::Error::Api(s) => Error::Other(format!(
            "{} {}{}: {} ({} {})",
            op.verb,
            op.resource,
            op.name.map(|n| format!(" \"{n}\"")).unwrap_or_default(),
            s.message,
            s.code,
            s.reason
        )),
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => Error::Unreachable {
            server: conn.server.clone(),
            message: root_cause(&e),
        },
        _ => Error::Other(format!("{} {}: {}", op.verb, op.resource, root_cause(&e))),
    }
}

/// The innermost message of an error chain ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
