//! Is the committed template still what the config renders to?
//!
//! Templates are committed so reviewers read the CloudFormation a change
//! produces. A template edited by hand, or a config changed without
//! re-rendering, would make that review a lie; `synth check` fails on it and
//! shows what differs.

use similar::TextDiff;

/// `None` when `committed` equals `rendered`, else a unified diff from the
/// committed file to what it should be.
pub fn stale_diff(committed: &str, rendered: &str, committed_name: &str) -> Option<String> {
    if committed == rendered {
        return None;
    }
    let diff = TextDiff::from_lines(committed, rendered)
        .unified_diff()
        .context_radius(3)
        .header(committed_name, "rendered from the config")
        .to_string();
    Some(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_is_fresh_and_different_shows_lines() {
        assert_eq!(stale_diff("a\nb\n", "a\nb\n", "t.yaml"), None);
        let diff = stale_diff("a\nb\n", "a\nc\n", "t.yaml").unwrap();
        assert!(diff.contains("-b\n") && diff.contains("+c\n"), "{diff}");
        assert!(diff.contains("--- t.yaml"), "{diff}");
    }
}
