//! The one integration-test binary: modules per area, helpers in `support`.

mod agent;
mod aks;
mod apply;
mod arm_standin;
mod cli;
mod cloud_errors;
mod corpus;
mod eks;
mod eks_standin;
mod git;
mod helm;
mod hostile;
mod jsonnet;
mod kube_standin;
mod kustomize;
mod output_schema;
mod props;
mod rollout;
mod snapshots;
mod sops;
mod support;
mod up;
