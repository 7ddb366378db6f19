//! The Kubernetes API stand-in driven only through the real `kube` client: discovery, CRUD with
//! selectors and pagination, server-side apply (no-ops, conflicts, force, pruning), dry-run, CRDs,
//! namespaces, watches, workload rollouts, RBAC through impersonation, authentication and the
//! status subresource.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersion, GroupVersionKind};
use kube::discovery::{self, Discovery, Scope};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};

use crate::support::kube_api::{KubeStandIn, Options};

async fn client_from(yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(yaml).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(config).expect("client")
}

async fn client(s: &KubeStandIn) -> Client {
    client_from(&s.kubeconfig()).await
}

/// The `Status` of a failed call.
fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    })
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

/// Managers and operations of an object's managedFields.
fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or_default().to_string(),
                        e["operation"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_by_pinned_kind_group_and_full_run() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let (ar, caps) = discovery::pinned_kind(&c, &GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .await
        .unwrap();
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));
    assert!(caps.operations.iter().any(|v| v == "patch"));

    let (ns, ns_caps) = discovery::pinned_kind(&c, &GroupVersionKind::gvk("", "v1", "Namespace"))
        .await
        .unwrap();
    assert_eq!(
        (ns.plural.as_str(), ns_caps.scope),
        ("namespaces", Scope::Cluster)
    );

    let rbac = discovery::pinned_group(&c, &GroupVersion::gv("rbac.authorization.k8s.io", "v1"))
        .await
        .unwrap();
    assert!(rbac.recommended_kind("ClusterRoleBinding").is_some());

    let all = Discovery::new(c.clone()).run().await.unwrap();
    for gvk in [
        GroupVersionKind::gvk("", "v1", "ConfigMap"),
        GroupVersionKind::gvk("batch", "v1", "Job"),
        GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        GroupVersionKind::gvk("policy", "v1", "PodDisruptionBudget"),
    ] {
        assert!(all.resolve_gvk(&gvk).is_some(), "{gvk:?} discovered");
    }
    let aggregated = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    assert!(
        aggregated
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "StatefulSet"))
            .is_some()
    );

    let unknown =
        discovery::pinned_kind(&c, &GroupVersionKind::gvk("example.com", "v1", "Widget")).await;
    assert_eq!(api_error(unknown).code, 404);
    assert!(
        s.requests()
            .iter()
            .all(|r| r.discovery && r.status == 200 || r.status == 404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_list_with_selectors_and_pages() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for (i, tier) in ["web", "db", "web", "cache", "db"].iter().enumerate() {
        let mut cm: ConfigMap =
            serde_json::from_value(config_map(&format!("cm-{i}"), json!({"i": i.to_string()})))
                .unwrap();
        cm.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        let created = cms.create(&PostParams::default(), &cm).await.unwrap();
        assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    }
    let got = cms.get("cm-3").await.unwrap();
    assert_eq!(got.labels()["tier"], "cache");
    assert!(got.metadata.creation_timestamp.is_some());

    let dup: ConfigMap = serde_json::from_value(config_map("cm-0", json!({}))).unwrap();
    let e = api_error(cms.create(&PostParams::default(), &dup).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"cm-0\" already exists");

    let mut generated: ConfigMap = serde_json::from_value(config_map("", json!({}))).unwrap();
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let generated = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(generated.name_any().starts_with("gen-") && generated.name_any().len() == 9);

    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items.iter().map(|c| c.name_any()).collect()
    };
    let web_or_db = cms
        .list(&ListParams::default().labels("tier in (web,db),tier!=db"))
        .await
        .unwrap();
    assert_eq!(names(web_or_db), ["cm-0", "cm-2"]);
    let not_cache = cms
        .list(&ListParams::default().labels("tier,tier notin (cache)"))
        .await
        .unwrap();
    assert_eq!(not_cache.items.len(), 4);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-4"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["cm-4"]);
    let e = api_error(cms.list(&ListParams::default().fields("spec.nope=1")).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "field label not supported: spec.nope")
    );

    // Pagination: pages of 2 with continue tokens, all at the first page's resourceVersion.
    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("tier").limit(2);
    let mut first_rv = None;
    loop {
        let page = cms.list(&lp).await.unwrap();
        assert!(page.items.len() <= 2);
        let rv = page.metadata.resource_version.clone().unwrap();
        assert_eq!(*first_rv.get_or_insert(rv.clone()), rv);
        seen.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
    let first = cms.list(&ListParams::default().limit(1)).await.unwrap();
    assert!(first.metadata.remaining_item_count.unwrap() >= 6);

    // Every namespace, and the list resourceVersion is the current one.
    let all: Api<ConfigMap> = Api::all(c.clone());
    let everything = all.list(&ListParams::default()).await.unwrap();
    assert!(
        everything
            .items
            .iter()
            .any(|c| c.name_any() == "kube-root-ca.crt"
                && c.namespace().as_deref() == Some("kube-system"))
    );
    assert_eq!(
        everything.metadata.resource_version.unwrap(),
        s.resource_version().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_and_reapply_is_a_no_op() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c);
    let cfg = config_map("settings", json!({"mode": "fast"}));
    let created = cms
        .patch(
            "settings",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&cfg),
        )
        .await
        .unwrap();
    let fields = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (fields[0].manager.as_deref(), fields[0].operation.as_deref()),
        (Some("gitfleet"), Some("Apply"))
    );
    assert_eq!(
        fields[0].fields_v1.as_ref().unwrap().0,
        json!({"f:data": {"f:mode": {}}})
    );
    let writes = s.writes();
    assert_eq!(writes.last().unwrap().status, 201);
    assert!(writes.last().unwrap().is_apply());

    let again = cms
        .patch(
            "settings",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&cfg),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(s.writes().last().unwrap().status, 200);

    // Without a field manager an apply is invalid (422, as the real server says).
    let e = api_error(
        cms.patch("settings", &PatchParams::default(), &Patch::Apply(&cfg))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_appliers_and_force() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let api: Api<DynamicObject> =
        Api::default_namespaced_with(c, &ApiResource::erase::<ConfigMap>(&()));
    let first = config_map("shared", json!({"owner": "a", "common": "same"}));
    let a: Value = serde_json::to_value(
        api.patch(
            "shared",
            &PatchParams::apply("team-a"),
            &Patch::Apply(&first),
        )
        .await
        .unwrap(),
    )
    .unwrap();

    // Same value: co-owned, no conflict.
    let same = config_map("shared", json!({"common": "same"}));
    api.patch(
        "shared",
        &PatchParams::apply("team-b"),
        &Patch::Apply(&same),
    )
    .await
    .unwrap();

    let other = config_map("shared", json!({"owner": "b"}));
    let e = api_error(
        api.patch(
            "shared",
            &PatchParams::apply("team-b"),
            &Patch::Apply(&other),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"team-a\": .data.owner"
    );
    let cause = &e.details.unwrap().causes[0];
    assert_eq!(
        (
            cause.reason.as_str(),
            cause.message.as_str(),
            cause.field.as_str()
        ),
        (
            "FieldManagerConflict",
            "conflict with \"team-a\"",
            ".data.owner"
        )
    );

    let forced: Value = serde_json::to_value(
        api.patch(
            "shared",
            &PatchParams::apply("team-b").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(forced["data"], json!({"owner": "b", "common": "same"}));
    assert_ne!(
        forced["metadata"]["resourceVersion"],
        a["metadata"]["resourceVersion"]
    );
    let fields = &forced["metadata"]["managedFields"];
    let of = |m: &str| {
        fields
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == m)
            .unwrap()["fieldsV1"]
            .clone()
    };
    assert_eq!(of("team-a"), json!({"f:data": {"f:common": {}}}));
    // team-b no longer applies `common`: it leaves team-b's set but stays, as team-a owns it.
    assert_eq!(of("team-b"), json!({"f:data": {"f:owner": {}}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_by_another_manager_conflicts_until_forced() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let deploys: Api<Deployment> = Api::default_namespaced(c);
    let desired = deployment("web", "nginx:1.27", 2);
    deploys
        .patch(
            "web",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();

    // `kubectl edit` style: a merge patch under its own field manager.
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let edited = deploys
        .patch(
            "web",
            &edit,
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(edited.spec.replicas, Some(5));
    assert_eq!(edited.metadata.generation, Some(2));

    let e = api_error(
        deploys
            .patch(
                "web",
                &PatchParams::apply("gitfleet"),
                &Patch::Apply(&desired),
            )
            .await,
    );
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
    assert_eq!(
        e.details.unwrap().causes[0].message,
        "conflict with \"kubectl-edit\" using apps/v1"
    );

    let restored = deploys
        .patch(
            "web",
            &PatchParams::apply("gitfleet").force(),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    assert_eq!(restored.spec.replicas, Some(2));
    let restored = serde_json::to_value(restored).unwrap();
    assert!(!managers(&restored).contains(&("kubectl-edit".into(), "Update".into())));
    assert_eq!(restored["metadata"]["generation"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_field_from_the_applied_config_removes_it() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c);
    let mut full = config_map("prune", json!({"keep": "1", "drop": "2"}));
    full["metadata"]["labels"] = json!({"a": "1", "b": "2"});
    cms.patch(
        "prune",
        &PatchParams::apply("gitfleet"),
        &Patch::Apply(&full),
    )
    .await
    .unwrap();
    // Another manager also owns label b.
    let other = PatchParams {
        field_manager: Some("labeler".into()),
        ..Default::default()
    };
    cms.patch(
        "prune",
        &other,
        &Patch::Merge(json!({"metadata": {"labels": {"b": "3"}}})),
    )
    .await
    .unwrap();

    let mut smaller = config_map("prune", json!({"keep": "1"}));
    smaller["metadata"]["labels"] = json!({"a": "1"});
    let after = cms
        .patch(
            "prune",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&smaller),
        )
        .await
        .unwrap();
    assert_eq!(
        after.data.unwrap(),
        [("keep".to_string(), "1".to_string())].into()
    );
    assert_eq!(
        after.metadata.labels.unwrap(),
        [("a".into(), "1".into()), ("b".into(), "3".into())].into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_stores_nothing() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c.clone());
    let rv = s.resource_version();
    let cm: ConfigMap = serde_json::from_value(config_map("dry", json!({"a": "1"}))).unwrap();
    let would = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    assert_eq!(would.metadata.resource_version, None);
    assert!(would.metadata.uid.is_some() && would.metadata.managed_fields.is_some());
    assert!(
        s.object("v1", "configmaps", Some("default"), "dry")
            .is_none()
    );
    assert_eq!(s.resource_version(), rv);

    let cfg = config_map("dry", json!({"a": "1"}));
    let real = cms
        .patch("dry", &PatchParams::apply("gitfleet"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    let changed = config_map("dry", json!({"a": "2"}));
    let preview = cms
        .patch(
            "dry",
            &PatchParams::apply("gitfleet").dry_run(),
            &Patch::Apply(&changed),
        )
        .await
        .unwrap();
    assert_eq!(preview.data.unwrap()["a"], "2");
    assert_eq!(
        preview.metadata.resource_version,
        real.metadata.resource_version
    );
    assert_eq!(
        s.object("v1", "configmaps", Some("default"), "dry")
            .unwrap()["data"]["a"],
        "1"
    );
    assert!(s.writes().last().unwrap().dry_run);

    let gone = cms
        .delete(
            "dry",
            &DeleteParams {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(gone.is_right());
    assert!(
        s.object("v1", "configmaps", Some("default"), "dry")
            .is_some()
    );

    // Admission still runs: a missing namespace is a 404 even on dry-run.
    let missing: Api<ConfigMap> = Api::namespaced(c, "nowhere");
    let e = api_error(
        missing
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &cm,
            )
            .await,
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_is_served_once_established_validates_and_prunes() {
    let s = KubeStandIn::start_with(Options {
        crd_established_after: Duration::from_millis(200),
        ..Default::default()
    });
    let c = client(&s).await;
    let crds: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1},
                                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"}
                            }
                        },
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    });
    let bad_name = {
        let mut b = crd.clone();
        b["metadata"]["name"] = json!("widgets");
        b
    };
    let e = api_error(
        crds.patch(
            "widgets",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&bad_name),
        )
        .await,
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains(
            "metadata.name: Invalid value: \"widgets\": must be spec.names.plural+\".\"+spec.group"
        ),
        "{}",
        e.message
    );

    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("gitfleet"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    assert!(
        discovery::pinned_kind(&c, &gvk).await.is_err(),
        "not served before Established"
    );
    eventually("the CRD to be established", || async {
        let crd = crds.get("widgets.example.com").await.unwrap();
        crd.data["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            })
    })
    .await;
    let (ar, caps) = discovery::pinned_kind(&c, &gvk).await.unwrap();
    assert_eq!(
        (ar.plural.as_str(), caps.scope),
        ("widgets", Scope::Namespaced)
    );

    let widgets: Api<DynamicObject> = Api::default_namespaced_with(c.clone(), &ar);
    let invalid = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": "big"}});
    let e = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::apply("gitfleet"),
                &Patch::Apply(&invalid),
            )
            .await,
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Widget.example.com \"w\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
    );
    assert_eq!(e.details.unwrap().causes[0].field, "spec.size");
    let missing = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red"}});
    let e = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::apply("gitfleet"),
                &Patch::Apply(&missing),
            )
            .await,
    );
    assert_eq!(
        e.message,
        "Widget.example.com \"w\" is invalid: spec.size: Required value"
    );

    let extra = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3, "extra": true}});
    let w = widgets
        .patch("w", &PatchParams::apply("gitfleet"), &Patch::Apply(&extra))
        .await
        .unwrap();
    assert_eq!(
        w.data["spec"],
        json!({"size": 3, "color": "red"}),
        "unknown field pruned, default applied"
    );
    let listed = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items[0].types.as_ref().unwrap().kind, "Widget");

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the CRD and its widgets to go", || async {
        discovery::pinned_kind(&c, &gvk).await.is_err()
            && crds.get_opt("widgets.example.com").await.unwrap().is_none()
    })
    .await;
    assert!(s.objects("example.com/v1", "widgets", None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_must_exist_and_deleting_one_cascades() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "apps");
    let cm: ConfigMap = serde_json::from_value(config_map("cfg", json!({}))).unwrap();
    let e = api_error(cms.create(&PostParams::default(), &cm).await);
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (404, "NotFound", "namespaces \"apps\" not found")
    );

    let nss: Api<Namespace> = Api::all(c.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    let created = nss
        .patch("apps", &PatchParams::apply("gitfleet"), &Patch::Apply(&ns))
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        created.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "apps"
    );
    let sa: Api<ServiceAccount> = Api::namespaced(c.clone(), "apps");
    sa.get("default").await.unwrap();
    cms.get("kube-root-ca.crt").await.unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let e = api_error(nss.delete("default", &DeleteParams::default()).await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            403,
            "namespaces \"default\" is forbidden: this namespace may not be deleted"
        )
    );

    let deleting = nss
        .delete("apps", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        deleting.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let mut again = cm.clone();
    again.metadata.name = Some("late".into());
    let e = api_error(cms.create(&PostParams::default(), &again).await);
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace apps because it is being terminated"
    );
    eventually("the namespace and its content to go", || async {
        nss.get_opt("apps").await.unwrap().is_none()
    })
    .await;
    assert!(s.objects("v1", "configmaps", Some("apps")).is_empty());
    assert!(s.objects("v1", "serviceaccounts", Some("apps")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_create_modify_delete() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c.clone());
    let pre: ConfigMap = serde_json::from_value(config_map("before", json!({}))).unwrap();
    cms.create(&PostParams::default(), &pre).await.unwrap();

    for streaming in [false, true] {
        let mut cfg = watcher::Config::default().fields("metadata.name!=kube-root-ca.crt");
        if streaming {
            cfg = cfg.streaming_lists();
        }
        let mut events = watcher(cms.clone(), cfg).boxed();
        let mut seen = Vec::new();
        let name = format!("w-{streaming}");
        let mut created = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ev = tokio::time::timeout(Duration::from_secs(5), events.try_next())
                .await
                .expect("an event in time")
                .expect("no watch error")
                .expect("stream continues");
            let label = match &ev {
                watcher::Event::Init => "init".to_string(),
                watcher::Event::InitApply(o) => format!("init:{}", o.name_any()),
                watcher::Event::InitDone => "done".to_string(),
                watcher::Event::Apply(o) => format!(
                    "apply:{}:{}",
                    o.name_any(),
                    o.data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .cloned()
                        .unwrap_or_default()
                ),
                watcher::Event::Delete(o) => format!("delete:{}", o.name_any()),
            };
            seen.push(label.clone());
            if label == "done" && !created {
                created = true;
                let cm: ConfigMap =
                    serde_json::from_value(config_map(&name, json!({"v": "1"}))).unwrap();
                cms.create(&PostParams::default(), &cm).await.unwrap();
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": "2"}})),
                )
                .await
                .unwrap();
                cms.delete(&name, &DeleteParams::default()).await.unwrap();
            }
            if label.starts_with("delete:") {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "init",
                "init:before",
                "done",
                &format!("apply:{name}:1"),
                &format!("apply:{name}:2"),
                &format!("delete:{name}")
            ],
            "streaming={streaming}"
        );
    }
    assert!(
        s.requests()
            .iter()
            .any(|r| r.query.contains("sendInitialEvents=true") && r.status == 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_watch_resumes_bookmarks_and_expires() {
    let s = KubeStandIn::start_with(Options {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    });
    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c);
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(config_map("x", json!({}))).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(o) => assert_eq!(o.name_any(), "x"),
        other => panic!("expected ADDED, got {other:?}"),
    }
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(
            b.metadata.resource_version,
            s.resource_version().to_string()
        ),
        other => panic!("expected BOOKMARK, got {other:?}"),
    }
    drop(stream);

    s.compact();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_unless_the_image_cannot_be_pulled() {
    let s = KubeStandIn::start_with(Options {
        rollout_after: Duration::from_millis(150),
        ..Default::default()
    });
    let c = client(&s).await;
    let deploys: Api<Deployment> = Api::default_namespaced(c);
    let pp = PatchParams::apply("gitfleet");
    deploys
        .patch(
            "good",
            &pp,
            &Patch::Apply(deployment("good", "nginx:1.27", 3)),
        )
        .await
        .unwrap();
    deploys
        .patch(
            "bad",
            &pp,
            &Patch::Apply(deployment("bad", "registry.invalid/app:1", 2)),
        )
        .await
        .unwrap();

    eventually("good to roll out", || async {
        let d = deploys.get("good").await.unwrap();
        let st = d.status.unwrap_or_default();
        st.observed_generation == d.metadata.generation
            && st.updated_replicas == Some(3)
            && st.available_replicas == Some(3)
            && st.ready_replicas == Some(3)
            && st.conditions.unwrap_or_default().iter().any(|c| {
                c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
            })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let bad = deploys.get("bad").await.unwrap();
    let st = bad.status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.ready_replicas, None);
    assert_eq!(st.unavailable_replicas, Some(2));
    let available = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_.as_deref() == Some("Available"))
        .unwrap();
    assert_eq!(
        (available.status.as_deref(), available.reason.as_deref()),
        (Some("False"), Some("MinimumReplicasUnavailable"))
    );

    // The controller's status write is owned by kube-controller-manager on the status subresource.
    let good = s
        .object("apps/v1", "deployments", Some("default"), "good")
        .unwrap();
    let status_entry = good["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kube-controller-manager")
        .unwrap()
        .clone();
    assert_eq!(
        (
            status_entry["operation"].as_str(),
            status_entry["subresource"].as_str()
        ),
        (Some("Update"), Some("status"))
    );

    // A new image in a rolled-out deployment: stuck at the first surge step forever.
    deploys
        .patch(
            "good",
            &pp,
            &Patch::Apply(deployment("good", "registry.invalid/nginx:2", 3)),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = deploys.get("good").await.unwrap().status.unwrap();
    assert_eq!(
        (
            st.observed_generation,
            st.updated_replicas,
            st.available_replicas
        ),
        (Some(2), Some(1), Some(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_through_impersonation() {
    let s = KubeStandIn::start();
    let admin = client(&s).await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    Api::<Namespace>::all(admin.clone())
        .patch("apps", &PatchParams::apply("setup"), &Patch::Apply(&ns))
        .await
        .unwrap();
    let rbac = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind),
            plural,
        )
    };
    let roles: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "apps", &rbac("Role", "roles"));
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader"},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["*"], "resourceNames": ["web"]}
        ]
    });
    roles
        .patch("reader", &PatchParams::apply("setup"), &Patch::Apply(&role))
        .await
        .unwrap();
    let bindings: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "apps", &rbac("RoleBinding", "rolebindings"));
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "alice-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
    });
    bindings
        .patch(
            "alice-reads",
            &PatchParams::apply("setup"),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    let admin_deploys: Api<Deployment> = Api::namespaced(admin.clone(), "apps");
    admin_deploys
        .patch(
            "web",
            &PatchParams::apply("setup"),
            &Patch::Apply(deployment("web", "nginx:1", 1)),
        )
        .await
        .unwrap();

    let alice = client_from(&s.kubeconfig_as("alice")).await;
    let deploys: Api<Deployment> = Api::namespaced(alice.clone(), "apps");
    deploys.get("web").await.unwrap();
    assert_eq!(
        deploys
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    deploys.get_status("web").await.unwrap();

    let e = api_error(
        deploys
            .patch(
                "web",
                &PatchParams::apply("alice"),
                &Patch::Apply(deployment("web", "nginx:2", 1)),
            )
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "deployments.apps \"web\" is forbidden: User \"alice\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"apps\""
    );
    let e = api_error(
        Api::<Deployment>::all(alice.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        e.message,
        "deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
    );
    let e = api_error(
        Api::<ConfigMap>::namespaced(alice.clone(), "apps")
            .get("kube-root-ca.crt")
            .await,
    );
    assert_eq!(
        e.message,
        "configmaps \"kube-root-ca.crt\" is forbidden: User \"alice\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"apps\""
    );
    // Discovery is always allowed.
    discovery::pinned_kind(&alice, &GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .await
        .unwrap();
    let recorded: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.user == "alice" && !r.discovery)
        .collect();
    assert_eq!(
        recorded.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 403, 403, 403]
    );
    assert_eq!(recorded[3].verb, "patch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_subresource_is_isolated() {
    let s = KubeStandIn::start_with(Options {
        rollout_after: Duration::from_secs(3600),
        ..Default::default()
    });
    let c = client(&s).await;
    let deploys: Api<Deployment> = Api::default_namespaced(c);
    let mut with_status = deployment("iso", "nginx:1", 1);
    with_status["status"] = json!({"replicas": 42});
    let d = deploys
        .patch(
            "iso",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&with_status),
        )
        .await
        .unwrap();
    assert_ne!(
        d.status.and_then(|s| s.replicas),
        Some(42),
        "status of a main-resource write is ignored"
    );

    eventually("the controller's first status", || async {
        deploys
            .get("iso")
            .await
            .unwrap()
            .status
            .is_some_and(|s| s.observed_generation == Some(1))
    })
    .await;
    let pp = PatchParams {
        field_manager: Some("tester".into()),
        ..Default::default()
    };
    let patched = deploys
        .patch_status(
            "iso",
            &pp,
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"collisionCount": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().collision_count, Some(7));
    assert_eq!(
        patched.spec.replicas,
        Some(1),
        "a status write changes only the status"
    );
    assert_eq!(patched.metadata.generation, Some(1));

    let main = deploys
        .patch(
            "iso",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"x": "y"}}, "status": {"collisionCount": 1}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(main.status.as_ref().unwrap().collision_count, Some(7));
    assert_eq!(
        main.metadata.generation,
        Some(1),
        "metadata changes do not bump the generation"
    );
    let json = serde_json::to_value(&main).unwrap();
    assert!(managers(&json).contains(&("tester".into(), "Update".into())));
    let tester_status = json["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["manager"] == "tester" && e["subresource"] == "status");
    assert!(tester_status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_injected_failures() {
    let s = KubeStandIn::start();
    let yaml = s.kubeconfig().replace("standin-admin-token", "wrong-token");
    let bad = client_from(&yaml).await;
    let e = api_error(
        Api::<ConfigMap>::default_namespaced(bad)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    assert_eq!(s.requests().last().unwrap().status, 401);

    let c = client(&s).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(c);
    s.fail_next(1, 500);
    let e = api_error(cms.get("kube-root-ca.crt").await);
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    // kube's client retries 429 (Retry-After: 0) by itself.
    s.clear_requests();
    s.fail_next(2, 429);
    cms.get("kube-root-ca.crt").await.unwrap();
    assert_eq!(
        s.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_flavours_finalizers_and_delete_collection() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let deploys: Api<Deployment> = Api::default_namespaced(c.clone());
    let mut two = deployment("multi", "nginx:1", 1);
    two["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "app", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:1"}]);
    deploys
        .patch(
            "multi",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&two),
        )
        .await
        .unwrap();

    // Strategic merge: containers merge by name.
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy:2"}]}}}});
    let d = deploys
        .patch("multi", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let images: Vec<_> = d
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .iter()
        .map(|c| c.image.clone().unwrap())
        .collect();
    assert_eq!(images, ["nginx:1", "envoy:2"]);
    // JSON patch, with a failing test operation first.
    let bad = serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 7}]))
        .unwrap();
    assert_eq!(
        api_error(
            deploys
                .patch("multi", &PatchParams::default(), &Patch::<()>::Json(bad))
                .await
        )
        .code,
        422
    );
    let ops = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4}
    ]))
    .unwrap();
    let d = deploys
        .patch("multi", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(4));
    // Optimistic concurrency on update.
    let mut stale = d.clone();
    stale.metadata.resource_version = Some("1".into());
    let e = api_error(
        deploys
            .replace("multi", &PostParams::default(), &stale)
            .await,
    );
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on deployments.apps \"multi\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // Finalizers hold a deleted object until they are removed.
    let cms: Api<ConfigMap> = Api::default_namespaced(c.clone());
    let mut held = config_map("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    held["metadata"]["labels"] = json!({"batch": "x"});
    cms.patch(
        "held",
        &PatchParams::apply("gitfleet"),
        &Patch::Apply(&held),
    )
    .await
    .unwrap();
    let pending = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(cms.get_opt("held").await.unwrap().is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    for n in ["a", "b", "c"] {
        let mut cm = config_map(n, json!({}));
        cm["metadata"]["labels"] = json!({"batch": if n == "c" { "y" } else { "x" }});
        cms.patch(n, &PatchParams::apply("gitfleet"), &Patch::Apply(&cm))
            .await
            .unwrap();
    }
    let deleted = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("batch=x"),
        )
        .await
        .unwrap();
    let names: Vec<String> = deleted
        .left()
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let left: Vec<String> = cms
        .list(&ListParams::default().labels("batch"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(left, ["c"]);
}

/// gitfleet's client bounds its requests in flight: kube's HTTP/1 pool opens a connection per
/// concurrent request and keeps each one open while idle, so without the bound the agent ended a
/// burst of 10 Syncs applied at once holding 245 idle connections (and their buffers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitfleets_client_keeps_no_more_connections_than_its_requests_in_flight() {
    let s = KubeStandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    s.write_kubeconfig(&path);
    let conn = gitfleet::kube::connect(Some(&path), None).await.unwrap();
    // Each request takes 40 ms, so 200 of them at once overlap.
    s.set_latency(Duration::from_millis(20));
    let before = s.connections_accepted();
    let api: Api<Namespace> = Api::all(conn.client.clone());
    let gets = (0..200).map(|_| {
        let api = api.clone();
        async move { api.get_opt("default").await }
    });
    let results = futures::future::join_all(gets).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let opened = s.connections_accepted() - before;
    let bound = gitfleet::kube::client::MAX_REQUESTS_IN_FLIGHT;
    assert!(
        (2..=bound + 4).contains(&opened),
        "200 concurrent requests opened {opened} connections (bound {bound})"
    );
}

/// As a real kube-apiserver (1.36, etcd 3.4, measured): an apply whose configuration sets no
/// field beyond apiVersion, kind and metadata.name leaves no managedFields entry for the
/// applier, and its re-apply changes nothing. (gitfleet once read such objects as `configured`
/// on every run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_apply_leaves_no_managed_fields_entry() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let namespaces: Api<Namespace> = Api::all(c);
    let bare = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bare"}});
    let created = namespaces
        .patch(
            "bare",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&bare),
        )
        .await
        .unwrap();
    let entries: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert!(
        !entries.iter().any(|m| m == "gitfleet"),
        "a bare apply recorded an entry: {entries:?}"
    );
    let before = created.metadata.resource_version.clone();
    let again = namespaces
        .patch(
            "bare",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(&bare),
        )
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, before, "a no-op");
}

