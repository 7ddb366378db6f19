//! `gitfleet init`: the files of a new fleet repository (pure; the CLI writes them).

/// `(relative path, contents)` of a new fleet whose reconciler pulls `repo_url`.
pub fn new_fleet(name: &str, repo_url: &str) -> Vec<(String, String)> {
    vec![
        (
            "fleet.yaml".into(),
            format!(
                r#"# yaml-language-server: $schema=gitfleet.schema.json
# The fleet: where the in-cluster reconciler pulls from, and defaults for every cluster.
apiVersion: gitfleet.io/v1alpha1
kind: Fleet
metadata:
  name: {name}
spec:
  repository:
    url: {repo_url}
    branch: main
  # Clusters are every clusters/*/cluster.yaml unless spec.clusters.include says otherwise.
  defaults:
    version: "1.31"
  reconciler:
    namespace: gitfleet-system
    interval: 1m
"#
            ),
        ),
        (
            "clusters/dev/cluster.yaml".into(),
            r#"# yaml-language-server: $schema=../../gitfleet.schema.json
# A local cluster in Docker: `gitfleet up dev` creates it with kind.
apiVersion: gitfleet.io/v1alpha1
kind: Cluster
metadata:
  name: dev
  labels:
    env: dev
spec:
  kind:
    workers: 1
  values:
    replicas: 1
"#
            .into(),
        ),
        (
            "clusters/dev/apps/hello.yaml".into(),
            r#"# A sample workload: the reconciler applies everything under clusters/dev/.
apiVersion: v1
kind: Namespace
metadata:
  name: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: hello
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
        - name: hello
          image: nginxinc/nginx-unprivileged:1.27-alpine
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: hello
  namespace: hello
spec:
  selector: {app: hello}
  ports:
    - port: 80
      targetPort: 8080
"#
            .into(),
        ),
        (
            ".gitignore".into(),
            "# Written by gitfleet: rendered output and credentials never belong in Git.\n/rendered/\n*.kubeconfig\n.gitfleet/\n".into(),
        ),
    ]
}
