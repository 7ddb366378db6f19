//! Waiting for cloud resources: poll a status until done, failed or timed out, reporting each
//! status to a [`Progress`]. Shared by every provider.

use std::time::{Duration, Instant};

use super::{Progress, ProviderError};

/// How often and how long to wait for a resource to reach a state.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    pub poll: Duration,
    pub timeout: Duration,
}

impl Default for WaitSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(15),
            timeout: Duration::from_secs(40 * 60),
        }
    }
}

/// Polls `check` — `(status, done, failed)` — until done (Ok), failed (`Failed`) or the timeout
/// (`Timeout`). `what` names the resource in progress lines; errors prefix it with `service`.
pub async fn until<F, Fut>(
    service: &str,
    what: &str,
    settings: WaitSettings,
    progress: &dyn Progress,
    check: F,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(String, bool, bool), ProviderError>>,
{
    let start = Instant::now();
    loop {
        let (status, done, failed) = check().await?;
        progress.status(what, &status, start.elapsed());
        if done {
            return Ok(());
        }
        if failed {
            return Err(ProviderError::Failed {
                what: format!("{service} {what}"),
                status,
            });
        }
        if start.elapsed() >= settings.timeout {
            return Err(ProviderError::Timeout {
                what: format!("{service} {what}"),
                status,
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(settings.poll).await;
    }
}
