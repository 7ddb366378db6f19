//! `gitfleet token eks`: a kubectl exec credential plugin printing a fresh EKS bearer token
//! (an ExecCredential) from the standard AWS credential chain.

use std::io::Write as _;

use anyhow::Context;
use aws_credential_types::provider::ProvideCredentials;
use clap::{Args, Subcommand};

use super::EXIT_OK;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub provider: TokenProvider,
}

#[derive(Debug, Subcommand)]
pub enum TokenProvider {
    /// An EKS token (a presigned STS GetCallerIdentity URL, as `aws eks get-token` makes).
    Eks {
        /// EKS cluster name.
        #[arg(long)]
        cluster: String,
        /// AWS region of the cluster.
        #[arg(long)]
        region: String,
    },
}

pub fn run(args: TokenArgs) -> anyhow::Result<u8> {
    let TokenProvider::Eks { cluster, region } = args.provider;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let credentials = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.clone()))
            .load()
            .await;
        let provider = config
            .credentials_provider()
            .context("no AWS credentials provider is configured")?;
        provider.provide_credentials().await.map_err(|e| {
            // One line, as every cloud error: the providers tried, not their reports.
            let message = gitfleet::provider::eks::credentials_problem(&e)
                .unwrap_or_else(|| gitfleet::provider::one_line(&e.to_string(), 300));
            anyhow::anyhow!(
                "{message}; hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or web identity"
            )
        })
    })?;
    let token = gitfleet::provider::eks_token::eks_token(
        &credentials,
        &region,
        &cluster,
        std::time::SystemTime::now(),
    )?;
    // The exec credential protocol: kubectl reads the token from stdout. It is never logged.
    writeln!(
        std::io::stdout().lock(),
        "{}",
        gitfleet::kubeconfig::exec_credential_json(&token.token, token.expiration)
    )?;
    Ok(EXIT_OK)
}
