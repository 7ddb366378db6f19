//! `gitfleet kubeconfig CLUSTER`: a kubeconfig for a provisioned cluster, written with mode 0600
//! (or printed); EKS kubeconfigs authenticate through `gitfleet token eks` (calling `gitfleet` from
//! PATH unless `--kubeconfig-exec absolute`), so they keep working.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::batch::ExecPath;
use super::{EXIT_OK, FleetArgs, report_failure};
use gitfleet::pipeline::prepare;
use gitfleet::provider::{AnyProvider, ProviderOptions};
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The cluster.
    pub cluster: String,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Write the kubeconfig to this file (mode 0600) instead of printing it.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How the exec plugin (EKS) calls gitfleet: `path` writes `command: gitfleet` (found on
    /// PATH, survives moving or upgrading it), `absolute` this binary's absolute path.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ExecPath::Path, env = "GITFLEET_KUBECONFIG_EXEC")]
    pub kubeconfig_exec: ExecPath,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
}

pub fn run(args: KubeconfigArgs) -> anyhow::Result<u8> {
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(&source, std::slice::from_ref(&args.cluster), None) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, super::OutputFormat::Text)),
    };
    let rendered = &prepared.rendered[0];
    let options = ProviderOptions {
        offline: false,
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        wait_timeout: None,
        poll_interval: super::poll_interval(),
    };
    let exe = gitfleet::kubeconfig::ExecCommand::from(args.kubeconfig_exec).command();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let text = runtime.block_on(async {
        let provider = AnyProvider::connect(rendered, &options).await?;
        provider.kubeconfig(rendered, &exe, &args.fleet.fleet).await
    })?;
    match &args.out {
        Some(path) => {
            gitfleet::kubeconfig::write_private(path, &text)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} (mode 0600)", path.display());
        }
        None => write!(std::io::stdout().lock(), "{text}")?,
    }
    Ok(EXIT_OK)
}
