//! `SHOW GRANTS` lines, read into a structure.
//!
//! Copying a user to its partner replays the user's grants, and refusing a partner that holds
//! more than the user compares two users' grants privilege by privilege. Both need to know
//! what each line means, not just its text: a line this module does not understand is an
//! error naming the line (with any password hash cut off), never a line replayed or compared
//! blindly. The session that reads the lines pins its `sql_mode` first, so identifiers come in
//! backticks and string literals with the default escapes, whatever the server's global mode.
//!
//! The module is split by concern: the structure of a line here, `tokenize` the characters,
//! `parse` the tokens, and `compare` two users' lines (what one holds beyond the other,
//! what a master cannot grant).

mod compare;
mod parse;
mod tokenize;

pub use compare::{excess, ungrantable, writes_schema};
pub use parse::parse;
pub(super) use tokenize::{Tok, tokenize};

use std::fmt;

/// A `user@host` as the server printed it: `raw` is the text, `user`/`host` the decoded names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub raw: String,
    pub user: String,
    pub host: Option<String>,
}

impl Account {
    /// Whether this is the account `user`@`host`. MariaDB doubles backslashes inside the
    /// backticks of SHOW GRANTS without reading them back that way, so both forms count.
    pub fn is(&self, user: &str, host: &str) -> bool {
        let same = |shown: &str, name: &str| shown == name || shown == name.replace('\\', "\\\\");
        same(&self.user, user) && self.host.as_deref().is_some_and(|h| same(h, host))
    }
}

/// One privilege, with its columns for a column privilege (`SELECT (`a`, `b`)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    /// Upper case, words separated by one space: `SELECT`, `ALTER ROUTINE`, `ALL PRIVILEGES`.
    pub name: String,
    /// Decoded column names; empty for a privilege on the whole object.
    pub columns: Vec<String>,
}

impl Privilege {
    fn render(&self) -> String {
        if self.columns.is_empty() {
            self.name.clone()
        } else {
            let columns: Vec<String> = self
                .columns
                .iter()
                .map(|c| super::quote_identifier(c))
                .collect();
            format!("{} ({})", self.name, columns.join(", "))
        }
    }

    fn is_all(&self) -> bool {
        self.name == "ALL PRIVILEGES" || self.name == "ALL"
    }
}

/// What a privilege is on: `*.*`, `` `d`.* ``, `` PROCEDURE `d`.`p` ``, as the server wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// `FUNCTION`, `PROCEDURE`, `PACKAGE`, `PACKAGE BODY` or `TABLE`; `None` when not shown.
    pub kind: Option<String>,
    pub db: String,
    pub name: String,
}

impl Object {
    pub fn is_global(&self) -> bool {
        self.kind.is_none() && self.db == "*" && self.name == "*"
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kind) = &self.kind {
            write!(f, "{kind} ")?;
        }
        write!(f, "{}.{}", self.db, self.name)
    }
}

/// A TLS requirement of an account, as `REQUIRE` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Requirement {
    #[default]
    None,
    Ssl,
    X509,
    /// `REQUIRE SUBJECT '..' AND ISSUER '..' AND CIPHER '..'`, any of them.
    Specified {
        subject: Option<String>,
        issuer: Option<String>,
        cipher: Option<String>,
    },
}

impl Requirement {
    /// How much the requirement asks of a client: TLS, then a certificate, then a named one.
    fn rank(&self) -> u8 {
        match self {
            Self::None => 0,
            Self::Ssl => 1,
            Self::X509 => 2,
            Self::Specified { .. } => 3,
        }
    }

    /// Whether giving an account `self` in place of `other` asks no less of its clients: the
    /// same requirement, or a stricter kind. Two different specified requirements cannot be
    /// ordered, so neither is at least the other.
    pub fn at_least(&self, other: &Self) -> bool {
        self == other || self.rank() > other.rank()
    }

