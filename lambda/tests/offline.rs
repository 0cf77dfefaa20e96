//! The offline integration tests, in one binary (each test binary links the AWS SDK, so fewer
//! binaries build and link faster): the step logic against the in-memory store and databases,
//! the call counts with the version cache, the generated hostile input, the SDK's error
//! injection (Secrets Manager's and the RDS Proxy listing's), the refresh of applications after a rotation, the stack's environment as the function reads it, and the operator reports' bytes on the wire. No server.

mod cache_calls;
mod drift_offline;
mod properties;
mod rds_proxy_offline;
mod refresh_offline;
mod report_wire;
mod stack_environment;
mod steps_offline;
mod steps_offline_fakes;
mod store_faults;
