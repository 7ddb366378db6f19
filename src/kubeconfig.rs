//! Provider-neutral kubeconfig: rendering one cluster's access as kubeconfig YAML, writing
//! credentials files privately (0600, atomically), and the ExecCredential JSON an exec plugin
//! prints for kubectl.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The exec credential plugin API version gitfleet speaks.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// How to reach one cluster and authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    /// Used as the kubeconfig cluster, user and context name.
    pub name: String,
    /// The API server's `https://` URL.
    pub server: String,
    /// The cluster CA bundle (PEM), base64-encoded, as the cloud APIs return it.
    pub ca_data_base64: String,
    pub auth: Auth,
}

/// How kubectl obtains credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Run a credential plugin that prints an ExecCredential (e.g. `gitfleet token ...`).
    Exec {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// A static bearer token. A credential: `Debug` does not print it.
    Token(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exec { command, args, env } => f
                .debug_struct("Exec")
                .field("command", command)
                .field("args", args)
                .field("env", env)
                .finish(),
            Self::Token(_) => f.debug_tuple("Token").field(&"** redacted **").finish(),
        }
    }
}

/// How the exec plugin of a kubeconfig gitfleet writes names gitfleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExecCommand {
    /// `command: gitfleet`, looked up on PATH when kubectl runs it: the kubeconfig keeps
    /// working after gitfleet is moved or upgraded.
    #[default]
    Path,
    /// The absolute path of the running gitfleet binary, for when kubectl's PATH lacks it.
    Absolute,
}

impl ExecCommand {
    /// The command to write.
    pub fn command(self) -> String {
        match self {
            Self::Path => "gitfleet".to_string(),
            Self::Absolute => current_exe(),
        }
    }
}

/// The absolute path of the running binary (`gitfleet` if it cannot be told): what gitfleet
/// itself runs as the exec plugin of the connections it makes right now.
pub fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "gitfleet".into())
}

/// A cluster's kubeconfig as a provider hands it out: access gitfleet renders itself (EKS,
/// authenticating through `gitfleet token eks`), or the provider's own text (AKS, kind).
#[derive(Debug, Clone)]
pub enum KubeconfigSource {
    /// Rendered by [`render`]; an exec plugin's command is chosen at rendering time.
    Access(ClusterAccess),
    /// The provider's kubeconfig as it came (credentials inside: never shown).
    Text(String),
}

impl KubeconfigSource {
    /// The kubeconfig text, an exec plugin of gitfleet's calling `gitfleet` as `command`.
    pub fn text(&self, command: &str) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Access(access) => {
                let mut access = access.clone();
                if let Auth::Exec { command: c, .. } = &mut access.auth {
                    *c = command.to_string();
                }
                render(&access)
            }
        }
    }
}

/// The first line of every kubeconfig `gitfleet up` writes for a cluster: how `gitfleet down`
/// tells its own files from anyone else's before removing one.
pub fn written_header(cluster: &str) -> String {
    format!("# Written by gitfleet for cluster {cluster}; `gitfleet down {cluster}` removes it.\n")
}

/// `dir/<cluster>.yaml`, where `up` writes a cluster's kubeconfig.
pub fn written_path(dir: &Path, cluster: &str) -> PathBuf {
    dir.join(format!("{cluster}.yaml"))
}

/// Writes a cluster's kubeconfig to `dir/<cluster>.yaml` (mode 0600), marked as gitfleet's.
pub fn write_for_cluster(dir: &Path, cluster: &str, text: &str) -> io::Result<PathBuf> {
    let file = written_path(dir, cluster);
    write_private(&file, &format!("{}{text}", written_header(cluster)))?;
    Ok(file)
}

/// Removes `dir/<cluster>.yaml` when gitfleet wrote it for that cluster (its first line says
/// so); a file of anyone else's stays. Returns the removed file.
pub fn remove_for_cluster(dir: &Path, cluster: &str) -> io::Result<Option<PathBuf>> {
    let file = written_path(dir, cluster);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !text.starts_with(&written_header(cluster)) {
        return Ok(None);
    }
    fs::remove_file(&file)?;
    Ok(Some(file))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Config<'a> {
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<NamedCluster<'a>>,
    contexts: Vec<NamedContext<'a>>,
    #[serde(rename = "current-context")]
    current_context: &'a str,
    preferences: Preferences,
    users: Vec<NamedUser<'a>>,
}

