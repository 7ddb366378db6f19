//! GitSource reconcile: ask the remote where the ref points (ls-remote, no download); fetch and
//! check out only when it moved (or no checkout exists yet in this process); report the revision.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::types::{GitSource, GitSourceStatus, REQUESTED_AT};
use super::{
    Context, ReconcileError, condition, now_rfc3339, parse_interval, remove_condition,
    set_condition,
};
use crate::git::{self, Credentials, Reference};

pub async fn reconcile(src: Arc<GitSource>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    let ns = src.namespace().unwrap_or_default();
    let name = src.name_any();
    let interval = parse_interval(&src.spec.interval, Duration::from_secs(60));
    let status = src.status.clone().unwrap_or_default();
    let requested = src.annotations().get(REQUESTED_AT).cloned();
    let key = (ns.clone(), name.clone());
    let slot = ctx.checkout_slot(&key).await;
    let have_checkout = slot
        .read()
        .await
        .as_ref()
        .map(|f| f.checkout.commit.clone());

    if src.spec.suspend {
        return Ok(Action::await_change());
    }
    let generation_changed = status.observed_generation != src.metadata.generation;
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let wait = ctx.due(
        "GitSource",
        &ns,
        &name,
        status.last_fetch_time.as_deref(),
        interval,
    );
    let missing_checkout = have_checkout.is_none() || have_checkout != status.revision;
    if !generation_changed && !request_pending && !missing_checkout && wait > Duration::ZERO {
        return Ok(Action::requeue(wait));
    }

    // Syncs read the checkout under the read lock: never while it is being rewritten.
    let mut guard = slot.write().await;
    let have_checkout = guard.as_ref().map(|f| f.checkout.commit.clone());
    let outcome = fetch(&src, &ctx, &ns, have_checkout.as_deref()).await;
    let mut new = status.clone();
    new.observed_generation = src.metadata.generation;
    new.last_fetch_time = Some(now_rfc3339());
    new.last_handled_reconcile_at = requested.clone();
    let generation = src.metadata.generation;
    let result = match outcome {
        Ok((checkout, creds)) => {
            let moved = status.revision.as_deref() != Some(checkout.commit.as_str());
            new.revision = Some(checkout.commit.clone());
            set_condition(
                &mut new.conditions,
                condition(
                    "Ready",
                    true,
                    "Succeeded",
                    &format!("revision {}", checkout.commit),
                    generation,
                ),
            );
            *guard = Some(super::Fetched {
                checkout: checkout.clone(),
                creds,
            });
            remove_condition(&mut new.conditions, "Stalled");
            if moved {
                ctx.event(
                    &*src,
                    EventType::Normal,
                    "NewRevision",
                    "Fetch",
                    &format!("fetched revision {}", checkout.commit),
                )
                .await;
            }
            ctx.metrics.set_ready("GitSource", &ns, &name, true);
            Ok(())
        }
        Err((message, stalled)) => {
            if stalled {
                set_condition(
                    &mut new.conditions,
                    condition("Stalled", true, "FetchFailed", &message, generation),
                );
            } else {
                remove_condition(&mut new.conditions, "Stalled");
            }
            ctx.metrics.fetch_failed(&ns, &name);
            ctx.metrics.set_ready("GitSource", &ns, &name, false);
            set_condition(
                &mut new.conditions,
                condition("Ready", false, "FetchFailed", &message, generation),
            );
            ctx.event(&*src, EventType::Warning, "FetchFailed", "Fetch", &message)
                .await;
            Err(message)
        }
    };
    drop(guard);
    ctx.ran("GitSource", &ns, &name);
    // A fetch that found nothing new writes nothing: lastFetchTime alone is not a change (the
    // next fetch is timed from this process's memory), so an idle source costs no API request.
    let mut unchanged = new.clone();
    unchanged.last_fetch_time = status.last_fetch_time.clone();
    if unchanged != status {
        write_status(&ctx, &ns, &name, &new).await?;
    }
    ctx.metrics
        .observe("GitSource", start.elapsed().as_secs_f64());
    match result {
        Ok(()) => Ok(Action::requeue(interval)),
        Err(_) => Ok(Action::requeue(interval.min(Duration::from_secs(30)))),
    }
}

async fn write_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &GitSourceStatus,
) -> Result<(), ReconcileError> {
    let api: Api<GitSource> = Api::namespaced(ctx.client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .map(|_| ())
    .map_err(ReconcileError::Kube)
}

/// The credentials a GitSource's Secret holds: `identity` (+ `known_hosts`) or `username` +
/// `password`.
pub async fn credentials(ctx: &Context, ns: &str, src: &GitSource) -> Result<Credentials, String> {
    let Some(secret_ref) = &src.spec.secret_ref else {
        return Ok(Credentials::None);
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = api
        .get_opt(&secret_ref.name)
        .await
        .map_err(|e| {
            format!(
                "cannot read Secret {}: {}",
                secret_ref.name,
                super::api_message(&e)
            )
        })?
        .ok_or_else(|| format!("Secret {} not found", secret_ref.name))?;
    let data = secret.data.unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    if let Some(key) = text("identity") {
        return Ok(Credentials::Ssh {
            private_key: key,
            passphrase: text("passphrase"),
            known_hosts: text("known_hosts"),
        });
    }
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Credentials::Https { username, password }),
        (None, Some(password)) => Ok(Credentials::Https {
            username: "git".into(),
            password,
        }),
        (Some(_), None) => Err(format!(
            "Secret {} has `username` but no `password`",
            secret_ref.name
        )),
        // An empty Secret: a public repository.
        (None, None) => Ok(Credentials::None),
    }
}

/// ls-remote, then fetch only when the remote moved or there is no checkout.
async fn fetch(
    src: &GitSource,
    ctx: &Context,
    ns: &str,
    have: Option<&str>,
) -> Result<(git::Checkout, git::Credentials), (String, bool)> {
    let reference = Reference::from_fields(
        src.spec.reference.branch.as_deref(),
        src.spec.reference.tag.as_deref(),
        src.spec.reference.commit.as_deref(),
    )
    .or_else(|e| {
        if src.spec.reference == Default::default() {
            Ok(Reference::Branch("main".into()))
        } else {
            Err(e)
        }
    })
    .map_err(|e| (e.to_string(), true))?;
    let creds = credentials(ctx, ns, src).await.map_err(|m| (m, true))?;
    let url = src.spec.url.clone();
    let timeout = src
        .spec
        .timeout
        .as_deref()
        .map(|t| parse_interval(t, Duration::from_secs(60)))
        .unwrap_or(Duration::from_secs(60));
    let cache = ctx.cache_dir.join(ns).join(src.name_any());
    let have = have.map(str::to_string);
    let kept = creds.clone();
    let job = tokio::task::spawn_blocking(move || {
        // (message, stalled): authentication, unknown refs and host keys need a change to
        // the GitSource or its Secret; network faults pass.
        let fail = |e: git::GitError| (e.to_string(), !e.is_transient());
        let commit = git::remote_commit(&url, &reference, &creds).map_err(fail)?;
        if have.as_deref() == Some(commit.as_str()) {
            return Ok(git::Checkout {
                dir: cache.join("worktree"),
                commit,
            });
        }
        git::fetch(&url, &reference, &creds, &cache).map_err(fail)
    });
    match tokio::time::timeout(timeout, job).await {
        Ok(Ok(result)) => result.map(|checkout| (checkout, kept)),
        Ok(Err(e)) => Err((format!("fetch task failed: {e}"), false)),
        Err(_) => Err((format!("fetch timed out after {timeout:?}"), false)),
    }
}
