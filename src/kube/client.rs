//! Connecting to a cluster from a kubeconfig, and turning client errors into messages that say what
//! was refused, by whom, and what to do. Credentials are never part of a message.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};

use super::Error;

/// A client plus what messages need to say about it.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The API server URL (no credentials).
    pub server: String,
    /// The kubeconfig context's namespace, or `default`.
    pub default_namespace: String,
}

/// Connects with `path` (or `$KUBECONFIG`, or `~/.kube/config`) and `context` (or the current one).
/// No request is made yet.
pub async fn connect(path: Option<&Path>, context: Option<&str>) -> Result<Connection, Error> {
    let mut config = if path.is_none() && context.is_none() {
        // $KUBECONFIG, ~/.kube/config, then the pod's service account (in a cluster).
        Config::infer().await.map_err(|e| {
            Error::Other(format!(
                "no kubeconfig found and not running in a cluster ({e}); pass --kubeconfig"
            ))
        })?
    } else {
        let kubeconfig = match path {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(|e| Error::Other(format!("cannot read the kubeconfig: {e}")))?;
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Error::Other(format!("cannot use the kubeconfig: {e}")))?
    };
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config)
        .map_err(|e| Error::Other(format!("cannot build a Kubernetes client: {e}")))?;
    Ok(Connection {
        client,
        server,
        default_namespace,
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
