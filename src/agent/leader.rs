//! Leader election with a coordination.k8s.io Lease, so two replicas never reconcile at once.
//! A replica reconciles only while it holds the lease; losing it ends the process (the Deployment
//! restarts it as a follower), as controller-runtime does.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
}

enum Attempt {
    Acquired,
    HeldBy(String),
}

impl Elector {
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) -> anyhow::Result<()> {
        let mut logged = false;
        loop {
            match self.try_acquire().await? {
                Attempt::Acquired => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return Ok(());
                }
                Attempt::HeldBy(holder) => {
                    if !logged {
                        tracing::info!(lease = %self.name, %holder, "another replica leads; waiting");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    /// Renews the lease forever; returns (an error) when it is lost.
    pub async fn keep(&self) -> anyhow::Result<()> {
        let mut failures = 0;
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => failures = 0,
                Ok(Attempt::HeldBy(holder)) => {
                    anyhow::bail!("lost the leader lease {} to {holder}", self.name)
                }
                Err(e) => {
                    failures += 1;
                    if failures * RENEW_EVERY >= LEASE_DURATION {
                        anyhow::bail!("could not renew the leader lease {}: {e}", self.name);
                    }
                }
            }
        }
    }

    async fn try_acquire(&self) -> anyhow::Result<Attempt> {
        let now = Timestamp::now();
        let existing = self.api.get_opt(&self.name).await?;
        let mut lease = match existing {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(now, now, 0)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldBy(
                        "(a replica that just created the lease)".into(),
                    )),
                    Err(e) => Err(e.into()),
                };
            }
            Some(l) => l,
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let duration = spec.lease_duration_seconds.unwrap_or(15) as i64;
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let expired = renewed.is_none_or(|r| r.as_second() + duration < now.as_second());
        if holder != self.identity && !holder.is_empty() && !expired {
            return Ok(Attempt::HeldBy(holder));
        }
        let (acquired, transitions) = if holder == self.identity {
            (
                spec.acquire_time.map(|t| t.0).unwrap_or(now),
                spec.lease_transitions.unwrap_or(0),
            )
        } else {
            (now, spec.lease_transitions.unwrap_or(0) + 1)
        };
        lease.spec = Some(self.spec(now, acquired, transitions));
        // replace() sends the resourceVersion read above: a concurrent taker makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Acquired),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                Ok(Attempt::HeldBy("(a concurrent replica)".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn spec(
        &self,
        now: Timestamp,
        acquired: Timestamp,
        transitions: i32,
    ) -> k8s_openapi::api::coordination::v1::LeaseSpec {
        k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }
}