/// The scale subresource, as `kubectl scale` uses it: an `autoscaling/v1` Scale read from the
/// Deployment; a write changes only `spec.replicas` and moves its ownership to the scaler,
/// recorded with `subresource: scale`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_subresource_moves_replicas_to_the_scaler() {
    let s = KubeStandIn::start();
    let c = client(&s).await;
    let deployments: Api<Deployment> = Api::default_namespaced(c);
    deployments
        .patch(
            "web",
            &PatchParams::apply("gitfleet"),
            &Patch::Apply(deployment("web", "nginx:1.27", 2)),
        )
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    let scaled = deployments
        .patch_scale(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-scale".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.replicas, Some(5));
    let fields = d.metadata.managed_fields.unwrap_or_default();
    let scaler = fields
        .iter()
        .find(|f| f.manager.as_deref() == Some("kubectl-scale"))
        .expect("the scaler's entry");
    assert_eq!(scaler.subresource.as_deref(), Some("scale"));
    assert_eq!(scaler.operation.as_deref(), Some("Update"));
    let ours = fields
        .iter()
        .find(|f| f.manager.as_deref() == Some("gitfleet"))
        .expect("gitfleet's entry");
    let owned = ours.fields_v1.as_ref().unwrap().0.to_string();
    assert!(
        !owned.contains("f:replicas"),
        "replicas moved away: {owned}"
    );
}
