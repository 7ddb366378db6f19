//! The agent's HTTP endpoints: `/healthz`, `/readyz`, `/metrics` and the push receiver
//! `POST /hook/{namespace}/{gitsource}` (GitHub, GitLab and generic webhooks, authenticated with a
//! shared secret). A verified push annotates the GitSource, which makes the agent fetch at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::metrics::Metrics;

/// What the endpoints need.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    /// Shared secret of the webhooks; without one, the receiver refuses every request.
    pub webhook_secret: Option<String>,
    /// Called with (namespace, name) of a GitSource after a verified push.
    pub on_push: Box<dyn Fn(String, String) + Send + Sync>,
}

/// Which webhook dialect authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    GitHub,
    /// `X-Gitlab-Token: <secret>`.
    GitLab,
    /// `X-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    Generic,
}

/// Checks a webhook against the shared secret. Constant-time comparisons throughout.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<Dialect, &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let hmac_ok = |sig: &str| -> bool {
        let Some(hex_sig) = sig.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_sig.trim()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    };
    if let Some(sig) = header("x-hub-signature-256") {
        return if hmac_ok(sig) {
            Ok(Dialect::GitHub)
        } else {
            Err("bad X-Hub-Signature-256")
        };
    }
    if let Some(token) = header("x-gitlab-token") {
        let a = Hmac::<Sha256>::new_from_slice(b"gitlab-token-compare")
            .map(|mut m| {
                m.update(token.as_bytes());
                m.finalize().into_bytes()
            })
            .ok();
        let b = Hmac::<Sha256>::new_from_slice(b"gitlab-token-compare")
            .map(|mut m| {
                m.update(secret.as_bytes());
                m.finalize().into_bytes()
            })
            .ok();
        return if a.is_some() && a == b {
            Ok(Dialect::GitLab)
        } else {
            Err("bad X-Gitlab-Token")
        };
    }
    if let Some(sig) = header("x-signature") {
        return if hmac_ok(sig) {
            Ok(Dialect::Generic)
        } else {
            Err("bad X-Signature")
        };
    }
    Err("no signature header (X-Hub-Signature-256, X-Gitlab-Token or X-Signature)")
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<Arc<HttpState>>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(s): State<Arc<HttpState>>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn hook(
    State(s): State<Arc<HttpState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(secret) = &s.webhook_secret else {
        return (
            StatusCode::FORBIDDEN,
            "webhooks are disabled: the agent has no webhook secret\n".into(),
        );
    };
    match verify(secret, &headers, &body) {
        Ok(dialect) => {
            // A GitHub ping is not a push.
            if headers.get("x-github-event").and_then(|v| v.to_str().ok()) == Some("ping") {
                return (StatusCode::OK, "pong\n".into());
            }
            tracing::info!(namespace, name, ?dialect, "push received, fetching");
            (s.on_push)(namespace, name);
            (StatusCode::ACCEPTED, "fetch requested\n".into())
        }
        Err(why) => {
            tracing::warn!(namespace, name, why, "webhook rejected");
            (StatusCode::UNAUTHORIZED, format!("rejected: {why}\n"))
        }
    }
}

pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hook/{namespace}/{name}", post(hook))
        .with_state(state)
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, state: Arc<HttpState>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /hook");
    axum::serve(listener, router(state)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature-256", sign("s3cret", body).parse().unwrap());
        assert_eq!(verify("s3cret", &h, body), Ok(Dialect::GitHub));
        assert!(verify("other", &h, body).is_err());
        assert!(verify("s3cret", &h, b"tampered").is_err());
        let mut h = HeaderMap::new();
        h.insert("x-gitlab-token", "s3cret".parse().unwrap());
        assert_eq!(verify("s3cret", &h, body), Ok(Dialect::GitLab));
        assert!(verify("s3cre", &h, body).is_err());
        let mut h = HeaderMap::new();
        h.insert("x-signature", sign("s3cret", body).parse().unwrap());
        assert_eq!(verify("s3cret", &h, body), Ok(Dialect::Generic));
        assert!(verify("s3cret", &HeaderMap::new(), body).is_err());
    }
}
