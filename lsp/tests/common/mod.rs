//! Drives the language server in-process: the backend's `LanguageServer` methods are called
//! directly, and what it publishes is recorded. Documents live at paths no disk holds
//! (`/ws/...`), so the server sees only what the test opens. Places are found by text, not by
//! line and column.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rollguard_lsp::{Backend, Publisher};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::LanguageServer;

#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<PublishDiagnosticsParams>>>);

impl Publisher for Recorder {
    async fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        self.0
            .lock()
            .unwrap()
            .push(PublishDiagnosticsParams::new(uri, diagnostics, version));
    }
}

pub fn uri(path: &str) -> Uri {
    Uri::from_str(&format!("file://{path}")).unwrap()
}

/// The LSP position of the `nth` (0-based) occurrence of `needle` in `text`, plus `shift`
/// characters.
pub fn pos_nth(text: &str, needle: &str, nth: usize, shift: usize) -> Position {
    let mut from = 0;
    let mut at = 0;
    for _ in 0..=nth {
        at = from
            + text[from..]
                .find(needle)
                .unwrap_or_else(|| panic!("`{needle}` not in text"));
        from = at + needle.len();
    }
    let at = at
        + text[at..]
            .chars()
            .take(shift)
            .map(char::len_utf8)
            .sum::<usize>();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    Position::new(
        text[..at].matches('\n').count() as u32,
        text[line_start..at].encode_utf16().count() as u32,
    )
}

pub fn pos(text: &str, needle: &str) -> Position {
    pos_nth(text, needle, 0, 0)
}

/// The range `needle` covers (its first occurrence).
pub fn range_of(text: &str, needle: &str) -> Range {
    let start = pos(text, needle);
    let end = pos_nth(text, needle, 0, needle.chars().count());
    Range::new(start, end)
}

pub struct Server {
    pub backend: Backend<Recorder>,
    pub published: Recorder,
    version: i32,
}

impl Server {
    pub async fn new() -> Server {
        Server::with_database(rollguard_lsp::db::Database::default()).await
    }

    pub async fn with_database(db: rollguard_lsp::db::Database) -> Server {
        let published = Recorder::default();
        let backend = Backend::with_database(published.clone(), db);
        backend
            .initialize(InitializeParams::default())
            .await
            .unwrap();
        Server {
            backend,
            published,
            version: 0,
        }
    }

    pub async fn open(&mut self, path: &str, text: &str) {
        self.version += 1;
        self.backend
            .did_open(DidOpenTextDocumentParams {
                text_document: TextDocumentItem::new(
                    uri(path),
                    "rollguard".into(),
                    self.version,
                    text.into(),
                ),
            })
            .await;
    }

    /// Replaces the whole text.
    pub async fn change(&mut self, path: &str, text: &str) {
        self.version += 1;
        self.backend
            .did_change(DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri(path), self.version),
                content_changes: vec![TextDocumentContentChangeEvent {
                    range: None,
                    range_length: None,
                    text: text.into(),
                }],
            })
            .await;
    }

    /// Replaces `range` with `text`, as editors send a keystroke.
    pub async fn edit(&mut self, path: &str, range: Range, text: &str) {
        self.version += 1;
        self.backend
            .did_change(DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri(path), self.version),
                content_changes: vec![TextDocumentContentChangeEvent {
                    range: Some(range),
                    range_length: None,
                    text: text.into(),
                }],
            })
            .await;
    }

    /// The diagnostics last published for `path` (`None`: never published).
    pub fn diagnostics(&self, path: &str) -> Option<Vec<Diagnostic>> {
        let u = uri(path);
        self.published
            .0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|p| p.uri == u)
            .map(|p| p.diagnostics.clone())
    }

    pub fn take_published(&self) -> Vec<PublishDiagnosticsParams> {
        std::mem::take(&mut *self.published.0.lock().unwrap())
    }

    pub fn tdp(path: &str, position: Position) -> TextDocumentPositionParams {
        TextDocumentPositionParams::new(TextDocumentIdentifier::new(uri(path)), position)
    }

    pub async fn hover(&self, path: &str, position: Position) -> Option<(String, Range)> {
        self.hover_uri(&uri(path), position).await
    }

    pub async fn hover_uri(&self, uri: &Uri, position: Position) -> Option<(String, Range)> {
        let h = self
            .backend
            .hover(HoverParams {
                text_document_position_params: TextDocumentPositionParams::new(
                    TextDocumentIdentifier::new(uri.clone()),
                    position,
                ),
                work_done_progress_params: Default::default(),
            })
            .await
            .unwrap()?;
        let HoverContents::Markup(m) = h.contents else {
            panic!("hover is Markdown")
        };
        Some((m.value, h.range.unwrap()))
    }

    pub async fn definition(&self, path: &str, position: Position) -> Option<Location> {
        match self
            .backend
            .goto_definition(GotoDefinitionParams {
                text_document_position_params: Self::tdp(path, position),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            })
            .await
            .unwrap()?
        {
            GotoDefinitionResponse::Scalar(l) => Some(l),
            other => panic!("one location expected, got {other:?}"),
        }
    }

    pub async fn references(&self, path: &str, position: Position, decl: bool) -> Vec<Location> {
        self.backend
            .references(ReferenceParams {
                text_document_position: Self::tdp(path, position),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
                context: ReferenceContext {
                    include_declaration: decl,
                },
            })
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn completion(&self, path: &str, position: Position) -> Vec<CompletionItem> {
        match self
            .backend
            .completion(CompletionParams {
                text_document_position: Self::tdp(path, position),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
                context: None,
            })
            .await
            .unwrap()
        {
            Some(CompletionResponse::Array(items)) => items,
            Some(CompletionResponse::List(l)) => l.items,
            None => Vec::new(),
        }
    }

    pub async fn code_actions(&self, path: &str, range: Range) -> Vec<CodeAction> {
        self.backend
            .code_action(CodeActionParams {
                text_document: TextDocumentIdentifier::new(uri(path)),
                range,
                context: CodeActionContext::default(),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            })
            .await
            .unwrap()
            .unwrap_or_default()
            .into_iter()
            .map(|a| match a {
                CodeActionOrCommand::CodeAction(a) => a,
                CodeActionOrCommand::Command(c) => panic!("unexpected command {c:?}"),
            })
            .collect()
    }
}

/// Applies edits (non-overlapping, any order) to `text`.
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let offset = |p: Position| -> usize {
        let mut line_start = 0;
        for _ in 0..p.line {
            line_start += text[line_start..].find('\n').unwrap() + 1;
        }
        let line = &text[line_start..];
        let mut units = 0;
        let mut bytes = 0;
        for c in line.chars() {
            if units >= p.character as usize || c == '\n' {
                break;
            }
            units += c.len_utf16();
            bytes += c.len_utf8();
        }
        line_start + bytes
    };
    let mut edits: Vec<&TextEdit> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse((e.range.start.line, e.range.start.character)));
    let mut out = text.to_string();
    for e in edits {
        let (s, t) = (offset(e.range.start), offset(e.range.end));
        out.replace_range(s..t, &e.new_text);
    }
    out
}
