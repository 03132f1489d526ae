//! Diagnostics: what is wrong, where, and how to fix it, with a stable code.
//!
//! A [`Diagnostic`] is plain data. [`Diagnostic::render`] and [`Diagnostic::report`] turn it into
//! miette's rustc-like output; labels in files other than the primary one become notes naming
//! `FILE:LINE:COL`, so a duplicate across two files names both places.

use std::fmt;

use crate::codes::Code;
use crate::source::{FileId, SourceFile, Sources, Span};
use crate::syntax::lex::{self, Kind};

/// How bad a diagnostic is.
///
/// Not `#[non_exhaustive]`: a set either compiles or it does not, so there are errors and
/// warnings and nothing between; callers match on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The set does not compile.
    Error,
    /// A lint finding: the set compiles, but something in it is probably wrong.
    Warning,
}

/// A further place a diagnostic points at, with its text.
#[derive(Clone, Debug)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What is there.
    pub text: String,
}

/// A mechanical fix: replace the text at `span` with `replacement`. An empty span inserts, an
/// empty replacement deletes. Tools apply it without reading the message: the CLI prints it, the
/// JSON and SARIF outputs carry it, the language server offers it as a quick fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub span: Span,
    pub replacement: String,
    /// What applying it does, in a few words, lowercase: "replace with `error_rate`".
    pub title: String,
    /// True when it is certainly what was meant and applying it alone removes the diagnostic
    /// without introducing another, so an editor may apply it unasked (a typo with one close
    /// name, a unit the message names). False when it is one guess among several (`2m` or
    /// `2s`) or changes what the policy does.
    pub safe: bool,
}

/// What is wrong, where, and how to fix it, with a stable [`Code`].
///
/// `#[non_exhaustive]`: it will carry more (further kinds of fix); build one with
/// [`Diagnostic::error`] and the builder methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The stable code, which also gives the severity.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One line, lowercase, no final period, user input in backticks.
    pub message: String,
    /// The primary place: a file of the compilation's sources and a byte range in it.
    pub span: Span,
    /// The text under the primary span.
    pub label: String,
    /// Further places involved (the first declaration of a duplicate, the cycle of a recursion).
    pub labels: Vec<Label>,
    /// How to fix it, when there is a fix to suggest.
    pub help: Option<String>,
    /// Fixes a tool may apply, the most likely first.
    pub suggestions: Vec<Suggestion>,
}

impl Diagnostic {
    /// A diagnostic with `code` (its severity is the code's) at `span`.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            span,
            label: String::new(),
            labels: Vec::new(),
            help: None,
            suggestions: Vec::new(),
        }
    }

    /// Sets the text under the primary span.
    pub fn label(mut self, text: impl Into<String>) -> Diagnostic {
        self.label = text.into();
        self
    }

    /// Adds a further place, with its text.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Sets the help: how to fix it.
    pub fn help(mut self, text: impl Into<String>) -> Diagnostic {
        self.help = Some(text.into());
        self
    }

    /// Adds a fix that is safe to apply unasked (see [`Suggestion::safe`]).
    pub fn suggest(
        self,
        span: Span,
        replacement: impl Into<String>,
        title: impl Into<String>,
    ) -> Diagnostic {
        self.suggestion(span, replacement.into(), title.into(), true)
    }

    /// Adds a fix someone should choose: one of several, or one that changes meaning.
    pub fn suggest_maybe(
        self,
        span: Span,
        replacement: impl Into<String>,
        title: impl Into<String>,
    ) -> Diagnostic {
        self.suggestion(span, replacement.into(), title.into(), false)
    }

    /// The fix of a "did you mean": the mistyped word at `span` becomes `word`.
    pub fn replace_with(self, span: Span, word: &str) -> Diagnostic {
        self.suggest(span, word, format!("replace with `{word}`"))
    }

    /// The fixes of a bare number where a unit is wanted: the number at `span` (when it is a
    /// literal the author can see) becomes each of `literals`. The first, the one the message
    /// names, is safe; the others are alternatives to choose from.
    pub fn units(self, span: Option<Span>, literals: &[impl AsRef<str>]) -> Diagnostic {
        let Some(span) = span else {
            return self;
        };
        literals.iter().enumerate().fold(self, |d, (i, l)| {
            let l = l.as_ref();
            d.suggestion(span, l.to_string(), format!("write `{l}`"), i == 0)
        })
    }

    /// The fix of a name a standard module declares: `use std::MODULE` on a line of its own,
    /// after the file's last `use` or else before its first declaration.
    pub fn add_use(self, file: &SourceFile, id: FileId, module: &str) -> Diagnostic {
        let at = use_insertion_point(&file.text) as usize;
        // A last line without its line break gets one before the new line.
        let newline = if at > 0 && !file.text[..at].ends_with('\n') {
            "\n"
        } else {
            ""
        };
        self.suggest(
            Span::new(id, at, at),
            format!("{newline}use std::{module}\n"),
            format!("add `use std::{module}`"),
        )
    }

    /// The fix of a declaration that does nothing: its lines (`span` through the end of its
    /// last line) go.
    pub fn delete_lines(
        self,
        file: &SourceFile,
        span: Span,
        title: impl Into<String>,
    ) -> Diagnostic {
        let text = &file.text;
        let start = text[..span.start as usize].rfind('\n').map_or(0, |i| i + 1);
        let end = text[span.end as usize..]
            .find('\n')
            .map_or(text.len(), |i| span.end as usize + i + 1);
        self.suggest(Span::new(span.file, start, end), "", title)
    }

    fn suggestion(mut self, span: Span, replacement: String, title: String, safe: bool) -> Self {
        self.suggestions.push(Suggestion {
            span,
            replacement,
            title,
            safe,
        });
        self
    }

    /// Whether it is an error (the set does not compile).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A miette report that borrows the sources, for rendering.
    pub fn report<'a>(&'a self, sources: &'a Sources) -> Report<'a> {
        Report {
            diag: self,
            sources,
        }
    }

    /// The diagnostic as people read it: code, message, the source with labels, help.
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        let report = self.report(sources);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail in practice; fall back to one line.
            out = format!("{}\n", self.one_line(sources));
        }
        out.push('\n');
        out
    }

    /// `FILE:LINE:COL: error[E0002]: message`, for logs and terse output.
    pub fn one_line(&self, sources: &Sources) -> String {
        format!(
            "{}: {}[{}]: {}",
            sources.location(self.span),
            match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            self.code.as_str(),
            self.message
        )
    }
}

