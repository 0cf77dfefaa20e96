//! What the function needs to know about an account beyond its grants, and the record that
//! says which alternating pairs are its own.
//!
//! MariaDB writes password statements verbatim to its general and binary logs, so the function
//! never sends it a password: it computes the `mysql_native_password` hash here and uses the
//! statement forms that take a hash. That only keeps the account working when the account
//! authenticates with `mysql_native_password`, so the account's plugin is read first
//! (`SHOW CREATE USER`, which any user may run for itself) and any other plugin is refused
//! before a change, with the fix.
//!
//! MySQL keeps no link between the two users of an alternating pair, so a `name_clone` that
//! belongs to someone else looks like a partner. The function therefore records each pair it
//! makes (or an operator adopts) in a table of its own, [`MARK_TABLE`], written only through the
//! master's session, and changes an existing partner only when its pair is recorded there.

use sha1::{Digest, Sha1};

use super::grants::{Tok, tokenize};
use crate::alternating::{CLONE_SUFFIX, partner_username};

/// The `mysql_native_password` plugin, the only one whose hash the function computes.
pub const NATIVE: &str = "mysql_native_password";

/// The account hash of `mysql_native_password`: `*` and the upper-case hex of
/// SHA1(SHA1(password)), as the server's `PASSWORD()` computes it. The result holds only `*`,
/// digits and `A`-`F`, so it needs no quoting.
pub fn native_hash(password: &str) -> String {
    let inner = Sha1::digest(password.as_bytes());
    let outer = Sha1::digest(inner);
    let mut hash = String::with_capacity(41);
    hash.push('*');
    for byte in outer {
        hash.push_str(&format!("{byte:02X}"));
    }
    hash
}

/// How an account authenticates, from `SHOW CREATE USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    /// `mysql_native_password`, or no authentication clause at all (MariaDB's form for an
    /// account without a password, which uses the native plugin).
    Native,
    /// Anything else, as the server names it: `ed25519`, `caching_sha2_password`, or a chain
    /// `mysql_native_password OR unix_socket`.
    Other(String),
}

impl Plugin {
    pub fn name(&self) -> &str {
        match self {
            Self::Native => NATIVE,
            Self::Other(name) => name,
        }
    }
}

/// An account's authentication and lock state. The hash itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub plugin: Plugin,
    /// `ACCOUNT LOCK`: the account cannot log in, whatever its password.
    pub locked: bool,
}

/// Reads the one line of `SHOW CREATE USER` (MariaDB 10.2+, MySQL 5.7.6+).
pub fn parse_create_user(line: &str) -> Result<AccountInfo, String> {
    let tokens = tokenize(line)?;
    let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Tok::Word(x)) if x == w);
    if !(word(0, "CREATE") && word(1, "USER")) {
        return Err("expected CREATE USER".into());
    }
    let mut plugins = Vec::new();
    let mut locked = false;
    let mut i = 2;
    while i < tokens.len() {
        if word(i, "IDENTIFIED") && plugins.is_empty() {
            i += 1;
            if word(i, "BY") && word(i + 1, "PASSWORD") {
                plugins.push(NATIVE.to_owned());
                i += 2;
                continue;
            }
            if !(word(i, "VIA") || word(i, "WITH")) {
                return Err("expected BY PASSWORD, VIA or WITH after IDENTIFIED".into());
            }
            i += 1;
            loop {
                let plugin = match tokens.get(i) {
                    Some(Tok::Word(w)) => w.to_ascii_lowercase(),
                    Some(Tok::Ident(v, _)) | Some(Tok::Str(v, _)) => v.to_ascii_lowercase(),
                    _ => return Err("expected a plugin name after IDENTIFIED".into()),
                };
                plugins.push(plugin);
                i += 1;
                // `USING 'hash'`, `AS 'hash'`, `USING PASSWORD('...')`: skipped, never read.
                if word(i, "USING") || word(i, "AS") {
                    i += 1;
                    if word(i, "PASSWORD") {
                        i += 4;
                    } else {
                        i += 1;
                    }
                }
                if word(i, "OR") {
                    i += 1;
                } else {
                    break;
                }
            }
            continue;
        }
        if word(i, "ACCOUNT") && word(i + 1, "LOCK") {
            locked = true;
        }
        i += 1;
    }
    let plugin = match plugins.as_slice() {
        [] => Plugin::Native,
        [one] if one == NATIVE => Plugin::Native,
        many => Plugin::Other(many.join(" OR ")),
    };
    Ok(AccountInfo { plugin, locked })
}

/// The schema and table of the pairs the function keeps: one row per pair, keyed by the base
/// user (the name without `_clone`) and the account host. Names are compared as bytes, as the
/// server compares user names.
pub const MARK_SCHEMA: &str = "rotation_function";
pub const MARK_TABLE: &str = "rotation_function.alternating_pairs";

/// Creates the record's schema and table when missing (the master's first pair).
pub const MARK_SETUP: [&str; 2] = [
    "CREATE DATABASE IF NOT EXISTS rotation_function",
    "CREATE TABLE IF NOT EXISTS rotation_function.alternating_pairs (\
     base_user VARBINARY(384) NOT NULL, host VARBINARY(765) NOT NULL, \
     how VARCHAR(16) NOT NULL, recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
     PRIMARY KEY (base_user, host)) ENGINE = InnoDB",
];

