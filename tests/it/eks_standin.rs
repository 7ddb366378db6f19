//! The EKS provider against the EKS stand-in (tests/support/eks.rs): what moto cannot do.
