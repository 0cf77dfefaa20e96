//! The characters of a `SHOW GRANTS` line, as words, quoted identifiers, strings and punctuation.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::db::mysql) enum Tok {
    /// An unquoted word (keyword, privilege, number), upper-cased.
    Word(String),
    /// A backtick-quoted identifier: decoded, and as written.
    Ident(String, String),
    /// A single-quoted string: decoded, and as written.
    Str(String, String),
    Punct(char),
}

pub(in crate::db::mysql) fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
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