    /// The text after `REQUIRE`, with strings quoted for the session.
    pub fn clause(&self, no_backslash_escapes: bool) -> String {
        match self {
            Self::None => "NONE".into(),
            Self::Ssl => "SSL".into(),
            Self::X509 => "X509".into(),
            Self::Specified {
                subject,
                issuer,
                cipher,
            } => {
                let parts: Vec<String> =
                    [("SUBJECT", subject), ("ISSUER", issuer), ("CIPHER", cipher)]
                        .into_iter()
                        .filter_map(|(k, v)| {
                            v.as_deref().map(|v| {
                                format!("{k} {}", super::quote_string(v, no_backslash_escapes))
                            })
                        })
                        .collect();
                if parts.is_empty() {
                    // A specified requirement with nothing specified asks for TLS only.
                    "SSL".into()
                } else {
                    parts.join(" AND ")
                }
            }
        }
    }
}

/// One line of `SHOW GRANTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `GRANT privs ON obj TO grantee [IDENTIFIED ...] [REQUIRE ...] [WITH ...]`.
    Grant {
        privileges: Vec<Privilege>,
        object: Object,
        grantee: Account,
        require: Option<Requirement>,
        grant_option: bool,
        /// `MAX_QUERIES_PER_HOUR 10` and the like, as (name, value).
        limits: Vec<(String, String)>,
    },
    /// `GRANT role[, role] TO grantee [WITH ADMIN OPTION]`.
    Roles {
        roles: Vec<Account>,
        grantee: Account,
        admin_option: bool,
    },
    /// `GRANT PROXY ON account TO grantee [WITH GRANT OPTION]`.
    Proxy {
        proxied: Account,
        grantee: Account,
        grant_option: bool,
    },
    /// `REVOKE privs ON obj FROM grantee`: a partial revoke (MySQL 8 `partial_revokes=ON`).
    Revoke {
        privileges: Vec<Privilege>,
        object: Object,
        grantee: Account,
    },
    /// `SET DEFAULT ROLE role|NONE FOR grantee` (MariaDB).
    DefaultRole {
        roles: Vec<Account>,
        grantee: Account,
    },
}

impl Line {
    pub fn grantee(&self) -> &Account {
        match self {
            Self::Grant { grantee, .. }
            | Self::Roles { grantee, .. }
            | Self::Proxy { grantee, .. }
            | Self::Revoke { grantee, .. }
            | Self::DefaultRole { grantee, .. } => grantee,
        }
    }

    /// The statement that gives `account` what this line gives its grantee. The password hash
    /// and the TLS requirement are left out: the caller sets both on their own.
    pub fn replay_for(&self, account: &str) -> String {
        let privileges = |p: &[Privilege]| {
            p.iter()
                .map(Privilege::render)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Grant {
                privileges: p,
                object,
                grant_option,
                limits,
                ..
            } => {
                let mut sql = format!("GRANT {} ON {object} TO {account}", privileges(p));
                let mut with = Vec::new();
                if *grant_option {
                    with.push("GRANT OPTION".to_owned());
                }
                with.extend(limits.iter().map(|(k, v)| format!("{k} {v}")));
                if !with.is_empty() {
                    sql.push_str(" WITH ");
                    sql.push_str(&with.join(" "));
                }
                sql
            }
            Self::Roles {
                roles,
                admin_option,
                ..
            } => format!(
                "GRANT {} TO {account}{}",
                raws(roles),
                if *admin_option {
                    " WITH ADMIN OPTION"
                } else {
                    ""
                }
            ),
            Self::Proxy {
                proxied,
                grant_option,
                ..
            } => format!(
                "GRANT PROXY ON {} TO {account}{}",
                proxied.raw,
                if *grant_option {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ),
            Self::Revoke {
                privileges: p,
                object,
                ..
            } => format!("REVOKE {} ON {object} FROM {account}", privileges(p)),
            Self::DefaultRole { roles, .. } if roles.is_empty() => {
                format!("SET DEFAULT ROLE NONE FOR {account}")
            }
            Self::DefaultRole { roles, .. } => {
                format!("SET DEFAULT ROLE {} FOR {account}", raws(roles))
            }
        }
    }
}

fn raws(accounts: &[Account]) -> String {
    accounts
        .iter()
        .map(|a| a.raw.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A line cut before anything that may carry a password hash, for error messages.
pub fn redacted(line: &str) -> String {
    match line.to_ascii_uppercase().find(" IDENTIFIED ") {
        Some(at) => format!("{} IDENTIFIED ... (rest withheld)", &line[..at]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests;
