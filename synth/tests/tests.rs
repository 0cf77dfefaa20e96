//! synth's integration tests, in one binary (with the `preflight` feature each test binary
//! links the AWS SDK): rendering, validation, the examples and their Guard rules, the layout at
//! any size, the applications refreshed after a rotation, the CLI, and `synth preflight` against canned answers.

mod alerts;
mod cli;
mod concurrency;
mod examples;
mod guard;
mod large;
mod network;
mod operations;
mod preflight;
mod refresh;
mod review;
mod role;
mod validation;
