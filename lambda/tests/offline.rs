//! The offline integration tests, in one binary (each test binary links the AWS SDK, so fewer
//! binaries build and link faster): the step logic against the in-memory store and databases,
//! the call counts with the version cache, the generated hostile input, the SDK's error
//! injection, and the stack's environment as the function reads it. No server.

mod cache_calls;
mod drift_offline;
mod properties;
mod stack_environment;
mod steps_offline;
mod steps_offline_fakes;
mod store_faults;
