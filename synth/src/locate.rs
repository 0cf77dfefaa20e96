//! Source positions for config paths.
//!
//! serde gives us typed values but forgets where they came from, and every
//! validation error must name the line a user has to edit. This module walks
//! the YAML event stream once and records, for each path such as
//! `databases[1].port`, the line where that key (or sequence item) starts.
//! Lookups fall back to the nearest recorded ancestor, so an error always
//! points at a real line of the file.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// Lines (1-based) of every key and sequence item in a YAML document.
#[derive(Debug, Default)]
pub struct Locator {
    lines: HashMap<String, usize>,
}

enum Frame {
    /// Inside a mapping: the path of the mapping and, once a key was read,
    /// the key whose value comes next.
    Map { path: String, key: Option<String> },
    /// Inside a sequence: the path of the sequence and the next index.
    Seq { path: String, next: usize },
}

impl Locator {
    /// Indexes `source`. A document that does not parse yields an empty
    /// index; serde reports the syntax error with its own position.
    pub fn new(source: &str) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            // The path of the node this event starts, if it is a value.
            let value_path = |stack: &mut Vec<Frame>| -> Option<String> {
                match stack.last_mut() {
                    None => Some(String::new()),
                    Some(Frame::Map { path, key }) => key.take().map(|k| join(path, &k)),
                    Some(Frame::Seq { path, next }) => {
                        let p = format!("{path}[{next}]");
                        *next += 1;
                        Some(p)
                    }
                }
            };
            match event {
                Event::Scalar(text, ..) => {
                    if let Some(Frame::Map { path, key }) = stack.last_mut()
                        && key.is_none()
                    {
                        lines.entry(join(path, &text)).or_insert(line);
                        *key = Some(text.into_owned());
                        continue;
                    }
                    if let Some(p) = value_path(&mut stack) {
                        lines.entry(p).or_insert(line);
                    }
                }
                Event::Alias(_) => {
                    value_path(&mut stack);
                }
                Event::MappingStart(..) => {
                    let p = value_path(&mut stack).unwrap_or_default();
                    lines.entry(p.clone()).or_insert(line);
                    stack.push(Frame::Map { path: p, key: None });
                }
                Event::SequenceStart(..) => {
                    let p = value_path(&mut stack).unwrap_or_default();
                    lines.entry(p.clone()).or_insert(line);
                    stack.push(Frame::Seq { path: p, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        Locator { lines }
    }

    /// The line of `path`, or of its nearest recorded ancestor, or 1.
    pub fn line(&self, path: &str) -> usize {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return *line;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.lines.get("").copied().unwrap_or(1),
            }
        }
    }
}

/// `parent.child`, or `child` at the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_items() {
        let src = "name: a\nlist:\n  - x: 1\n    y: 2\n  - x: 3\nflow: {a: 1,\n  b: 2}\n";
        let loc = Locator::new(src);
        assert_eq!(loc.line("name"), 1);
        assert_eq!(loc.line("list"), 2);
        assert_eq!(loc.line("list[0]"), 3);
        assert_eq!(loc.line("list[0].y"), 4);
        assert_eq!(loc.line("list[1].x"), 5);
        assert_eq!(loc.line("flow.b"), 7);
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(loc.line("list[1].missing"), 5);
    }
}