/// A diagnostic paired with its sources: implements miette's trait.
pub struct Report<'a> {
    diag: &'a Diagnostic,
    sources: &'a Sources,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    /// `error[E0004]: message`, the header rustc users know; miette prints it after its marker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.diag.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}[{}]: {}",
            self.diag.code.as_str(),
            self.diag.message
        )
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        // miette prints "help: " before this; places in other files follow as notes.
        let mut lines: Vec<String> = self.diag.help.iter().cloned().collect();
        for s in &self.diag.suggestions {
            lines.push(suggestion_text(self.sources, s));
        }
        for l in &self.diag.labels {
            if l.span.file != self.diag.span.file {
                lines.push(format!(
                    "note: {} at {}",
                    l.text,
                    self.sources.location(l.span)
                ));
            }
        }
        if lines.is_empty() {
            None
        } else {
            Some(Box::new(lines.join("\n")))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = self.diag.span;
        let mut spans = vec![miette::LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()).filter(|s| !s.is_empty()),
            (
                primary.start as usize,
                (primary.end - primary.start) as usize,
            ),
        )];
        for l in &self.diag.labels {
            if l.span.file == primary.file {
                spans.push(miette::LabeledSpan::new_with_span(
                    Some(l.text.clone()),
                    (l.span.start as usize, (l.span.end - l.span.start) as usize),
                ));
            }
        }
        Some(Box::new(spans.into_iter()))
    }
}

impl miette::SourceCode for Report<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let file = self.sources.get(self.diag.span.file);
        let inner = file
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            file.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A fix as the human output shows it, in the manner of rustc: what it does, then the line
/// as it reads with the fix applied (for a fix within one line), with its number.
fn suggestion_text(sources: &Sources, s: &Suggestion) -> String {
    let file = sources.get(s.span.file);
    let text = &file.text;
    let (start, end) = (s.span.start as usize, s.span.end as usize);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let fixed = format!(
        "{}{}{}",
        &text[line_start..start],
        s.replacement,
        &text[end..line_end]
    );
    let head = format!("help: {}", s.title);
    if text[start..end].contains('\n') || fixed.contains('\n') || fixed.trim().is_empty() {
        return head;
    }
    let (line, _) = file.line_col(s.span.start);
    format!("{head}\n  {line} │ {}", fixed.trim_end())
}

/// Where a new `use` line goes: the start of the line after the last top-level `use`, or else
/// the start of the line of the first declaration (its doc comment or annotation included).
fn use_insertion_point(text: &str) -> u32 {
    let line_start = |at: u32| text[..at as usize].rfind('\n').map_or(0, |i| i as u32 + 1);
    let mut depth = 0usize;
    let mut first = None;
    let mut after_use = None;
    let toks = lex::lex(text);
    for (i, t) in toks.iter().enumerate() {
        if t.is_comment() {
            continue;
        }
        // A declaration starts at a line break outside braces.
        if depth == 0 && (i == 0 || t.breaks > 0) {
            first.get_or_insert(line_start(t.start));
            if t.is("use") {
                let end = toks[i..]
                    .iter()
                    .skip(1)
                    .find(|n| n.breaks > 0)
                    .map_or(text.len() as u32, |n| line_start(n.start));
                after_use = Some(end);
            }
        }
        match t.kind {
            Kind::Punct if t.is("{") => depth += 1,
            Kind::Punct if t.is("}") => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    after_use.or(first).unwrap_or(0)
}

/// The closest name to `wanted` among `candidates`, for "did you mean".
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    // Names longer than this are not typos of a declared name, and comparing them costs time
    // quadratic in their length.
    const LONGEST: usize = 64;
    if wanted.len() > LONGEST {
        return None;
    }
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == wanted || c.len() > LONGEST {
            continue;
        }
        let score = strsim::jaro_winkler(wanted, c);
        let close = score >= 0.85 || strsim::levenshtein(wanted, c) <= wanted.len().max(3) / 3;
        if close && best.is_none_or(|(s, b)| score > s || (score == s && c < b)) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["error_rate", "p99", "dependency_outage"];
        assert_eq!(did_you_mean("eror_rate", names), Some("error_rate".into()));
        assert_eq!(
            did_you_mean("secret", ["secrets", "permissions"]),
            Some("secrets".into())
        );
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
