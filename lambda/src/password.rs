//! New passwords, generated in the function with the operating system's CSPRNG.
//!
//! Secrets Manager's GetRandomPassword would do the same job, but it costs a network call per
//! rotation, an IAM permission, and a route to the endpoint; the operating system's generator is
//! as strong and keeps the happy path to the calls the protocol needs. The character classes and
//! options mirror GetRandomPassword's, so the settings mean what users of AWS's templates expect.

use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::SecretString;

use crate::error::RotationError;
use rotation_contract::env;

use crate::engine::EngineFamily;

const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMBERS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub length: usize,
    pub exclude_characters: Option<String>,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

impl PasswordPolicy {
    pub const MIN_LENGTH: usize = env::PASSWORD_LENGTH.min as usize;
    /// GetRandomPassword's own limit, and the longest any engine here accepts.
    pub const MAX_LENGTH: usize = env::PASSWORD_LENGTH.max as usize;

    /// The character classes left after the exclusions, for one engine.
    fn classes(&self, engine: EngineFamily) -> Vec<Vec<char>> {
        let exclude = self
            .exclude_characters
            .as_deref()
            .unwrap_or(env::default_exclude_characters(engine));
        [
            (LOWERCASE, self.exclude_lowercase),
            (UPPERCASE, self.exclude_uppercase),
            (NUMBERS, self.exclude_numbers),
            (PUNCTUATION, self.exclude_punctuation),
        ]
        .into_iter()
        .filter(|(_, excluded)| !excluded)
        .map(|(class, _)| {
            class
                .chars()
                .filter(|c| !exclude.contains(*c))
                .collect::<Vec<_>>()
        })
        .filter(|class| !class.is_empty())
        .collect()
    }

    /// Refuses a policy that cannot produce a password for every engine.
    pub fn check(&self) -> Result<(), RotationError> {
        for engine in [EngineFamily::Postgres, EngineFamily::MySql] {
            let classes = self.classes(engine);
            if classes.is_empty() {
                return Err(RotationError::Config {
                    var: "EXCLUDE_CHARACTERS",
                    problem: "and the EXCLUDE_* flags leave no character left to build a \
                              password from; allow at least one character class"
                        .into(),
                });
            }
            if self.require_each_included_type && classes.len() > self.length {
                return Err(RotationError::Config {
                    var: "PASSWORD_LENGTH",
                    problem: format!(
                        "is {} but REQUIRE_EACH_INCLUDED_TYPE needs one character of each of {} classes",
                        self.length,
                        classes.len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// A fresh password for `engine`.
    pub fn generate(&self, engine: EngineFamily) -> Result<SecretString, RotationError> {
        let longest = engine.longest_password();
        if self.length as u64 > longest {
            return Err(RotationError::Config {
                var: env::PASSWORD_LENGTH.name,
                problem: format!(
                    "is {} but {} accepts passwords of at most {longest} characters; set it to \
                     {longest} or less",
                    self.length,
                    engine.product()
                ),
            });
        }
        let classes = self.classes(engine);
        let alphabet: Vec<char> = classes.iter().flatten().copied().collect();
        // Rejection sampling keeps every character uniform over the alphabet; a password that
        // misses a required class is drawn again rather than patched, which would bias it.
        loop {
            let mut password = String::with_capacity(self.length);
            for _ in 0..self.length {
                password.push(alphabet[uniform_index(alphabet.len())?]);
            }
            let complete = !self.require_each_included_type
                || classes
                    .iter()
                    .all(|class| password.chars().any(|c| class.contains(&c)));
            if complete {
                return Ok(SecretString::from(password));
            }
        }
    }
}

/// An index below `n`, uniform, from the operating system's generator.
fn uniform_index(n: usize) -> Result<usize, RotationError> {
    let n = n as u32;
    // Largest multiple of n that fits in u32: draws above it are rejected to avoid modulo bias.
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let draw = OsRng.try_next_u32().map_err(|e| RotationError::Config {
            var: "PASSWORD_LENGTH",
            problem: format!("cannot be honoured: the system random generator failed: {e}"),
        })?;
        if draw < zone {
            return Ok((draw % n) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            length: 32,
            exclude_characters: None,
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }

    #[test]
    fn default_exclusions_depend_on_the_engine() {
        for _ in 0..200 {
            let pg = policy().generate(EngineFamily::Postgres).unwrap();
            assert!(
                !pg.expose_secret()
                    .contains(['/', '@', '"', '\'', '\\', ':'])
            );
            let my = policy().generate(EngineFamily::MySql).unwrap();
            assert!(!my.expose_secret().contains(['/', '@', '"', '\'', '\\']));
        }
        // MySQL keeps `:` available.
        let found_colon = (0..500).any(|_| {
            policy()
                .generate(EngineFamily::MySql)
                .unwrap()
                .expose_secret()
                .contains(':')
        });
        assert!(found_colon);
    }

    #[test]
    fn length_and_classes_are_honoured() {
        let mut p = policy();
        p.length = 12;
        for _ in 0..200 {
            let pw = p.generate(EngineFamily::MySql).unwrap();
            let pw = pw.expose_secret();
            assert_eq!(pw.chars().count(), 12);
            assert!(pw.chars().any(|c| c.is_ascii_lowercase()));
            assert!(pw.chars().any(|c| c.is_ascii_uppercase()));
            assert!(pw.chars().any(|c| c.is_ascii_digit()));
            assert!(pw.chars().any(|c| c.is_ascii_punctuation()));
        }
    }

    #[test]
    fn exclusions_are_honoured() {
        let mut p = policy();
        p.exclude_punctuation = true;
        p.exclude_uppercase = true;
        p.exclude_characters = Some("abc".into());
        for _ in 0..200 {
            let pw = p.generate(EngineFamily::Postgres).unwrap();
            assert!(
                pw.expose_secret()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
            assert!(!pw.expose_secret().contains(['a', 'b', 'c']));
        }
    }

    #[test]
    fn passwords_differ() {
        let a = policy().generate(EngineFamily::Postgres).unwrap();
        let b = policy().generate(EngineFamily::Postgres).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn each_engine_bounds_the_length() {
        let mut p = policy();
        p.length = 300;
        let error = p.generate(EngineFamily::MySql).unwrap_err();
        assert_eq!(error.kind(), "InvalidConfiguration");
        assert!(
            error.to_string().contains("PASSWORD_LENGTH") && error.to_string().contains("256"),
            "{error}"
        );
        assert_eq!(
            p.generate(EngineFamily::Postgres)
                .unwrap()
                .expose_secret()
                .len(),
            300
        );
        p.length = 256;
        assert!(p.generate(EngineFamily::MySql).is_ok());
    }

    #[test]
    fn impossible_requirements_are_refused() {
        let mut p = policy();
        p.length = 3;
        assert!(
            p.check()
                .unwrap_err()
                .to_string()
                .contains("REQUIRE_EACH_INCLUDED_TYPE")
        );
    }
}
