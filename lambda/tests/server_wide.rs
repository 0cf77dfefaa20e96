//! The tests that change a MariaDB setting for the whole server (`old_passwords`, `sql_mode`)
//! or hold a server-wide lock (`mysql.global_priv`), and the log capture, which needs the
//! process to itself (tracing caches each call site's interest process-wide, and a call site
//! first hit by a concurrent test can miss a scoped subscriber), apart from every other test:
//! they share this binary, and each takes [`common::SERVER_WIDE`] first, so they never overlap
//! either.

#[macro_use]
mod common;

mod mariadb_lock_timeout;
mod mariadb_old_passwords;
mod mariadb_sql_mode;
mod no_secret_in_logs;
