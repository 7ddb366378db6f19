//! A path in the repository becomes objects: plain YAML and `*.j2` (in `kube::manifest`),
//! Kustomize overlays (the `kustomize` crate, read through this module's [`kustomize`]
//! adapter), Helm charts (the `helm` crate, through [`helm`]) and Jsonnet ([`jsonnet`]), all over
//! the confined [`Source`](crate::source::Source).

pub mod chart_repo;
pub mod helm;
pub mod jsonnet;
pub mod kustomize;
