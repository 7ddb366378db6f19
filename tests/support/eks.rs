//! An in-memory EKS API stand-in (under construction).
