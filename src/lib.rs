//! gitfleet: declarative Kubernetes clusters from a Git repository.
//!
//! Data flows one way: `fleet` (load, resolve, validate) → `render` (templates → typed
//! requests and manifests) → `plan` (desired vs observed → steps) → `provider` (side effects).

pub mod agent;
pub mod bootstrap;
pub mod build;
pub mod decrypt;
pub mod diagnostic;
pub mod fleet;
pub mod git;
pub mod kube;
pub mod kubeconfig;
pub mod pipeline;
pub mod plan;
pub mod provider;
pub mod render;
pub mod scaffold;
pub mod source;
