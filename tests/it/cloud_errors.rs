//! Every cloud error reads as one line: the operation, the HTTP status, the service's error code
//! and message, and a hint — never an SDK's `Debug` dump, never a multi-line credential report.
//! EKS against moto (which answers some calls with HTTP 404 and an HTML page) and the EKS
//! stand-in; AKS against the ARM stand-in and an endpoint that is not ARM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use azure_core::auth::{TokenCredential, TokenResponse};
use gitfleet::fleet::MemSource;
use gitfleet::pipeline::prepare;
use gitfleet::plan;
use gitfleet::provider::aks::{AksProvider, AksSettings};
use gitfleet::provider::eks::{EksProvider, EksSettings, WaitSettings};

use crate::support::eks::{EksStandIn, Options};
use crate::support::moto::Moto;

const REGION: &str = "eu-west-1";

/// The properties every cloud error line has.
fn assert_one_readable_line(text: &str) {
    assert!(!text.contains('\n'), "more than one line: {text}");
    for dump in [
        "{",
        "Unhandled",
        "DeserializeError",
        "ErrorMetadata",
        "Some(",
    ] {
        assert!(!text.contains(dump), "`{dump}` in: {text}");
    }
    assert!(text.len() < 700, "{} characters: {text}", text.len());
    assert!(text.contains("; hint: "), "no hint: {text}");
}

fn eks_fleet(cluster: &str, version: &str) -> MemSource {
    let mut src = MemSource::default();
    src.files.insert(
        "fleet.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: test-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n".into(),
    );
    src.files.insert(
        format!("clusters/{cluster}/cluster.yaml"),
        format!(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {cluster}}}\nspec:\n  version: \"{version}\"\n  eks:\n    region: {REGION}\n    roleArn: arn:aws:iam::123456789012:role/eks\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n"
        ),
    );
    src
}

fn write(src: &MemSource) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in &src.files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

/// gitfleet against `endpoint` with test credentials and no profile.
fn cli(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = crate::support::gitfleet(dir);
    cmd.args(args)
        .args(["--aws-endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GITFLEET_POLL_INTERVAL", "10ms")
        .env_remove("AWS_PROFILE");
    cmd
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// moto answers UpdateClusterVersion with HTTP 404 and an HTML page: the summary says so in one
/// line (status, what came back, a hint), not `Unhandled(Unhandled { source: DeserializeError … })`.
#[test]
fn an_html_404_from_the_eks_endpoint_is_one_line_with_the_status() {
    let moto = Moto::start();
    let dir = write(&eks_fleet("html", "1.30"));
    let out = cli(dir.path(), &moto.url, &["up", "--yes", "--no-install"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upgraded = write(&eks_fleet("html", "1.31"));
    let out = cli(
        upgraded.path(),
        &moto.url,
        &["up", "--yes", "--no-install", "-o", "json"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = doc["clusters"][0]["error"]
        .as_str()
        .expect("an error")
        .to_string();
    assert_one_readable_line(&error);
    assert!(
        error.contains("eks UpdateClusterVersion failed: HTTP 404"),
        "{error}"
    );
    assert!(error.contains("text/html"), "{error}");

    // The text summary shows the same line.
    let out = cli(upgraded.path(), &moto.url, &["up", "--yes", "--no-install"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.contains("FAILED"))
        .unwrap_or_else(|| panic!("no FAILED line: {stdout}"));
    assert!(line.contains("HTTP 404"), "{line}");
    assert!(!line.contains("Unhandled") && !line.contains('{'), "{line}");
}

/// No credentials anywhere: one line naming the providers tried, not the chain's report.
#[test]
fn no_aws_credentials_is_one_line_naming_the_providers_tried() {
    let moto = Moto::start();
    let dir = write(&eks_fleet("nocreds", "1.30"));
    let home = tempfile::tempdir().unwrap();
    let out = crate::support::gitfleet(dir.path())
        .args(["plan", "--aws-endpoint-url", &moto.url])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("nocreds: error:"))
        .unwrap_or_else(|| panic!("no error line: {stdout}"));
    assert_one_readable_line(line);
    assert!(
        line.contains("eks DescribeCluster failed: no AWS credentials found (tried Environment"),
        "{line}"
    );
    assert!(
        line.contains("AWS_ACCESS_KEY_ID"),
        "the hint says how: {line}"
    );
}

/// An EKS error with a code and a message (the stand-in throttles, no retries left): status,
/// code, message and hint, in that order.
#[test]
fn an_eks_service_error_carries_status_code_message_and_hint() {
    let standin = EksStandIn::start(Options {
        throttle_first: 100,
        ..Options::default()
    });
    runtime().block_on(async {
        let mut settings = EksSettings::new(REGION);
        settings.endpoint_url = Some(standin.url.clone());
        settings.credentials = Some(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ));
        settings.max_attempts = 1;
        settings.wait = WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        };
        let p = EksProvider::connect(&settings).await;
        let prep = prepare(&eks_fleet("busy", "1.30"), &[], None).unwrap();
        let desired = plan::desired_state(
            &prep.fleet.fleet,
            &prep.fleet.clusters[0],
            &prep.rendered[0],
        );
        let text = p
            .observe(&desired, "test-fleet")
            .await
            .unwrap_err()
            .to_string();
        assert_one_readable_line(&text);
        assert!(
            text.starts_with(
                "eks DescribeCluster failed: HTTP 429 ThrottlingException: Rate exceeded; hint: "
            ),
            "{text}"
        );
        assert!(text.contains("--parallel"), "{text}");
    });
}

/// An HTTP server that answers every request with 404 and an HTML page (a proxy, a wrong URL).
fn html_404_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let page = "<!doctype html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p></body></html>\n";
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 404 NOT FOUND\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
            });
        }
    });
    url
}

