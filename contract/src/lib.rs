//! What the rotation function and the stack that deploys it agree on.
//!
//! `synth` writes the function's environment and the function parses it; both once kept their
//! own copy of the engines, the variable names and their ranges, and the copies drifted (a
//! password length the stack allowed and the function refused is a rotation that fails at
//! 3 a.m.). This crate is the one copy: the engines with their families, default ports and
//! limits ([`engine`]), every environment variable with its default and accepted values
//! ([`mod@env`]), the metrics the function writes and the dashboard reads ([`metrics`]), and where
//! the driver layer puts the CA bundle ([`CA_BUNDLE_PATH`]), and (with the `serde` feature)
//! the per-secret settings the stack gives the function (`settings`) and the operator protocol
//! (`report`): the actions, and the report each one answers (preflight, which synth reads;
//! recover, adopt-partner and audit), in their wire form.

pub mod engine;
pub mod env;
pub mod metrics;
#[cfg(feature = "serde")]
pub mod report;
#[cfg(feature = "serde")]
pub mod settings;

pub use engine::{Engine, EngineFamily};

/// Where the CA bundle is when the driver layer is attached: the layer zip holds
/// `rds-ca/global-bundle.pem`, and Lambda mounts layers at `/opt`.
pub const CA_BUNDLE_PATH: &str = "/opt/rds-ca/global-bundle.pem";
