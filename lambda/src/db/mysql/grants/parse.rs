//! The tokens of a `SHOW GRANTS` line, read into a [`Line`].

use super::tokenize::{Tok, tokenize};
use super::*;

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