fn aks_fleet() -> MemSource {
    let mut src = MemSource::default();
    src.files.insert(
        "fleet.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: test-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n".into(),
    );
    src.files.insert(
        "clusters/az/cluster.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: az}\nspec:\n  version: \"1.30\"\n  aks:\n    subscriptionId: 00000000-0000-0000-0000-000000000001\n    resourceGroup: rg-az\n    location: westeurope\n  nodePools:\n    - {name: system, instanceType: Standard_D4s_v5, min: 1, max: 1}\n".into(),
    );
    src
}

struct Token(Result<&'static str, &'static str>);

#[async_trait::async_trait]
impl TokenCredential for Token {
    async fn get_token(&self, _: &str) -> azure_core::Result<TokenResponse> {
        match self.0 {
            Ok(token) => Ok(TokenResponse::new(
                azure_core::auth::AccessToken::new(token),
                azure_core::date::parse_rfc3339("2999-01-01T00:00:00Z")?,
            )),
            // What azure_identity's DefaultAzureCredential reports when every source fails.
            Err(report) => Err(azure_core::Error::message(
                azure_core::error::ErrorKind::Credential,
                report,
            )),
        }
    }
}

fn aks(endpoint: &str, token: Token) -> AksProvider {
    AksProvider::connect(&AksSettings {
        endpoint: Some(endpoint.to_string()),
        credential: Some(Arc::new(token) as Arc<dyn TokenCredential>),
        max_retries: 0,
        initial_backoff: Duration::from_millis(10),
        wait: WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        },
    })
}

async fn aks_observe_error(p: &AksProvider) -> String {
    let prep = prepare(&aks_fleet(), &[], None).unwrap();
    let rendered = &prep.rendered[0];
    let desired = plan::desired_state(&prep.fleet.fleet, &prep.fleet.clusters[0], rendered);
    p.observe(&desired, rendered).await.unwrap_err().to_string()
}

#[test]
fn aks_errors_are_one_line_with_status_code_and_hint() {
    let arm = crate::support::arm::ArmStandIn::start(crate::support::arm::Options {
        throttle_first: 100,
        ..crate::support::arm::Options::default()
    });
    let html = html_404_server();
    runtime().block_on(async {
        // ARM's own error: status, code, message, hint.
        let text = aks_observe_error(&aks(&arm.url, Token(Ok("t")))).await;
        assert_one_readable_line(&text);
        assert!(
            text.starts_with("aks ManagedClusters.Get failed: HTTP 429"),
            "{text}"
        );

        // An endpoint that is not ARM: the status and what came back.
        let text = aks_observe_error(&aks(&html, Token(Ok("t")))).await;
        assert_one_readable_line(&text);
        assert!(
            text.contains("failed: HTTP 404: the endpoint answered with a body that is not an ARM error"),
            "{text}"
        );

        // The credential chain's multi-line report, on one line.
        let report = "Multiple errors were encountered while attempting to authenticate:\n\
                      environment credential: missing AZURE_TENANT_ID\n\
                      managed identity credential: no IMDS endpoint reachable\n\
                      azure cli credential: 'az' is not installed";
        let text = aks_observe_error(&aks(&arm.url, Token(Err(report)))).await;
        assert_one_readable_line(&text);
        assert!(
            text.contains("no Azure credentials found: environment credential: missing AZURE_TENANT_ID; managed identity"),
            "{text}"
        );
        assert!(text.contains("az login"), "{text}");
    });
}