#[derive(Serialize)]
struct Preferences {}

#[derive(Serialize)]
struct NamedCluster<'a> {
    name: &'a str,
    cluster: Cluster<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster<'a> {
    server: &'a str,
    certificate_authority_data: &'a str,
}

#[derive(Serialize)]
struct NamedContext<'a> {
    name: &'a str,
    context: Context<'a>,
}

#[derive(Serialize)]
struct Context<'a> {
    cluster: &'a str,
    user: &'a str,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: &'a str,
    user: User<'a>,
}

#[derive(Serialize)]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<Exec<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Exec<'a> {
    api_version: &'static str,
    command: &'a str,
    args: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar<'a>>,
    interactive_mode: &'static str,
    provide_cluster_info: bool,
}

#[derive(Serialize)]
struct EnvVar<'a> {
    name: &'a str,
    value: &'a str,
}

/// Renders a kubeconfig with one cluster, one user and one context (the current one), all
/// named `access.name`.
pub fn render(access: &ClusterAccess) -> String {
    let name = access.name.as_str();
    let user = match &access.auth {
        Auth::Exec { command, args, env } => User {
            exec: Some(Exec {
                api_version: EXEC_API_VERSION,
                command,
                args,
                env: env
                    .iter()
                    .map(|(name, value)| EnvVar { name, value })
                    .collect(),
                interactive_mode: "Never",
                provide_cluster_info: false,
            }),
            token: None,
        },
        Auth::Token(token) => User {
            exec: None,
            token: Some(token),
        },
    };
    let config = Config {
        api_version: "v1",
        kind: "Config",
        clusters: vec![NamedCluster {
            name,
            cluster: Cluster {
                server: &access.server,
                certificate_authority_data: &access.ca_data_base64,
            },
        }],
        contexts: vec![NamedContext {
            name,
            context: Context {
                cluster: name,
                user: name,
            },
        }],
        current_context: name,
        preferences: Preferences {},
        users: vec![NamedUser { name, user }],
    };
    serde_yaml::to_string(&config).expect("kubeconfig types serialise")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'static str,
    kind: &'static str,
    spec: Preferences,
    status: ExecCredentialStatus<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus<'a> {
    expiration_timestamp: String,
    token: &'a str,
}

/// The ExecCredential an exec credential plugin prints on stdout for kubectl.
pub fn exec_credential_json(token: &str, expiration: SystemTime) -> String {
    let credential = ExecCredential {
        api_version: EXEC_API_VERSION,
        kind: "ExecCredential",
        spec: Preferences {},
        status: ExecCredentialStatus {
            expiration_timestamp: rfc3339_utc(expiration),
            token,
        },
    };
    serde_json::to_string(&credential).expect("ExecCredential serialises")
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, sub-seconds truncated toward the past.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs: i64 = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let floor = if before.subsec_nanos() > 0 { 1 } else { 0 };
            0i64.saturating_sub(whole).saturating_sub(floor)
        }
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to the proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction.
    (year, month as u32, day as u32)
}

/// Writes `contents` to `path` readable by the owner only (0600 on unix), atomically: the
/// data goes to a fresh 0600 file in the same directory which is then renamed over `path`.
/// Missing parent directories are created. An existing file's permissions are tightened
/// first; a symlink at `path` is followed, so the link survives and its target is replaced.
pub fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    let target = match fs::canonicalize(path) {
        Ok(resolved) => {
            restrict(&resolved)?;
            resolved
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;

    let (tmp_path, mut file) = create_temp(&dir, &target)?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp_path, &target)
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    written
}

