//! A diff as text, JSON or GitHub Actions workflow commands.

use super::{Change, Diff, Direction, Version};
use crate::report::{data, property};

fn place(v: &Version) -> String {
    match &v.at {
        Some(p) => format!(" ({}:{}:{})", p.file, p.line, p.column),
        None => String::new(),
    }
}

fn summary(d: &Diff) -> String {
    let n = d.changes.len();
    format!(
        "{n} change{}: {} loosen, {} tighten, {} direction unknown, {} dry-run only",
        if n == 1 { "" } else { "s" },
        d.count(Direction::Loosens),
        d.count(Direction::Tightens),
        d.count(Direction::Unknown),
        d.count(Direction::Neutral),
    )
}

fn subject(c: &Change) -> String {
    match &c.policy {
        Some(p) if c.item != format!("policy {p}") => format!("policy {p}: {}", c.item),
        Some(p) => format!("policy {p}"),
        None => c.item.clone(),
    }
}

/// One paragraph per change, then a summary line.
pub fn to_text(d: &Diff) -> String {
    let mut out = String::new();
    for c in &d.changes {
        out.push_str(&format!(
            "{}: {}: {} [{}]\n",
            c.direction.as_str(),
            subject(c),
            c.message,
            c.kind
        ));
        if let Some(v) = &c.old {
            out.push_str(&format!("  old: {}{}\n", v.text, place(v)));
        }
        if let Some(v) = &c.new {
            out.push_str(&format!("  new: {}{}\n", v.text, place(v)));
        }
        if let Some(w) = &c.witness {
            out.push_str(&format!(
                "  witness: old {}, new {}: {}\n",
                w.old_decision.as_str(),
                w.new_decision.as_str(),
                w.snapshot
            ));
        }
    }
    out.push_str(&summary(d));
    out.push('\n');
    out
}

/// `{"changes": [...], "summary": {...}}`, the shape `docs/diff.md` documents.
pub fn to_json(d: &Diff) -> String {
    let doc = serde_json::json!({
        "changes": d.changes,
        "summary": {
            "loosens": d.count(Direction::Loosens),
            "tightens": d.count(Direction::Tightens),
            "unknown": d.count(Direction::Unknown),
            "neutral": d.count(Direction::Neutral),
        },
    });
    serde_json::to_string_pretty(&doc).expect("a diff is plain data") + "\n"
}

/// One workflow command per change, on the new version's line (the old one's for a removal):
/// `error` for what `--deny loosening` refuses when it is given, `warning` for the rest, `notice`
/// for dry-run-only changes.
pub fn to_github(d: &Diff, deny_loosening: bool) -> String {
    let mut out = String::new();
    for c in &d.changes {
        let level = match c.direction {
            Direction::Loosens | Direction::Unknown if deny_loosening => "error",
            Direction::Neutral => "notice",
            _ => "warning",
        };
        let at = c
            .new
            .as_ref()
            .and_then(|v| v.at.as_ref())
            .or_else(|| c.old.as_ref().and_then(|v| v.at.as_ref()));
        let location = match at {
            Some(p) => format!(
                " file={},line={},col={},",
                property(&p.file),
                p.line,
                p.column
            ),
            None => " ".to_string(),
        };
        let mut message = format!("{}: {}", subject(c), c.message);
        if let Some(w) = &c.witness {
            message.push_str(&format!(
                "\nwitness: old {}, new {}: {}",
                w.old_decision.as_str(),
                w.new_decision.as_str(),
                w.snapshot
            ));
        }
        out.push_str(&format!(
            "::{level}{location}title={}::{}\n",
            property(&format!(
                "rollguard diff: {} ({})",
                c.direction.as_str(),
                c.kind
            )),
            data(&message)
        ));
    }
    out
}
