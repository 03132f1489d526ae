//! Diagnostics for machines: JSON, SARIF 2.1.0 and GitHub Actions workflow commands.
//!
//! Each compilation's diagnostics (and its allowed lint findings) become flat [`Record`]s with
//! resolved positions; the printers take records from any number of policy sets.

use serde::Serialize;
use serde_json::json;

use crate::codes::{self, Code};
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{Sources, Span};
use crate::Compilation;

/// A place in a file, 1-based; columns count characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Place {
    pub fn of(sources: &Sources, span: Span) -> Place {
        let f = sources.get(span.file);
        let (line, column) = f.line_col(span.start);
        let (end_line, end_column) = f.line_col(span.end.max(span.start));
        Place {
            file: f.name.clone(),
            line,
            column,
            end_line,
            end_column,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LabelRecord {
    #[serde(flatten)]
    pub place: Place,
    pub text: String,
}

/// A fix, as `check --format json` prints it: the text at the place becomes `replacement`.
#[derive(Clone, Debug, Serialize)]
pub struct SuggestionRecord {
    #[serde(flatten)]
    pub place: Place,
    /// Byte offsets of the replaced text in the file, for tools that edit bytes.
    pub start: u32,
    pub end: u32,
    pub replacement: String,
    pub title: String,
    /// Safe to apply without asking (see [`crate::diagnostic::Suggestion::safe`]).
    pub safe: bool,
}

/// One diagnostic, as `check --format json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub code: String,
    pub severity: Severity,
    #[serde(flatten)]
    pub place: Place,
    pub message: String,
    pub labels: Vec<LabelRecord>,
    pub help: Option<String>,
    /// Mechanical fixes, the most likely first; empty when there is none.
    pub suggestions: Vec<SuggestionRecord>,
    /// Where an `@allow(CODE)` silenced this finding; `null` when it stands.
    pub allowed_by: Option<Place>,
}

impl Record {
    fn of(sources: &Sources, d: &Diagnostic, allowed_by: Option<Span>) -> Record {
        let mut labels = vec![LabelRecord {
            place: Place::of(sources, d.span),
            text: d.label.clone(),
        }];
        labels.extend(d.labels.iter().map(|l| LabelRecord {
            place: Place::of(sources, l.span),
            text: l.text.clone(),
        }));
        Record {
            code: d.code.as_str().to_string(),
            severity: d.severity,
            place: Place::of(sources, d.span),
            message: d.message.clone(),
            labels,
            help: d.help.clone(),
            suggestions: d
                .suggestions
                .iter()
                .map(|s| SuggestionRecord {
                    place: Place::of(sources, s.span),
                    start: s.span.start,
                    end: s.span.end,
                    replacement: s.replacement.clone(),
                    title: s.title.clone(),
                    safe: s.safe,
                })
                .collect(),
            allowed_by: allowed_by.map(|s| Place::of(sources, s)),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.allowed_by.is_some()
    }
}

/// Every diagnostic of a compilation, then its allowed findings.
pub fn records(c: &Compilation) -> Vec<Record> {
    let mut out: Vec<Record> = c
        .diagnostics
        .iter()
        .map(|d| Record::of(&c.sources, d, None))
        .collect();
    out.extend(
        c.allowed
            .iter()
            .map(|a| Record::of(&c.sources, &a.diagnostic, Some(a.at))),
    );
    out
}

pub fn to_json(records: &[Record]) -> String {
    serde_json::to_string_pretty(records).expect("records are plain data") + "\n"
}

/// SARIF 2.1.0: one run, every rollguard code as a rule, each record as a result (allowed
/// findings carry an in-source suppression).
pub fn to_sarif(records: &[Record]) -> String {
    let mut rules: Vec<serde_json::Value> = codes::ALL
        .iter()
        .map(|c| {
            let first = c
                .explanation()
                .split("\n\n")
                .next()
                .unwrap_or(c.title())
                .replace('\n', " ");
            json!({
                "id": c.as_str(),
                "name": c.title(),
                "shortDescription": {"text": c.title()},
                "fullDescription": {"text": first},
                "help": {"text": c.explanation()},
                "defaultConfiguration": {"level": level(c.severity())},
            })
        })
        .collect();
    // Results that are not diagnostics (a failed `test` block) get a rule of their own.
    let mut extra: Vec<&str> = Vec::new();
    for r in records {
        if Code::parse(&r.code).is_none() && !extra.contains(&r.code.as_str()) {
            extra.push(&r.code);
            rules.push(json!({
                "id": r.code,
                "name": "test failed",
                "shortDescription": {"text": "a `test` block's expectation does not hold"},
                "defaultConfiguration": {"level": "error"},
            }));
        }
    }
    let results: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let index = codes::ALL
                .iter()
                .position(|c| c.as_str() == r.code)
                .or_else(|| extra.iter().position(|e| *e == r.code).map(|i| codes::ALL.len() + i))
                .unwrap_or(0);
            let mut text = r.message.clone();
            if let Some(h) = &r.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let mut result = json!({
                "ruleId": r.code,
                "ruleIndex": index,
                "level": level(r.severity),
                "message": {"text": text},
                "locations": [location(&r.place, None)],
                "relatedLocations": r.labels.iter().skip(1).enumerate()
                    .map(|(i, l)| location(&l.place, Some((i + 1, &l.text))))
                    .collect::<Vec<_>>(),
            });
            if !r.suggestions.is_empty() {
                result["fixes"] = r.suggestions.iter().map(fix).collect();
            }
            if let Some(by) = &r.allowed_by {
                result["suppressions"] = json!([{
                    "kind": "inSource",
                    "justification": format!("@allow({}) at {}:{}:{}", r.code, by.file, by.line, by.column),
                }]);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rollguard",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/rollguard/rollguard",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).expect("SARIF is plain data") + "\n"
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A SARIF `fix`: one artifact change with one replacement, its region in lines and columns
/// (counted as the run's `columnKind` says). An insertion is an empty region.
fn fix(s: &SuggestionRecord) -> serde_json::Value {
    json!({
        "description": {"text": s.title},
        "artifactChanges": [{
            "artifactLocation": {"uri": s.place.file.replace('\\', "/")},
            "replacements": [{
                "deletedRegion": {
                    "startLine": s.place.line,
                    "startColumn": s.place.column,
                    "endLine": s.place.end_line,
                    "endColumn": s.place.end_column,
                },
                "insertedContent": {"text": s.replacement},
            }],
        }],
    })
}

fn location(p: &Place, label: Option<(usize, &str)>) -> serde_json::Value {
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": p.file.replace('\\', "/")},
            "region": {
                "startLine": p.line,
                "startColumn": p.column,
                "endLine": p.end_line,
                "endColumn": p.end_column,
            },
        },
    });
    if let Some((id, text)) = label {
        loc["id"] = json!(id);
        loc["message"] = json!({"text": text});
    }
    loc
}

/// GitHub Actions workflow commands: annotations on the pull request's diff. Allowed findings
/// are left out (they are not problems); `check --format json` lists them.
pub fn to_github(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records.iter().filter(|r| !r.is_allowed()) {
        let mut message = r.message.clone();
        if let Some(h) = &r.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            level(r.severity),
            property(&r.place.file),
            r.place.line,
            r.place.column,
            r.place.end_line,
            r.place.end_column,
            property(&format!(
                "{} {}",
                r.code,
                Code::parse(&r.code).map_or("test failed", |c| c.title())
            )),
            data(&message),
        ));
    }
    out
}

/// Escapes a workflow command's message.
pub(crate) fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub(crate) fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escapes() {
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
