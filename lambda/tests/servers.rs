//! The integration tests against the real servers the test command starts (PostgreSQL 15 and
//! 18, MariaDB, moto as Secrets Manager and the RDS API), in one binary. Each test makes its own
//! users and secrets, so they run in parallel; without the servers each prints one `skipped`
//! line (a failure under `make test`).

#[macro_use]
mod common;

mod alternating_users;
mod concurrency;
mod hostile_sql;
mod interruptions;
mod mariadb_partners;
mod mariadb_server_logs;
mod mysql_hardening;
mod operations;
mod postgres_hardening;
mod quoting_roundtrip;
mod rds_master;
mod rds_proxy;
mod retirement;
mod secrets_manager_rules;
mod single_user;
mod tls_trust;
