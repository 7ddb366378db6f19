//! Plan diffing over hand-built observed states.

use super::*;

fn desired() -> Desired {
    Desired {
        fleet: "f".into(),
        cluster: "prod".into(),
        provider: ProviderKind::Eks,
        managed: true,
        upgradable: true,
        version: Some("1.30".into()),
        resource_group: None,
        tags: [("team".to_string(), "a".to_string())].into(),
        pools: vec![DesiredPool {
            name: "general".into(),
            instance_type: "m6i.large".into(),
            min: 1,
            max: 5,
            desired: 2,
            labels: BTreeMap::new(),
            taints: vec![],
            with_cluster: false,
            tags: BTreeMap::new(),
        }],
        addons: vec![DesiredAddon {
            name: "vpc-cni".into(),
            version: Some("v1.18.1-eksbuild.1".into()),
            tags: BTreeMap::new(),
        }],
        immutable: [("eks.subnetIds".to_string(), "a,b".to_string())].into(),
        reconciler_namespace: "gitfleet-system".into(),
        reconciler_image: "img:1".into(),
        repository: "https://x/r.git@main".into(),
        sync_path: "clusters/prod".into(),
        self_manifests_path: "clusters/prod/gitfleet-system".into(),
    }
}

fn converged() -> Observed {
    Observed {
        resource_group: None,
        control_plane: Some(ObservedControlPlane {
            owned: true,
            version: "1.30".into(),
            tags: [("team".to_string(), "a".to_string())].into(),
            immutable: [("eks.subnetIds".to_string(), "a,b".to_string())].into(),
        }),
        pools: vec![ObservedPool {
            name: "general".into(),
            instance_type: "m6i.large".into(),
            min: 1,
            max: 5,
            desired: 2,
            version: Some("1.30".into()),
            owned: true,
            ..Default::default()
        }],
        addons: vec![ObservedAddon {
            name: "vpc-cni".into(),
            version: Some("v1.18.1-eksbuild.1".into()),
            owned: true,
            tags: BTreeMap::new(),
        }],
        reconciler: Some(ObservedReconciler {
            image: "img:1".into(),
            seeded: true,
        }),
        manifests_committed: true,
    }
}

fn lines(p: &ClusterPlan) -> Vec<String> {
    p.steps.iter().map(ToString::to_string).collect()
}

#[test]
fn absent_everything_creates_everything_in_order() {
    let p = plan_cluster(&desired(), &Observed::default()).unwrap();
    assert_eq!(
        lines(&p),
        [
            "create cluster prod (version: 1.30)",
            "create node pool general (instanceType: m6i.large, size: 1..5 (desired 2))",
            "create add-on vpc-cni (version: v1.18.1-eksbuild.1)",
            "install reconciler gitfleet-system (image: img:1)",
            "seed reconciler gitfleet-system (repository: https://x/r.git@main, path: clusters/prod)",
            "commit manifests in clusters/prod/gitfleet-system",
        ]
    );
}

#[test]
fn converged_state_plans_nothing() {
    assert!(
        plan_cluster(&desired(), &converged())
            .unwrap()
            .steps
            .is_empty()
    );
}

#[test]
fn upgrades_one_minor_at_a_time_then_pools() {
    let mut o = converged();
    o.control_plane.as_mut().unwrap().version = "1.28".into();
    o.pools[0].version = Some("1.28".into());
    let p = plan_cluster(&desired(), &o).unwrap();
    assert_eq!(
        lines(&p),
        [
            "upgrade cluster prod (version: 1.28 → 1.29)",
            "upgrade cluster prod (version: 1.29 → 1.30)",
            "upgrade node pool general (version: 1.28 → 1.30)",
        ]
    );
}

#[test]
fn scaling_labels_and_tags_are_updates() {
    let mut o = converged();
    o.pools[0].desired = 3;
    // `old` was set by gitfleet (its labels record lists it), `cost-center` by someone else
    o.pools[0].labels.insert("old".into(), "x".into());
    o.pools[0].labels.insert("cost-center".into(), "42".into());
    o.pools[0]
        .tags
        .insert(crate::render::tags::MANAGED_LABELS_KEY.into(), "old".into());
    o.control_plane
        .as_mut()
        .unwrap()
        .tags
        .insert("team".into(), "b".into());
    let p = plan_cluster(&desired(), &o).unwrap();
    assert_eq!(
        lines(&p),
        [
            "update cluster prod (tags.team: b → a)",
            "update node pool general (desired: 3 → 2, labels.old: x → (removed), tags.gitfleet.io/managed-labels: old → (removed))",
        ]
    );
}

/// Issue 11: labels and taints gitfleet did not set (not in the pool's records) are never
/// removed; the ones it set and the definition dropped are.
#[test]
fn labels_and_taints_set_by_others_stay() {
    let mut o = converged();
    o.pools[0].labels.insert("cost-center".into(), "42".into());
    o.pools[0].taints = vec!["nvidia.com/gpu:NoSchedule".into()];
    assert!(
        plan_cluster(&desired(), &o).unwrap().steps.is_empty(),
        "foreign labels and taints are no change"
    );
    o.pools[0].taints.push("dedicated=web:NoSchedule".into());
    o.pools[0].tags.insert(
        crate::render::tags::MANAGED_TAINTS_KEY.into(),
        "dedicated".into(),
    );
    assert_eq!(
        lines(&plan_cluster(&desired(), &o).unwrap()),
        [
            "update node pool general (tags.gitfleet.io/managed-taints: dedicated → (removed), taints: dedicated=web:NoSchedule,nvidia.com/gpu:NoSchedule → nvidia.com/gpu:NoSchedule)"
        ]
    );
}

