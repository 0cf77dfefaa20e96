//! `SHOW GRANTS` lines, read into a structure.
//!
//! Copying a user to its partner replays the user's grants, and refusing a partner that holds
//! more than the user compares two users' grants privilege by privilege. Both need to know
//! what each line means, not just its text: a line this module does not understand is an
//! error naming the line (with any password hash cut off), never a line replayed or compared
//! blindly. The session that reads the lines pins its `sql_mode` first, so identifiers come in
//! backticks and string literals with the default escapes, whatever the server's global mode.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// An unquoted word (keyword, privilege, number), upper-cased.
    Word(String),
    /// A backtick-quoted identifier: decoded, and as written.
    Ident(String, String),
    /// A single-quoted string: decoded, and as written.
    Str(String, String),
    Punct(char),
}

pub(super) fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '`' {
            let start = i;
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated `identifier`".into()),
                    Some('`') if chars.get(i + 1) == Some(&'`') => {
                        value.push('`');
                        i += 2;
                    }
                    Some('`') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            tokens.push(Tok::Ident(value, chars[start..i].iter().collect()));
        } else if c == '\'' {
            let start = i;
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated 'string'".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = *chars.get(i + 1).ok_or("an unterminated 'string'")?;
                        value.push(match escaped {
                            '0' => '\0',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'b' => '\u{8}',
                            'Z' => '\u{1a}',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            tokens.push(Tok::Str(value, chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Tok::Word(word.to_ascii_uppercase()));
        } else if matches!(c, ',' | '(' | ')' | '.' | '@' | '*') {
            tokens.push(Tok::Punct(c));
            i += 1;
        } else {
            return Err(format!("an unexpected character `{c}`"));
        }
    }
    Ok(tokens)
}

/// `WITH GRANT OPTION`, `WITH ADMIN OPTION` and the resource limits of a line.
type WithOptions = (bool, bool, Vec<(String, String)>);

struct Parser {
    tokens: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<Tok> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word(word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(format!("expected {word}"))
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    /// `name` or `name`@`host`, quoted either way.
    fn account(&mut self) -> Result<Account, String> {
        let part = |token: Option<Tok>| match token {
            Some(Tok::Ident(value, raw)) | Some(Tok::Str(value, raw)) => Ok((value, raw)),
            _ => Err("expected an account name".to_owned()),
        };
        let (user, mut raw) = part(self.next())?;
        let mut host = None;
        if self.eat_punct('@') {
            let (h, h_raw) = part(self.next())?;
            raw = format!("{raw}@{h_raw}");
            host = Some(h);
        }
        Ok(Account { raw, user, host })
    }

    fn accounts(&mut self) -> Result<Vec<Account>, String> {
        let mut accounts = vec![self.account()?];
        while self.eat_punct(',') {
            accounts.push(self.account()?);
        }
        Ok(accounts)
    }

    /// Privileges up to (not including) `ON`.
    fn privileges(&mut self) -> Result<Vec<Privilege>, String> {
        let mut privileges = Vec::new();
        loop {
            let mut words = Vec::new();
            while let Some(Tok::Word(w)) = self.peek() {
                if w == "ON" {
                    break;
                }
                words.push(w.clone());
                self.at += 1;
            }
            if words.is_empty() {
                return Err("expected a privilege".into());
            }
            let mut columns = Vec::new();
            if self.eat_punct('(') {
                loop {
                    match self.next() {
                        Some(Tok::Ident(value, _)) => columns.push(value),
                        _ => return Err("expected a column name".into()),
                    }
                    if self.eat_punct(')') {
                        break;
                    }
                    if !self.eat_punct(',') {
                        return Err("expected `,` or `)` in a column list".into());
                    }
                }
            }
            privileges.push(Privilege {
                name: words.join(" "),
                columns,
            });
            if !self.eat_punct(',') {
                return Ok(privileges);
            }
        }
    }

    fn object(&mut self) -> Result<Object, String> {
        let mut kind = None;
        for k in ["FUNCTION", "PROCEDURE", "TABLE"] {
            if self.eat_word(k) {
                kind = Some(k.to_owned());
            }
        }
        if self.eat_word("PACKAGE") {
            kind = Some(if self.eat_word("BODY") {
                "PACKAGE BODY".to_owned()
            } else {
                "PACKAGE".to_owned()
            });
        }
        let part = |token: Option<Tok>| match token {
            Some(Tok::Punct('*')) => Ok("*".to_owned()),
            Some(Tok::Ident(_, raw)) => Ok(raw),
            _ => Err("expected a database or object name".to_owned()),
        };
        let db = part(self.next())?;
        if !self.eat_punct('.') {
            return Err("expected `.` in the object name".into());
        }
        let name = part(self.next())?;
        Ok(Object { kind, db, name })
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.eat_word("NONE") {
            return Ok(Requirement::None);
        }
        if self.eat_word("SSL") {
            return Ok(Requirement::Ssl);
        }
        if self.eat_word("X509") {
            return Ok(Requirement::X509);
        }
        let (mut subject, mut issuer, mut cipher) = (None, None, None);
        loop {
            let slot = if self.eat_word("SUBJECT") {
                &mut subject
            } else if self.eat_word("ISSUER") {
                &mut issuer
            } else if self.eat_word("CIPHER") {
                &mut cipher
            } else {
                break;
            };
            match self.next() {
                Some(Tok::Str(value, _)) => *slot = Some(value),
                _ => return Err("expected a string after SUBJECT, ISSUER or CIPHER".into()),
            }
            self.eat_word("AND");
        }
        if subject.is_none() && issuer.is_none() && cipher.is_none() {
            return Err("expected a TLS requirement after REQUIRE".into());
        }
        Ok(Requirement::Specified {
            subject,
            issuer,
            cipher,
        })
    }

    /// `WITH GRANT OPTION`, `WITH ADMIN OPTION`, resource limits; returns (grant or admin
    /// option, limits).
    fn with_options(&mut self) -> Result<WithOptions, String> {
        let (mut grant, mut admin, mut limits) = (false, false, Vec::new());
        if !self.eat_word("WITH") {
            return Ok((grant, admin, limits));
        }
        loop {
            if self.eat_word("GRANT") {
                self.expect_word("OPTION")?;
                grant = true;
            } else if self.eat_word("ADMIN") {
                self.expect_word("OPTION")?;
                admin = true;
            } else if let Some(Tok::Word(name)) = self.peek().cloned()
                && name.starts_with("MAX_")
            {
                self.at += 1;
                let mut value = match self.next() {
                    Some(Tok::Word(v)) if v.chars().all(|c| c.is_ascii_digit()) => v,
                    _ => return Err(format!("expected a number after {name}")),
                };
                if self.eat_punct('.') {
                    match self.next() {
                        Some(Tok::Word(v)) if v.chars().all(|c| c.is_ascii_digit()) => {
                            value = format!("{value}.{v}");
                        }
                        _ => return Err(format!("expected a number after {name}")),
                    }
                }
                limits.push((name, value));
            } else {
                break;
            }
        }
        Ok((grant, admin, limits))
    }

    /// Skips `IDENTIFIED ...` up to `REQUIRE`, `WITH` or the end: it only carries the hash.
    fn skip_identified(&mut self) {
        if self.eat_word("IDENTIFIED") {
            while !self.done() && !self.peek_word("REQUIRE") && !self.peek_word("WITH") {
                self.at += 1;
            }
        }
    }

    fn line(&mut self) -> Result<Line, String> {
        if self.eat_word("SET") {
            self.expect_word("DEFAULT")?;
            self.expect_word("ROLE")?;
            let roles = if self.eat_word("NONE") {
                Vec::new()
            } else {
                self.accounts()?
            };
            self.expect_word("FOR")?;
            let grantee = self.account()?;
            return Ok(Line::DefaultRole { roles, grantee });
        }
        if self.eat_word("REVOKE") {
            let privileges = self.privileges()?;
            self.expect_word("ON")?;
            let object = self.object()?;
            self.expect_word("FROM")?;
            let grantee = self.account()?;
            return Ok(Line::Revoke {
                privileges,
                object,
                grantee,
            });
        }
        self.expect_word("GRANT")?;
        if self.peek_word("PROXY") && self.tokens.get(self.at + 1) == Some(&Tok::Word("ON".into()))
        {
            self.at += 2;
            let proxied = self.account()?;
            self.expect_word("TO")?;
            let grantee = self.account()?;
            let (grant_option, admin, limits) = self.with_options()?;
            if admin || !limits.is_empty() {
                return Err("unexpected options on a PROXY grant".into());
            }
            return Ok(Line::Proxy {
                proxied,
                grantee,
                grant_option,
            });
        }
        if matches!(self.peek(), Some(Tok::Ident(..)) | Some(Tok::Str(..))) {
            let roles = self.accounts()?;
            self.expect_word("TO")?;
            let grantee = self.account()?;
            let (grant, admin_option, limits) = self.with_options()?;
            if grant || !limits.is_empty() {
                return Err("unexpected options on a role grant".into());
            }
            return Ok(Line::Roles {
                roles,
                grantee,
                admin_option,
            });
        }
        let privileges = self.privileges()?;
        self.expect_word("ON")?;
        let object = self.object()?;
        self.expect_word("TO")?;
        let grantee = self.account()?;
        self.skip_identified();
        let require = if self.eat_word("REQUIRE") {
            Some(self.requirement()?)
        } else {
            None
        };
        let (grant_option, admin, limits) = self.with_options()?;
        if admin {
            return Err("unexpected WITH ADMIN OPTION on a privilege grant".into());
        }
        Ok(Line::Grant {
            privileges,
            object,
            grantee,
            require,
            grant_option,
            limits,
        })
    }
}

/// Reads one `SHOW GRANTS` line. The error says what was expected, without the line.
pub fn parse(line: &str) -> Result<Line, String> {
    let mut parser = Parser {
        tokens: tokenize(line)?,
        at: 0,
    };
    let parsed = parser.line()?;
    if !parser.done() {
        return Err("unexpected text at the end".into());
    }
    Ok(parsed)
}

/// What `target`'s grants hold beyond `template`'s, each named, e.g. `SUPER ON *.*`.
///
/// Privileges are compared at the same level only: a table privilege of `target` counts as
/// beyond the template even when the template holds it on the whole database. That refuses
/// some harmless partners, never a dangerous one, and a partner made by this function always
/// holds the template's own lines.
pub fn excess(template: &[Line], target: &[Line]) -> Vec<String> {
    let mut found = Vec::new();
    let template_grants: Vec<(&Object, &[Privilege], bool)> = template
        .iter()
        .filter_map(|line| match line {
            Line::Grant {
                object,
                privileges,
                grant_option,
                ..
            } => Some((object, privileges.as_slice(), *grant_option)),
            _ => None,
        })
        .collect();
    let covered = |object: &Object, privilege: &Privilege| {
        template_grants
            .iter()
            .filter(|(o, _, _)| *o == object)
            .flat_map(|(_, p, _)| p.iter())
            .any(|held| {
                (held.is_all() && (!privilege.is_all() || held.columns.is_empty()))
                    || (held.name == privilege.name
                        && (held.columns.is_empty()
                            || privilege.columns.iter().all(|c| held.columns.contains(c))))
            })
    };
    for line in target {
        match line {
            Line::Grant {
                privileges,
                object,
                grant_option,
                ..
            } => {
                for privilege in privileges {
                    if privilege.name != "USAGE" && !covered(object, privilege) {
                        found.push(format!("{} ON {object}", privilege.render()));
                    }
                }
                if *grant_option
                    && !template_grants
                        .iter()
                        .any(|(o, _, option)| *o == object && *option)
                {
                    found.push(format!("WITH GRANT OPTION ON {object}"));
                }
            }
            Line::Roles {
                roles,
                admin_option,
                ..
            } => {
                for role in roles {
                    let held = template.iter().any(|t| match t {
                        Line::Roles {
                            roles: r,
                            admin_option: a,
                            ..
                        } => r.iter().any(|r| r.raw == role.raw) && (*a || !admin_option),
                        _ => false,
                    });
                    if !held {
                        let option = if *admin_option {
                            " WITH ADMIN OPTION"
                        } else {
                            ""
                        };
                        found.push(format!("role {}{option}", role.raw));
                    }
                }
            }
            Line::Proxy {
                proxied,
                grant_option,
                ..
            } => {
                let held = template.iter().any(|t| match t {
                    Line::Proxy {
                        proxied: p,
                        grant_option: g,
                        ..
                    } => p.raw == proxied.raw && (*g || !grant_option),
                    _ => false,
                });
                if !held {
                    found.push(format!("PROXY ON {}", proxied.raw));
                }
            }
            Line::Revoke { .. } | Line::DefaultRole { .. } => {}
        }
    }
    // A partial revoke of the template that the target lacks, while the target holds the
    // privilege globally: the target reaches what the template may not.
    let global = |lines: &[Line], name: &str| {
        lines.iter().any(|line| match line {
            Line::Grant {
                privileges, object, ..
            } => {
                object.is_global()
                    && privileges
                        .iter()
                        .any(|p| p.columns.is_empty() && (p.is_all() || p.name == name))
            }
            _ => false,
        })
    };
    for line in template {
        if let Line::Revoke {
            privileges, object, ..
        } = line
        {
            for privilege in privileges {
                let revoked_too = target.iter().any(|t| match t {
                    Line::Revoke {
                        privileges: p,
                        object: o,
                        ..
                    } => o == object && p.iter().any(|p| p.is_all() || p.name == privilege.name),
                    _ => false,
                });
                if global(target, &privilege.name) && !revoked_too {
                    found.push(format!(
                        "{} ON {object} (which the user's partial revoke excludes)",
                        privilege.name
                    ));
                }
            }
        }
    }
    found.dedup();
    found
}

/// A grant among `lines` that lets its holder write tables of `schema` (as a name, unquoted):
/// a writing privilege on `*.*`, on `schema`.*, or on one of its tables. `None` when there is
/// none. Grants through roles are not followed.
pub fn writes_schema(lines: &[Line], schema: &str) -> Option<String> {
    const WRITES: [&str; 9] = [
        "ALL",
        "ALL PRIVILEGES",
        "INSERT",
        "UPDATE",
        "DELETE",
        "DROP",
        "ALTER",
        "CREATE",
        "INDEX",
    ];
    let quoted = super::quote_identifier(schema);
    lines.iter().find_map(|line| match line {
        Line::Grant {
            privileges, object, ..
        } if object.is_global()
            || (matches!(object.kind.as_deref(), None | Some("TABLE")) && object.db == quoted) =>
        {
            privileges
                .iter()
                .find(|p| WRITES.contains(&p.name.as_str()))
                .map(|p| format!("{} ON {object}", p.render()))
        }
        _ => None,
    })
}

/// The privileges of `template` that `master` cannot grant: MySQL lets a user grant a privilege
/// it holds with the grant option on the same object or a level above it (`*.*`, then
/// `db.*`). Unlike [`excess`], levels count here, since this only decides what a preflight
/// reports, never what a rotation may change. Role and proxy grants are left to the server.
pub fn ungrantable(master: &[Line], template: &[Line]) -> Vec<String> {
    let held: Vec<(&Object, &[Privilege])> = master
        .iter()
        .filter_map(|line| match line {
            Line::Grant {
                object,
                privileges,
                grant_option: true,
                ..
            } => Some((object, privileges.as_slice())),
            _ => None,
        })
        .collect();
    let covers = |above: &Object, object: &Object| {
        above.is_global()
            || above == object
            || (above.kind.is_none() && above.name == "*" && above.db == object.db)
    };
    let mut found = Vec::new();
    for line in template {
        let Line::Grant {
            privileges, object, ..
        } = line
        else {
            continue;
        };
        for privilege in privileges {
            if privilege.name == "USAGE" {
                continue;
            }
            let granted = held.iter().any(|(above, p)| {
                covers(above, object)
                    && p.iter()
                        .any(|h| h.is_all() || (h.name == privilege.name && h.columns.is_empty()))
            });
            if !granted {
                found.push(format!("{} ON {object}", privilege.render()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(line: &str) -> Line {
        parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn excess_of(template: &[&str], target: &[&str]) -> Vec<String> {
        let t: Vec<Line> = template.iter().map(|l| grant(l)).collect();
        let x: Vec<Line> = target.iter().map(|l| grant(l)).collect();
        excess(&t, &x)
    }

    #[test]
    fn mariadb_usage_line_drops_the_hash_and_keeps_require_and_limits() {
        let line = grant(
            "GRANT RELOAD, SUPER ON *.* TO `zz`@`%` IDENTIFIED BY PASSWORD \
             '*0C1C6C1A0E909C674D37A42508DF354EC39FFA84' REQUIRE ISSUER '/CN=y' SUBJECT \
             '/CN=x''q' CIPHER 'ECDHE-RSA-AES256-GCM-SHA384' WITH MAX_QUERIES_PER_HOUR 10 \
             MAX_USER_CONNECTIONS 3",
        );
        let Line::Grant {
            require, limits, ..
        } = &line
        else {
            panic!("{line:?}")
        };
        assert_eq!(
            require.as_ref().unwrap(),
            &Requirement::Specified {
                subject: Some("/CN=x'q".into()),
                issuer: Some("/CN=y".into()),
                cipher: Some("ECDHE-RSA-AES256-GCM-SHA384".into()),
            }
        );
        assert_eq!(limits.len(), 2);
        let replay = line.replay_for("'b'@'%'");
        assert_eq!(
            replay,
            "GRANT RELOAD, SUPER ON *.* TO 'b'@'%' WITH MAX_QUERIES_PER_HOUR 10 \
             MAX_USER_CONNECTIONS 3"
        );
        assert!(!replay.contains("0C1C6C"));
        assert!(line.grantee().is("zz", "%"));
    }

    #[test]
    fn column_routine_role_proxy_and_default_role_lines() {
        let line = grant(
            "GRANT SELECT (`a`, `b`), INSERT (`a`) ON `d`.`t` TO `app`@`%` WITH GRANT OPTION",
        );
        assert_eq!(
            line.replay_for("X"),
            "GRANT SELECT (`a`, `b`), INSERT (`a`) ON `d`.`t` TO X WITH GRANT OPTION"
        );
        assert_eq!(
            grant("GRANT EXECUTE ON PROCEDURE `d`.`p` TO 'app'@'10.0.%'").replay_for("X"),
            "GRANT EXECUTE ON PROCEDURE `d`.`p` TO X"
        );
        assert_eq!(
            grant("GRANT EXECUTE ON PACKAGE BODY `d`.`p` TO `app`@`%`").replay_for("X"),
            "GRANT EXECUTE ON PACKAGE BODY `d`.`p` TO X"
        );
        assert_eq!(
            grant("GRANT `r1`, `r2` TO `app`@`%` WITH ADMIN OPTION").replay_for("X"),
            "GRANT `r1`, `r2` TO X WITH ADMIN OPTION"
        );
        // MySQL 8 roles carry a host.
        assert_eq!(
            grant("GRANT `r1`@`%`,`r2`@`localhost` TO `app`@`%`").replay_for("X"),
            "GRANT `r1`@`%`, `r2`@`localhost` TO X"
        );
        assert_eq!(
            grant("GRANT PROXY ON ``@`` TO `app`@`%` WITH GRANT OPTION").replay_for("X"),
            "GRANT PROXY ON ``@`` TO X WITH GRANT OPTION"
        );
        assert_eq!(
            grant("SET DEFAULT ROLE `r` FOR `app`@`%`").replay_for("X"),
            "SET DEFAULT ROLE `r` FOR X"
        );
        assert_eq!(
            grant("SET DEFAULT ROLE NONE FOR `app`@`%`").replay_for("X"),
            "SET DEFAULT ROLE NONE FOR X"
        );
    }

    #[test]
    fn mysql8_lines_with_dynamic_privileges_and_partial_revokes() {
        let line =
            grant("GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ADMIN,BACKUP_ADMIN ON *.* TO `app`@`%`");
        assert_eq!(
            line.replay_for("X"),
            "GRANT APPLICATION_PASSWORD_ADMIN, AUDIT_ADMIN, BACKUP_ADMIN ON *.* TO X"
        );
        let revoke = grant("REVOKE INSERT, UPDATE ON `mysql`.* FROM `app`@`%`");
        assert_eq!(
            revoke.replay_for("X"),
            "REVOKE INSERT, UPDATE ON `mysql`.* FROM X"
        );
        assert!(revoke.grantee().is("app", "%"));
        grant(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, ALTER ROUTINE ON `d`.* TO `app`@`%`",
        );
    }

    #[test]
    fn mariadb_backslash_doubled_names_are_the_user() {
        let line = grant("GRANT SELECT ON `d1`.* TO `we``i'rd\\\\x`@`%`");
        assert!(line.grantee().is("we`i'rd\\x", "%"));
        assert!(!line.grantee().is("other", "%"));
        assert_eq!(
            line.replay_for("'c'@'%'"),
            "GRANT SELECT ON `d1`.* TO 'c'@'%'"
        );
    }

    #[test]
    fn lines_not_understood_are_errors_and_redacted() {
        for line in [
            "GRANT SELECT ON d.t TO `a`@`%`",
            "GRANT ON *.* TO `a`@`%`",
            "GRANT SELECT ON *.* TO \"a\"@\"%\"",
            "GRANT SELECT ON *.* TO `a`@`%` EXTRA",
            "DENY SELECT ON *.* TO `a`@`%`",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        assert_eq!(
            redacted("GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*ABC' BOGUS"),
            "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED ... (rest withheld)"
        );
    }

    #[test]
    fn writers_of_a_schema_are_found() {
        let lines = |l: &[&str]| l.iter().map(|l| grant(l)).collect::<Vec<_>>();
        assert_eq!(
            writes_schema(
                &lines(&["GRANT SELECT, INSERT ON *.* TO `a`@`%`"]),
                "rotation_function"
            )
            .as_deref(),
            Some("INSERT ON *.*")
        );
        assert_eq!(
            writes_schema(
                &lines(&["GRANT UPDATE ON `rotation_function`.`alternating_pairs` TO `a`@`%`"]),
                "rotation_function"
            )
            .as_deref(),
            Some("UPDATE ON `rotation_function`.`alternating_pairs`")
        );
        assert!(
            writes_schema(
                &lines(&[
                    "GRANT SELECT ON *.* TO `a`@`%`",
                    "GRANT ALL PRIVILEGES ON `app`.* TO `a`@`%`",
                    "GRANT EXECUTE ON PROCEDURE `rotation_function`.`p` TO `a`@`%`",
                ]),
                "rotation_function"
            )
            .is_none()
        );
    }

    #[test]
    fn requirements_are_ordered_by_what_they_ask() {
        let specified = |subject: &str| Requirement::Specified {
            subject: Some(subject.into()),
            issuer: None,
            cipher: None,
        };
        assert!(Requirement::Ssl.at_least(&Requirement::None));
        assert!(Requirement::X509.at_least(&Requirement::Ssl));
        assert!(specified("/CN=a").at_least(&Requirement::X509));
        assert!(specified("/CN=a").at_least(&specified("/CN=a")));
        assert!(Requirement::None.at_least(&Requirement::None));
        assert!(!Requirement::Ssl.at_least(&Requirement::X509));
        assert!(!Requirement::None.at_least(&Requirement::Ssl));
        assert!(!specified("/CN=a").at_least(&specified("/CN=b")));
        assert!(!Requirement::X509.at_least(&specified("/CN=a")));
    }

    #[test]
    fn requirements_render_every_form() {
        assert_eq!(Requirement::None.clause(false), "NONE");
        assert_eq!(Requirement::Ssl.clause(false), "SSL");
        assert_eq!(Requirement::X509.clause(false), "X509");
        let specified = Requirement::Specified {
            subject: Some("/CN=a'b\\".into()),
            issuer: None,
            cipher: Some("AES".into()),
        };
        assert_eq!(
            specified.clause(false),
            "SUBJECT '/CN=a''b\\\\' AND CIPHER 'AES'"
        );
        assert_eq!(
            specified.clause(true),
            "SUBJECT '/CN=a''b\\' AND CIPHER 'AES'"
        );
    }

    #[test]
    fn privileges_are_compared_privilege_by_privilege() {
        let template = [
            "GRANT USAGE ON *.* TO `a`@`%`",
            "GRANT SELECT, INSERT ON `d`.`t` TO `a`@`%`",
            "GRANT SELECT (`x`, `y`) ON `d`.`u` TO `a`@`%`",
            "GRANT ALL PRIVILEGES ON `e`.* TO `a`@`%`",
        ];
        let none: [&str; 0] = [];
        assert!(
            excess_of(
                &template,
                &[
                    "GRANT USAGE ON *.* TO `b`@`%`",
                    "GRANT SELECT ON `d`.`t` TO `b`@`%`",
                    "GRANT SELECT (`y`) ON `d`.`u` TO `b`@`%`",
                    "GRANT DROP, ALTER ON `e`.* TO `b`@`%`",
                ]
            )
            .is_empty()
        );
        assert!(excess_of(&template, &none).is_empty());
        assert_eq!(
            excess_of(
                &template,
                &[
                    "GRANT RELOAD, SUPER ON *.* TO `b`@`%`",
                    "GRANT SELECT, DELETE ON `d`.`t` TO `b`@`%` WITH GRANT OPTION",
                    "GRANT SELECT (`z`) ON `d`.`u` TO `b`@`%`",
                    "GRANT SELECT ON `d`.* TO `b`@`%`",
                ]
            ),
            [
                "RELOAD ON *.*",
                "SUPER ON *.*",
                "DELETE ON `d`.`t`",
                "WITH GRANT OPTION ON `d`.`t`",
                "SELECT (`z`) ON `d`.`u`",
                "SELECT ON `d`.*",
            ]
        );
        // ALL PRIVILEGES is only covered by ALL PRIVILEGES.
        assert_eq!(
            excess_of(&template, &["GRANT ALL PRIVILEGES ON `d`.`t` TO `b`@`%`"]),
            ["ALL PRIVILEGES ON `d`.`t`"]
        );
    }

    #[test]
    fn roles_and_proxies_beyond_the_template_are_found() {
        let template = ["GRANT `r1` TO `a`@`%`", "GRANT PROXY ON `p`@`%` TO `a`@`%`"];
        assert!(
            excess_of(
                &template,
                &["GRANT `r1` TO `b`@`%`", "GRANT PROXY ON `p`@`%` TO `b`@`%`"]
            )
            .is_empty()
        );
        assert_eq!(
            excess_of(
                &template,
                &[
                    "GRANT `r1` TO `b`@`%` WITH ADMIN OPTION",
                    "GRANT `r2` TO `b`@`%`",
                    "GRANT PROXY ON `root`@`localhost` TO `b`@`%`",
                    "GRANT PROXY ON `p`@`%` TO `b`@`%` WITH GRANT OPTION",
                ]
            ),
            [
                "role `r1` WITH ADMIN OPTION",
                "role `r2`",
                "PROXY ON `root`@`localhost`",
                "PROXY ON `p`@`%`",
            ]
        );
    }

    #[test]
    fn a_missing_partial_revoke_is_beyond_the_template() {
        // MySQL 8 with partial_revokes=ON.
        let template = [
            "GRANT SELECT, INSERT ON *.* TO `a`@`%`",
            "REVOKE INSERT ON `mysql`.* FROM `a`@`%`",
        ];
        assert!(
            excess_of(
                &template,
                &[
                    "GRANT SELECT, INSERT ON *.* TO `b`@`%`",
                    "REVOKE INSERT ON `mysql`.* FROM `b`@`%`",
                ]
            )
            .is_empty()
        );
        assert_eq!(
            excess_of(&template, &["GRANT SELECT, INSERT ON *.* TO `b`@`%`"]),
            ["INSERT ON `mysql`.* (which the user's partial revoke excludes)"]
        );
    }

    #[test]
    fn a_master_grants_what_it_holds_with_the_grant_option_at_or_above_the_object() {
        let template = [
            grant("GRANT SELECT, INSERT ON `app`.`orders` TO `app`@`%`"),
            grant("GRANT SELECT (`name`) ON `app`.`salaries` TO `app`@`%`"),
            grant("GRANT USAGE ON *.* TO `app`@`%`"),
        ];
        let all = [grant(
            "GRANT ALL PRIVILEGES ON *.* TO `admin`@`%` WITH GRANT OPTION",
        )];
        assert!(ungrantable(&all, &template).is_empty());
        let on_db = [grant(
            "GRANT SELECT, INSERT ON `app`.* TO `admin`@`%` WITH GRANT OPTION",
        )];
        assert!(ungrantable(&on_db, &template).is_empty());
        let without_option = [grant("GRANT ALL PRIVILEGES ON *.* TO `admin`@`%`")];
        assert_eq!(ungrantable(&without_option, &template).len(), 3);
        let other_db = [grant(
            "GRANT SELECT ON `other`.* TO `admin`@`%` WITH GRANT OPTION",
        )];
        assert_eq!(
            ungrantable(&other_db, &template),
            [
                "SELECT ON `app`.`orders`",
                "INSERT ON `app`.`orders`",
                "SELECT (`name`) ON `app`.`salaries`"
            ]
        );
    }
}