/// A new, exclusively created, owner-only file next to `target`.
fn create_temp(dir: &Path, target: &Path) -> io::Result<(PathBuf, fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".to_owned());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{base}.tmp-{}-{n}", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => {
                // The umask can only clear bits; make the mode exact regardless.
                if let Err(e) = restrict(&tmp) {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// The kubeconfig of an `existing` cluster: the file its definition names, read through the
/// fleet's confined source (a repository can only name a file inside itself), or, when the
/// definition names none, the one the user chose (`$KUBECONFIG`, its first file, else
/// `~/.kube/config`). Returns the name to show and the text.
pub fn read_existing(named: Option<&str>, fleet_dir: &Path) -> Result<(String, String), String> {
    use crate::source::FileSource;
    match named {
        Some(rel) => {
            let source = crate::source::Source::new(fleet_dir);
            match source.read(rel) {
                Ok(Some(text)) => Ok((rel.to_string(), text)),
                Ok(None) => Err(format!(
                    "{rel}: the kubeconfig the definition names does not exist"
                )),
                Err(e) => Err(format!(
                    "{e} (a definition can only name a kubeconfig inside the fleet repository; \
                     to use one elsewhere, leave `existing.kubeconfig` out and set KUBECONFIG)"
                )),
            }
        }
        None => {
            let merged = crate::kube::client::default_kubeconfig()?
                .ok_or_else(|| "no kubeconfig: set KUBECONFIG".to_string())?;
            let text = serde_yaml::to_string(&merged)
                .map_err(|_| "cannot print the kubeconfig from KUBECONFIG".to_string())?;
            Ok(("$KUBECONFIG".to_string(), text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;
    use std::time::Duration;

    fn exec_access() -> ClusterAccess {
        ClusterAccess {
            name: "prod".into(),
            server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com".into(),
            ca_data_base64: "LS0tLS1CRUdJTg==".into(),
            auth: Auth::Exec {
                command: "gitfleet".into(),
                args: vec!["token".into(), "--cluster".into(), "prod".into()],
                env: vec![("AWS_PROFILE".into(), "ops".into())],
            },
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn render_exec_round_trips() {
        let yaml = render(&exec_access());
        let v: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["current-context"], "prod");

        let clusters = v["clusters"].as_sequence().unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0]["name"], "prod");
        assert_eq!(
            clusters[0]["cluster"]["server"],
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
        );
        assert_eq!(
            clusters[0]["cluster"]["certificate-authority-data"],
            "LS0tLS1CRUdJTg=="
        );

        let contexts = v["contexts"].as_sequence().unwrap();
        assert_eq!(contexts.len(), 1);
        assert_eq!(contexts[0]["name"], "prod");
        assert_eq!(contexts[0]["context"]["cluster"], "prod");
        assert_eq!(contexts[0]["context"]["user"], "prod");

        let users = v["users"].as_sequence().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["name"], "prod");
        let exec = &users[0]["user"]["exec"];
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(exec["command"], "gitfleet");
        assert_eq!(
            exec["args"],
            serde_yaml::from_str::<Value>("[token, --cluster, prod]").unwrap()
        );
        assert_eq!(exec["env"][0]["name"], "AWS_PROFILE");
        assert_eq!(exec["env"][0]["value"], "ops");
        assert_eq!(exec["interactiveMode"], "Never");
        assert!(users[0]["user"].get("token").is_none());
    }

    #[test]
    fn render_token_and_empty_env() {
        let mut access = exec_access();
        access.auth = Auth::Token("s3cret: 'x'".into());
        let v: Value = serde_yaml::from_str(&render(&access)).unwrap();
        let user = &v["users"][0]["user"];
        assert_eq!(user["token"], "s3cret: 'x'");
        assert!(user.get("exec").is_none());

        access.auth = Auth::Exec {
            command: "aws".into(),
            args: vec![],
            env: vec![],
        };
        let v: Value = serde_yaml::from_str(&render(&access)).unwrap();
        let exec = &v["users"][0]["user"]["exec"];
        assert!(exec.get("env").is_none());
        assert_eq!(exec["args"], Value::Sequence(vec![]));
    }

    #[test]
    fn debug_redacts_static_tokens() {
        let access = ClusterAccess {
            auth: Auth::Token("very-secret-token".into()),
            ..exec_access()
        };
        let debug = format!("{access:?}");
        assert!(!debug.contains("very-secret-token"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }

    #[test]
    fn a_source_renders_the_exec_command_it_is_given() {
        let source = KubeconfigSource::Access(exec_access());
        for command in ["gitfleet", "/opt/bin/gitfleet"] {
            let v: Value = serde_yaml::from_str(&source.text(command)).unwrap();
            assert_eq!(v["users"][0]["user"]["exec"]["command"], command);
        }
        assert_eq!(ExecCommand::Path.command(), "gitfleet");
        assert!(Path::new(&ExecCommand::Absolute.command()).is_absolute());
        let text = KubeconfigSource::Text("apiVersion: v1\n".into());
        assert_eq!(text.text("ignored"), "apiVersion: v1\n");
    }

    #[test]
    fn only_kubeconfigs_gitfleet_wrote_for_the_cluster_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_for_cluster(dir.path(), "a", "apiVersion: v1\n").unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# Written by gitfleet for cluster a;"),
            "{text}"
        );
        let parsed: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(parsed["apiVersion"], "v1", "the header is a YAML comment");
        // Someone else's file of the same name, and gitfleet's file of another cluster, stay.
        fs::write(dir.path().join("b.yaml"), "apiVersion: v1\n").unwrap();
        fs::write(dir.path().join("c.yaml"), written_header("a")).unwrap();
        assert_eq!(remove_for_cluster(dir.path(), "b").unwrap(), None);
        assert_eq!(remove_for_cluster(dir.path(), "c").unwrap(), None);
        assert_eq!(remove_for_cluster(dir.path(), "missing").unwrap(), None);
        assert_eq!(
            remove_for_cluster(dir.path(), "a").unwrap(),
            Some(file.clone())
        );
        assert!(!file.exists());
        assert_eq!(entries(dir.path()), ["b.yaml", "c.yaml"]);
    }

    #[test]
    fn exec_credential_shape() {
        let json = exec_credential_json("k8s-aws-v1.abc", at(1_704_067_200 + 14 * 60));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["status"]["token"], "k8s-aws-v1.abc");
        assert_eq!(v["status"]["expirationTimestamp"], "2024-01-01T00:14:00Z");
    }

    #[test]
    fn timestamps() {
        let cases = [
            (UNIX_EPOCH, "1970-01-01T00:00:00Z"),
            (at(1_709_210_096), "2024-02-29T12:34:56Z"),
            (at(2_147_483_648), "2038-01-19T03:14:08Z"),
            (at(951_782_400), "2000-02-29T00:00:00Z"),
            (at(4_107_542_399), "2100-02-28T23:59:59Z"),
            (at(4_107_542_400), "2100-03-01T00:00:00Z"),
            (
                at(1_704_067_199) + Duration::from_millis(999),
                "2023-12-31T23:59:59Z",
            ),
            (UNIX_EPOCH - Duration::from_secs(1), "1969-12-31T23:59:59Z"),
            (
                UNIX_EPOCH - Duration::from_millis(1),
                "1969-12-31T23:59:59Z",
            ),
            (
                UNIX_EPOCH - Duration::from_secs(86_400 * 366),
                "1968-12-31T00:00:00Z",
            ),
        ];
        for (time, want) in cases {
            assert_eq!(rfc3339_utc(time), want);
            let json: serde_json::Value =
                serde_json::from_str(&exec_credential_json("t", time)).unwrap();
            assert_eq!(json["status"]["expirationTimestamp"], want);
        }
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_private_creates_parents_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/kubeconfig");
        write_private(&path, "one").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(&dir.path().join("a/b")), ["kubeconfig"]);
    }

    #[cfg(unix)]
    #[test]
    fn write_private_tightens_an_existing_0644_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "old contents that are longer").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(mode(&path), 0o644);

        write_private(&path, "new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(dir.path()), ["config"]);
    }

    #[cfg(unix)]
    #[test]
    fn write_private_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();

        write_private(&link, "new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(mode(&real), 0o600);
    }
}
