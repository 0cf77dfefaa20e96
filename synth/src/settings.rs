//! The settings layer: the stack, not the secret, says how each secret rotates.
//!
//! A secret's writer must not be able to pick its strategy or its master secret (a `masterarn`
//! in the value once switched on the master path). So synth writes, from the validated config,
//! the per-secret settings of `rotation_contract::settings` into a zip that the stack deploys
//! as a Lambda layer beside the driver layer; the function reads it from
//! `/opt/rotation-settings/settings.json`. A layer version is immutable, and publishing one
//! takes the deployer's rights, not a secret writer's.
//!
//! The zip is the same bytes for the same settings: one stored (uncompressed) entry with a
//! fixed time and fixed permissions, in a fixed order, so its bytes depend on the settings
//! alone, not on the clock, the machine or a compressor's version. `aws cloudformation
//! package` names the uploaded object after the zip's MD5, so an unchanged config uploads the
//! same object and the layer is not replaced; a changed one gives a new layer version, and the
//! settings digest in the layer's Description shows the change in the template diff.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use rotation_contract::settings::{
    FILE_NAME, LAYER_DIR, SecretSettings, Settings, Strategy as ContractStrategy,
};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipWriter};

use crate::model::{Stack, Strategy};

/// What the main template says about the settings layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// The zip's file name, next to the main template (its `Content`).
    pub file: String,
    /// Hex SHA-256 of the settings file, for the layer's Description.
    pub digest: String,
}

/// `NAME.template.yaml` -> `NAME.settings.zip`; `out.yaml` -> `out.settings.zip`.
pub fn file_name(parent_file: &str) -> String {
    for suffix in [".template.yaml", ".template.yml", ".yaml", ".yml", ".json"] {
        if let Some(base) = parent_file.strip_suffix(suffix)
            && !base.is_empty()
        {
            return format!("{base}.settings.zip");
        }
    }
    format!("{parent_file}.settings.zip")
}

/// The settings of every database of the stack, keyed by its secret's ARN.
pub fn of(stack: &Stack) -> Settings {
    let secrets: BTreeMap<String, SecretSettings> = stack
        .databases
        .iter()
        .map(|d| {
            let strategy = match d.strategy {
                Strategy::SingleUser => ContractStrategy::SingleUser,
                Strategy::AlternatingUsers => ContractStrategy::AlternatingUsers,
            };
            let settings = SecretSettings {
                strategy,
                master_secret_arn: match d.strategy {
                    Strategy::AlternatingUsers => d.master_secret_arn.clone(),
                    Strategy::SingleUser => None,
                },
                after_rotation: d.after_rotation.clone(),
                retire_previous_after_seconds: match d.strategy {
                    Strategy::AlternatingUsers => d.retire_previous_after_seconds,
                    Strategy::SingleUser => None,
                },
            };
            (d.secret_arn.clone(), settings)
        })
        .collect();
    Settings::new(secrets)
}

/// Hex SHA-256 of `text`.
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entry's path inside the zip: Lambda extracts layers into `/opt`.
pub fn entry_name() -> String {
    format!("{LAYER_DIR}/{FILE_NAME}")
}

/// The layer zip holding `json` at `rotation-settings/settings.json`.
pub fn zip(json: &str) -> std::io::Result<Vec<u8>> {
    // Every field that would otherwise come from the machine or the clock is fixed: the
    // time (1980-01-01, the zip epoch), the creating system, the permissions (the function
    // runs as another user than the one that extracts the layer, so world-readable).
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::DEFAULT)
        .system(System::Unix);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .add_directory(format!("{LAYER_DIR}/"), options.unix_permissions(0o755))
        .map_err(std::io::Error::other)?;
    writer
        .start_file(entry_name(), options.unix_permissions(0o644))
        .map_err(std::io::Error::other)?;
    writer.write_all(json.as_bytes())?;
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

/// The settings file inside a layer zip, for `synth check` to show what changed.
pub fn read_zip(bytes: &[u8]) -> Result<String, String> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut file = archive
        .by_name(&entry_name())
        .map_err(|e| format!("{}: {e}", entry_name()))?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zip_depends_on_the_settings_alone() {
        let json = "{\"format\":1,\"secrets\":{\n}}\n";
        let a = zip(json).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(a, zip(json).unwrap(), "same settings, same bytes");
        assert_ne!(a, zip("{\"format\":1,\"secrets\":{}}\n").unwrap());
        assert_eq!(read_zip(&a).unwrap(), json);
    }

    #[test]
    fn the_zip_holds_the_path_the_function_reads() {
        assert_eq!(
            format!("/opt/{}", entry_name()),
            rotation_contract::settings::SETTINGS_PATH
        );
        let bytes = zip("{}").unwrap();
        let mut archive = ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        assert_eq!(
            names,
            ["rotation-settings/", "rotation-settings/settings.json"]
        );
        let file = archive.by_name(&entry_name()).unwrap();
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o644));
        assert_eq!(file.compression(), CompressionMethod::Stored);
    }

    #[test]
    fn names_follow_the_main_template() {
        assert_eq!(file_name("big.template.yaml"), "big.settings.zip");
        assert_eq!(file_name("out.yaml"), "out.settings.zip");
        assert_eq!(file_name("out"), "out.settings.zip");
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
