//! The JSON Schema of the config, for editors.
//!
//! Generated from the same structs serde parses into, so the schema cannot
//! drift from what `synth` accepts (it does not know the cross-field rules,
//! which `synth render` and `synth check` still enforce).

use crate::config::RawConfig;
use crate::error::Result;

/// The schema as pretty-printed JSON, ending with a newline.
pub fn json_schema() -> Result<String> {
    let schema = schemars::schema_for!(RawConfig);
    Ok(serde_json::to_string_pretty(&schema)? + "\n")
}
