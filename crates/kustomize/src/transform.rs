//! The builtin transformers (owner: to be written).
