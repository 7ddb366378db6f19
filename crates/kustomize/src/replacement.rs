//! `replacements` and `vars` (owner: to be written).

use serde::Deserialize;

/// One replacement: a source field copied into target fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replacement {
    pub source: Option<serde_json::Value>,
    #[serde(default)]
    pub targets: Vec<serde_json::Value>,
}