#[test]
fn only_owned_pools_are_deleted() {
    let mut o = converged();
    o.pools.push(ObservedPool {
        name: "ours".into(),
        owned: true,
        ..Default::default()
    });
    o.pools.push(ObservedPool {
        name: "theirs".into(),
        owned: false,
        ..Default::default()
    });
    assert_eq!(
        lines(&plan_cluster(&desired(), &o).unwrap()),
        ["delete node pool ours"]
    );
}

#[test]
fn immutable_changes_and_downgrades_are_errors() {
    let mut o = converged();
    o.control_plane
        .as_mut()
        .unwrap()
        .immutable
        .insert("eks.subnetIds".into(), "c,d".into());
    let e = plan_cluster(&desired(), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`eks.subnetIds` cannot change after creation (is c,d, definition says a,b); create a new cluster instead"
    );
    let mut o = converged();
    o.control_plane.as_mut().unwrap().version = "1.31".into();
    assert!(matches!(
        plan_cluster(&desired(), &o),
        Err(PlanError::Downgrade { .. })
    ));
}

#[test]
fn pools_created_with_the_cluster_are_not_created_again() {
    let mut d = desired();
    d.pools[0].with_cluster = true;
    let p = plan_cluster(&d, &Observed::default()).unwrap();
    assert!(
        !lines(&p).iter().any(|l| l.starts_with("create node pool")),
        "{:?}",
        lines(&p)
    );
    // Once the cluster exists, a missing system pool is created on its own.
    let mut o = converged();
    o.pools.clear();
    let p = plan_cluster(&d, &o).unwrap();
    assert!(lines(&p)[0].starts_with("create node pool general"));
}

#[test]
fn existing_clusters_get_only_the_reconciler() {
    let mut d = desired();
    d.managed = false;
    d.pools.clear();
    let p = plan_cluster(&d, &Observed::default()).unwrap();
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[0].action, Action::Install);
}

#[test]
fn addons_are_created_updated_and_only_owned_ones_deleted() {
    let mut o = converged();
    o.addons[0].version = Some("v1.17.0-eksbuild.1".into());
    o.addons.push(ObservedAddon {
        name: "coredns".into(),
        version: None,
        owned: true,
        tags: BTreeMap::new(),
    });
    o.addons.push(ObservedAddon {
        name: "theirs".into(),
        version: None,
        owned: false,
        tags: BTreeMap::new(),
    });
    assert_eq!(
        lines(&plan_cluster(&desired(), &o).unwrap()),
        [
            "update add-on vpc-cni (version: v1.17.0-eksbuild.1 → v1.18.1-eksbuild.1)",
            "delete add-on coredns",
        ]
    );
    // No version in the definition: whatever EKS installed matches.
    let mut d = desired();
    d.addons[0].version = None;
    assert!(
        plan_cluster(&d, &o)
            .unwrap()
            .steps
            .iter()
            .all(|s| s.name != "vpc-cni")
    );
}

#[test]
fn a_cluster_without_gitfleets_tags_is_refused_and_foreign_tags_are_kept() {
    let d = desired();
    let mut o = converged();
    o.control_plane.as_mut().unwrap().owned = false;
    let err = plan_cluster(&d, &o).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cluster prod exists and is not managed by gitfleet"),
        "{err}"
    );

    let mut o = converged();
    o.control_plane
        .as_mut()
        .unwrap()
        .tags
        .insert("cost-center".into(), "4711".into());
    let plan = plan_cluster(&d, &o).unwrap();
    assert!(
        plan.steps.iter().all(|s| s.target != Target::ControlPlane),
        "a tag someone else set is never removed: {:?}",
        plan.steps
    );

    let mut o = converged();
    o.pools[0].owned = false;
    let err = plan_cluster(&d, &o).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("node pool general of cluster prod exists and is not managed"),
        "{err}"
    );
}

#[test]
fn only_tags_the_record_lists_are_removed() {
    use crate::render::tags::{MANAGED_TAGS_KEY, add_record};
    // The definition dropped `env`; gitfleet's record lists `env` and `team`; someone else
    // added `cost-center`.
    let mut d = desired();
    add_record(&mut d.tags);
    d.pools[0].tags = d.tags.clone();
    d.addons[0].tags = d.tags.clone();
    let mut before = d.tags.clone();
    before.insert("env".into(), "prod".into());
    add_record(&mut before);
    before.insert("cost-center".into(), "4711".into());
    let mut o = converged();
    o.control_plane.as_mut().unwrap().tags = before.clone();
    o.pools[0].tags = before.clone();
    o.addons[0].tags = before;
    let plan = plan_cluster(&d, &o).unwrap();
    let record = format!("tags.{MANAGED_TAGS_KEY}: env team → team");
    assert_eq!(
        lines(&plan),
        [
            format!("update cluster prod ({record}, tags.env: prod → (removed))"),
            format!("update node pool general ({record}, tags.env: prod → (removed))"),
            format!("update add-on vpc-cni ({record}, tags.env: prod → (removed))"),
        ]
    );
    let after = apply_tag_changes(&o.pools[0].tags, &plan.steps[1].changes);
    assert_eq!(after.get("cost-center").map(String::as_str), Some("4711"));
    assert!(!after.contains_key("env"));
}