/// Whether a pair is recorded; parameters: base user, host.
pub const MARK_QUERY: &str = "SELECT how FROM rotation_function.alternating_pairs \
                              WHERE base_user = ? AND host = ?";

/// Records a pair; parameters: base user, host, `created` or `adopted`.
pub const MARK_INSERT: &str = "INSERT IGNORE INTO rotation_function.alternating_pairs \
                               (base_user, host, how) VALUES (?, ?, ?)";

/// The previous users the function retired (`retire_previous_after`, `ACCOUNT LOCK`): a lock
/// recorded here is the function's own, which the next rotation of the user lifts; any other
/// lock stops the rotation (someone disabled the account on purpose).
pub const RETIRED_SETUP: &str = "CREATE TABLE IF NOT EXISTS rotation_function.retired_users (\
     user VARBINARY(384) NOT NULL, host VARBINARY(765) NOT NULL, \
     locked_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
     PRIMARY KEY (user, host)) ENGINE = InnoDB";
/// Records a retirement; parameters: user, host.
pub const RETIRED_INSERT: &str =
    "INSERT IGNORE INTO rotation_function.retired_users (user, host) VALUES (?, ?)";
/// Whether a lock is the function's; parameters: user, host.
pub const RETIRED_QUERY: &str =
    "SELECT 1 FROM rotation_function.retired_users WHERE user = ? AND host = ?";
/// Forgets a retirement once lifted; parameters: user, host.
pub const RETIRED_DELETE: &str =
    "DELETE FROM rotation_function.retired_users WHERE user = ? AND host = ?";
/// The hosts of a recorded pair; parameter: base user.
pub const PAIR_HOSTS: &str = "SELECT host FROM rotation_function.alternating_pairs \
                              WHERE base_user = ?";

/// The base user of the pair `template`/`target`, when each is the other's partner. A user
/// named `a_clone_clone` has the partner `a_clone`, whose own partner is `a`: acting on it
/// would make the function's pair `a`/`a_clone` a different pair's half.
pub fn pair_base(template: &str, target: &str) -> Result<String, String> {
    if partner_username(template) != target || partner_username(target) != template {
        return Err(format!(
            "`{target}` is the partner of `{}`, not of `{template}`: a user name that ends in \
             `{CLONE_SUFFIX}` twice cannot be half of an alternating pair; rotate `{}` (or a \
             user with a name of its own) instead",
            partner_username(target),
            partner_username(target),
        ));
    }
    Ok(match template.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => template.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_hash_is_the_servers_password_function() {
        // SELECT PASSWORD('newpw') on MariaDB 10.11.
        assert_eq!(
            native_hash("newpw"),
            "*DF0732E0434670AF9F0199F4D2837342EBE03C63"
        );
        // The example of the MySQL manual (PASSWORD('mypass')).
        assert_eq!(
            native_hash("mypass"),
            "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"
        );
        assert_eq!(native_hash("").len(), 41);
    }

    #[test]
    fn plugins_and_locks_are_read_from_show_create_user() {
        let native = parse_create_user(
            "CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*0D3CED9BEC10A777AEC23CCC353A8C08A633045E'",
        )
        .unwrap();
        assert_eq!(native.plugin, Plugin::Native);
        assert!(!native.locked);
        let none = parse_create_user("CREATE USER `a`@`%` ACCOUNT LOCK").unwrap();
        assert_eq!(none.plugin, Plugin::Native);
        assert!(none.locked);
        let chain = parse_create_user(
            "CREATE USER `a`@`%` IDENTIFIED VIA mysql_native_password USING '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' OR unix_socket REQUIRE SSL",
        )
        .unwrap();
        assert_eq!(
            chain.plugin,
            Plugin::Other("mysql_native_password OR unix_socket".into())
        );
        let ed = parse_create_user("CREATE USER `a`@`%` IDENTIFIED VIA ed25519 USING 'x'").unwrap();
        assert_eq!(ed.plugin, Plugin::Other("ed25519".into()));
        // MySQL 8 quotes the plugin and shows the lock state either way.
        let mysql = parse_create_user(
            "CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x\\'y' \
             REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT",
        )
        .unwrap();
        assert_eq!(mysql.plugin, Plugin::Other("caching_sha2_password".into()));
        assert!(!mysql.locked);
        let mysql = parse_create_user(
            "CREATE USER `a`@`%` IDENTIFIED WITH 'mysql_native_password' AS '*AB' ACCOUNT LOCK",
        )
        .unwrap();
        assert_eq!(mysql.plugin, Plugin::Native);
        assert!(mysql.locked);
    }

    #[test]
    fn a_lock_inside_a_name_or_a_string_is_not_a_lock() {
        let line = "CREATE USER `ACCOUNT LOCK`@`%` IDENTIFIED BY PASSWORD '*AB' REQUIRE SUBJECT \
                    'ACCOUNT LOCK' COMMENT 'x ACCOUNT LOCK'";
        assert!(!parse_create_user(line).unwrap().locked);
        assert!(parse_create_user("GRANT USAGE ON *.* TO `a`@`%`").is_err());
    }

    #[test]
    fn pairs_are_each_others_partners() {
        assert_eq!(pair_base("app", "app_clone").unwrap(), "app");
        assert_eq!(pair_base("app_clone", "app").unwrap(), "app");
        let error = pair_base("a_clone_clone", "a_clone").unwrap_err();
        assert!(error.contains("`a_clone` is the partner of `a`"), "{error}");
        assert!(pair_base("app", "other_clone").is_err());
    }
}
