//! Name references (owner: to be written).
