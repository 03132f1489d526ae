//! The one module that speaks LSP: requests in, [`crate::ide`] and [`crate::db`] called, LSP
//! types out.
//!
//! The backend is generic over a [`Publisher`] (where diagnostics go) so tests can drive it
//! in-process and read what it published; the binary uses tower-lsp-server's `Client`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use rollguard::codes::Code;
use rollguard::diagnostic::Severity;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::db::{self, Database, FileDiagnostic, PolicySet, SourceFile};
use crate::ide::{self, FileRange};
use crate::paths::FilePath;
use crate::position::Lines;

/// Each diagnostic's `codeDescription.href` is this followed by its code (`.../E0004`): the
/// explanation `rollguard explain E0004` prints. The same text is served offline by the
/// `rollguard.explain` command and by hovering over a code in `@allow(...)`.
pub const EXPLAIN_URL: &str = "https://rollguard.dev/explain/";
/// `workspace/executeCommand` with one argument, a code: returns its explanation (Markdown).
pub const EXPLAIN_COMMAND: &str = "rollguard.explain";
/// A request with `{"uri": "rollguard-std:///http.rollguard"}`: returns the text of a standard
/// module (or of any document the server knows), for editors that show virtual documents.
pub const VIRTUAL_DOCUMENT_METHOD: &str = "rollguard/virtualDocument";

/// Where published diagnostics go, and whom to ask for file events.
pub trait Publisher: Send + Sync + 'static {
    fn publish(
        &self,
        uri: Uri,
        diagnostics: Vec<Diagnostic>,
        version: Option<i32>,
    ) -> impl Future<Output = ()> + Send;

    /// Asks the editor to report changes of policy files and JSON snapshots on disk.
    fn watch_files(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl Publisher for Client {
    async fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        self.publish_diagnostics(uri, diagnostics, version).await;
    }

    async fn watch_files(&self) {
        let watchers = ["**/*.rollguard", "**/*.json"]
            .into_iter()
            .map(|g| FileSystemWatcher {
                glob_pattern: GlobPattern::String(g.into()),
                kind: None,
            })
            .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: "rollguard-files".into(),
            method: "workspace/didChangeWatchedFiles".into(),
            register_options: serde_json::to_value(options).ok(),
        };
        // An editor that refuses still works; files changed outside it are then seen when
        // opened.
        let _ = self.register_capability(vec![registration]).await;
    }
}

/// What the server knows between requests.
pub struct State {
    pub db: Database,
    /// Documents the editor has open: their URI as the editor wrote it, and version.
    open: HashMap<FilePath, (Uri, i32)>,
    /// What was last published for each URI.
    published: HashMap<Uri, Vec<Diagnostic>>,
    roots: Vec<PathBuf>,
    /// The editor can be asked for file events.
    can_watch: bool,
}

type Publication = (Uri, Vec<Diagnostic>, Option<i32>);

impl State {
    pub fn new(db: Database) -> State {
        State {
            db,
            open: HashMap::new(),
            published: HashMap::new(),
            roots: Vec::new(),
            can_watch: false,
        }
    }

    pub fn uri(&self, file: SourceFile) -> Option<Uri> {
        let path = file.path(&self.db);
        match self.open.get(path) {
            Some((uri, _)) => Some(uri.clone()),
            None => path.to_uri(),
        }
    }

    /// The document a request names: an open one, a standard module, or a file on disk.
    pub fn file(&mut self, uri: &Uri) -> Option<SourceFile> {
        let path = FilePath::from_uri(uri);
        if let Some(f) = self.db.known(&path) {
            return Some(f);
        }
        let f = db::Db::file(&self.db, &path)?;
        self.db.ensure_set(&path);
        Some(f)
    }

    fn lines(&self, file: SourceFile) -> std::sync::Arc<Lines> {
        db::lines(&self.db, file)
    }

    fn offset(&self, file: SourceFile, pos: Position) -> u32 {
        self.lines(file).offset(pos)
    }

    pub fn location(&self, r: FileRange) -> Option<Location> {
        Some(Location::new(
            self.uri(r.file)?,
            self.lines(r.file).range(r.start, r.end),
        ))
    }

    pub fn diagnostic(&self, file: SourceFile, d: &FileDiagnostic) -> Diagnostic {
        let lines = self.lines(file);
        let range = lines.range(d.start, d.end);
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        let mut related = Vec::new();
        if !d.label.is_empty() {
            if let Some(uri) = self.uri(file) {
                related.push(DiagnosticRelatedInformation {
                    location: Location::new(uri, range),
                    message: d.label.clone(),
                });
            }
        }
        for r in &d.related {
            if let Some(location) = self.location(FileRange {
                file: r.file,
                start: r.start,
                end: r.end,
            }) {
                related.push(DiagnosticRelatedInformation {
                    location,
                    message: r.text.clone(),
                });
            }
        }
        Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.as_str().to_string())),
            code_description: Uri::from_str(&format!("{EXPLAIN_URL}{}", d.code.as_str()))
                .ok()
                .map(|href| CodeDescription { href }),
            source: Some("rollguard".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: (d.code == Code::LintUnused).then(|| vec![DiagnosticTag::UNNECESSARY]),
            data: None,
        }
    }

    /// The sets that hold an open document: their files' diagnostics are published.
    fn live_sets(&self) -> Vec<PolicySet> {
        let mut seen = HashSet::new();
        let mut sets: Vec<(PathBuf, PolicySet)> = Vec::new();
        for path in self.open.keys() {
            if let Some(f) = self.db.known(path) {
                if let Some(s) = db::Db::set_of(&self.db, f) {
                    if seen.insert(s) {
                        sets.push((s.dir(&self.db).clone(), s));
                    }
                }
            }
        }
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        sets.into_iter().map(|(_, s)| s).collect()
    }

    /// The diagnostics that changed since they were last published (an empty list for a file
    /// that left every live set).
    pub fn updates(&mut self) -> Vec<Publication> {
        let mut now: Vec<Publication> = Vec::new();
        for set in self.live_sets() {
            for &f in set.files(&self.db) {
                let Some(uri) = self.uri(f) else { continue };
                let diagnostics = db::diagnostics(&self.db, f)
                    .iter()
                    .map(|d| self.diagnostic(f, d))
                    .collect();
                let version = self.open.get(f.path(&self.db)).map(|(_, v)| *v);
                now.push((uri, diagnostics, version));
            }
        }
        let live: HashSet<Uri> = now.iter().map(|(u, _, _)| u.clone()).collect();
        let mut out = Vec::new();
        let gone: Vec<Uri> = self
            .published
            .keys()
            .filter(|u| !live.contains(*u))
            .cloned()
            .collect();
        for uri in gone {
            self.published.remove(&uri);
            out.push((uri, Vec::new(), None));
        }
        for (uri, diagnostics, version) in now {
            let changed = match self.published.get(&uri) {
                Some(old) => *old != diagnostics,
                None => !diagnostics.is_empty(),
            };
            if changed {
                self.published.insert(uri.clone(), diagnostics.clone());
                out.push((uri, diagnostics, version));
            }
        }
        out
    }

    pub fn open(&mut self, uri: Uri, text: String, version: i32) {
        let path = FilePath::from_uri(&uri);
        match &path {
            FilePath::Std(_) => {
                db::Db::file(&self.db, &path);
            }
            FilePath::Fs(_) => {
                self.db.set_text(&path, text);
            }
        }
        self.open.insert(path, (uri, version));
    }

    pub fn change(
        &mut self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) {
        let path = FilePath::from_uri(uri);
        if matches!(path, FilePath::Std(_)) {
            return;
        }
        if self.open.get(&path).is_some_and(|(_, v)| *v >= version) {
            return; // older than what we have
        }
        let mut text = match self.db.known(&path) {
            Some(f) => f.text(&self.db).clone(),
            None => String::new(),
        };
        for c in changes {
            match c.range {
                Some(range) => {
                    let lines = Lines::new(&text);
                    let start = lines.offset(range.start) as usize;
                    let end = (lines.offset(range.end) as usize).max(start);
                    text.replace_range(start..end, &c.text);
                }
                None => text = c.text,
            }
        }
        self.db.set_text(&path, text);
        if let Some(entry) = self.open.get_mut(&path) {
            entry.1 = version;
        }
    }

    pub fn close(&mut self, uri: &Uri) {
        let path = FilePath::from_uri(uri);
        self.open.remove(&path);
        if let FilePath::Fs(p) = &path {
            match std::fs::read_to_string(p) {
                Ok(text) => {
                    self.db.set_text(&path, text);
                }
                Err(_) => self.db.remove(&path),
            }
        }
    }

    pub fn watched(&mut self, changes: Vec<FileEvent>) {
        for c in changes {
            let path = FilePath::from_uri(&c.uri);
            let FilePath::Fs(p) = &path else { continue };
            if self.open.contains_key(&path) {
                continue; // the editor's buffer wins
            }
            if c.typ == FileChangeType::DELETED {
                self.db.remove(&path);
            } else if let Ok(text) = std::fs::read_to_string(p) {
                if p.extension()
                    .is_some_and(|x| x == rollguard::load::EXTENSION)
                    || self.db.known(&path).is_some()
                {
                    self.db.set_text(&path, text);
                }
            }
        }
        self.db.disk_changed();
    }

    /// Loads every policy set under the workspace folders, so references and rename reach files
    /// the editor has not opened.
    pub fn load_roots(&mut self) {
        let mut budget = 10_000usize;
        let roots = self.roots.clone();
        for r in roots {
            self.load_dir(&r, 0, &mut budget);
        }
    }

    fn load_dir(&mut self, dir: &Path, depth: usize, budget: &mut usize) {
        if depth > 12 || *budget == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs = Vec::new();
        let mut first_file = None;
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    dirs.push(p);
                }
            } else if p
                .extension()
                .is_some_and(|x| x == rollguard::load::EXTENSION)
            {
                *budget = budget.saturating_sub(1);
                first_file.get_or_insert(p);
            }
        }
        if let Some(f) = first_file {
            self.db
                .ensure_set(&FilePath::Fs(crate::paths::normalize(&f)));
        }
        dirs.sort();
        for d in dirs {
            self.load_dir(&d, depth + 1, budget);
        }
    }
}

pub struct Backend<P: Publisher> {
    publisher: P,
    state: Mutex<State>,
}

impl<P: Publisher> Backend<P> {
    pub fn new(publisher: P) -> Backend<P> {
        Backend::with_database(publisher, Database::default())
    }

    pub fn with_database(publisher: P, db: Database) -> Backend<P> {
        Backend {
            publisher,
            state: Mutex::new(State::new(db)),
        }
    }

    /// The server's state, for tests and benchmarks.
    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves the database as salsa left it, which is
        // consistent: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn publish(&self, updates: Vec<Publication>) {
        for (uri, diagnostics, version) in updates {
            self.publisher.publish(uri, diagnostics, version).await;
        }
    }

    /// The handler of [`VIRTUAL_DOCUMENT_METHOD`].
    pub async fn virtual_document(&self, params: TextDocumentIdentifier) -> Result<Option<String>> {
        let mut s = self.state();
        Ok(s.file(&params.uri).map(|f| f.text(&s.db).clone()))
    }

    /// Runs `f` on the document at `uri` and a position in it.
    fn at<T>(
        &self,
        pos: &TextDocumentPositionParams,
        f: impl FnOnce(&mut State, SourceFile, u32) -> Option<T>,
    ) -> Option<T> {
        let mut s = self.state();
        let file = s.file(&pos.text_document.uri)?;
        let offset = s.offset(file, pos.position);
        f(&mut s, file, offset)
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                // Whole texts: the transport may run handlers concurrently, and a whole text
                // cannot be applied to the wrong base (a stale one is dropped by its version).
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), ":".into(), "@".into()]),
            ..Default::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: ide::tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                work_done_progress_options: Default::default(),
            },
        )),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![EXPLAIN_COMMAND.into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl<P: Publisher> LanguageServer for Backend<P> {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .unwrap_or_default()
            .iter()
            .filter_map(|w| w.uri.to_file_path().map(|p| p.to_path_buf()))
            .collect();
        #[allow(deprecated)] // older clients send only `rootUri`
        if roots.is_empty() {
            if let Some(p) = params.root_uri.as_ref().and_then(|u| u.to_file_path()) {
                roots.push(p.to_path_buf());
            }
        }
        let can_watch = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        let mut s = self.state();
        s.roots = roots;
        s.can_watch = can_watch;
        drop(s);
        Ok(InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo {
                name: "rollguard-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let can_watch = {
            let mut s = self.state();
            s.load_roots();
            s.can_watch
        };
        if can_watch {
            self.publisher.watch_files().await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let updates = {
            let mut s = self.state();
            let d = params.text_document;
            s.open(d.uri, d.text, d.version);
            s.updates()
        };
        self.publish(updates).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let updates = {
            let mut s = self.state();
            s.change(
                &params.text_document.uri,
                params.text_document.version,
                params.content_changes,
            );
            s.updates()
        };
        self.publish(updates).await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let updates = {
            let mut s = self.state();
            s.close(&params.text_document.uri);
            s.updates()
        };
        self.publish(updates).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let updates = {
            let mut s = self.state();
            s.watched(params.changes);
            s.updates()
        };
        self.publish(updates).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        Ok(
            self.at(&params.text_document_position_params, |s, file, offset| {
                let h = ide::hover::hover(&s.db, file, offset)?;
                Some(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: h.markdown,
                    }),
                    range: Some(s.lines(file).range(h.range.start, h.range.end)),
                })
            }),
        )
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        Ok(
            self.at(&params.text_document_position_params, |s, file, offset| {
                let r = ide::definition(&s.db, file, offset)?;
                Some(GotoDefinitionResponse::Scalar(s.location(r)?))
            }),
        )
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let declaration = params.context.include_declaration;
        Ok(self.at(&params.text_document_position, |s, file, offset| {
            let def = ide::def_at(&s.db, file, offset)?;
            let refs = ide::references(&s.db, &def, declaration);
            Some(refs.into_iter().filter_map(|r| s.location(r)).collect())
        }))
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let mut s = self.state();
        let Some(file) = s.file(&params.text_document.uri) else {
            return Ok(None);
        };
        let offset = s.offset(file, params.position);
        match ide::prepare_rename(&s.db, file, offset) {
            Ok(r) => Ok(Some(PrepareRenameResponse::Range(
                s.lines(file).range(r.start, r.end),
            ))),
            Err(e) => Err(Error::invalid_params(e)),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let pos = params.text_document_position;
        let mut s = self.state();
        let Some(file) = s.file(&pos.text_document.uri) else {
            return Ok(None);
        };
        let offset = s.offset(file, pos.position);
        let refs =
            ide::rename(&s.db, file, offset, &params.new_name).map_err(Error::invalid_params)?;
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        for r in refs {
            if let Some(loc) = s.location(r) {
                changes
                    .entry(loc.uri)
                    .or_default()
                    .push(TextEdit::new(loc.range, params.new_name.clone()));
            }
        }
        Ok(Some(WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        Ok(self.at(&params.text_document_position, |s, file, offset| {
            Some(CompletionResponse::Array(ide::completion::completion(
                &s.db, file, offset,
            )))
        }))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let mut s = self.state();
        let Some(file) = s.file(&params.text_document.uri) else {
            return Ok(None);
        };
        Ok(Some(DocumentSymbolResponse::Nested(
            ide::symbols::document_symbols(&s.db, file),
        )))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let mut s = self.state();
        let Some(file) = s.file(&params.text_document.uri) else {
            return Ok(None);
        };
        if matches!(file.path(&s.db), FilePath::Std(_)) {
            return Ok(None);
        }
        let text = file.text(&s.db);
        match rollguard::fmt::format(text) {
            Ok(formatted) if formatted == *text => Ok(Some(Vec::new())),
            Ok(formatted) => {
                let lines = s.lines(file);
                let range = lines.range(0, text.len() as u32);
                Ok(Some(vec![TextEdit::new(range, formatted)]))
            }
            // The syntax errors are already shown; the file is left as it is.
            Err(rollguard::fmt::FormatError::Syntax(_)) => Ok(None),
            Err(e) => Err(Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: e.to_string().into(),
                data: None,
            }),
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let mut s = self.state();
        let Some(file) = s.file(&params.text_document.uri) else {
            return Ok(None);
        };
        let lines = s.lines(file);
        let start = lines.offset(params.range.start);
        let end = lines.offset(params.range.end);
        let actions = ide::actions::fixes(&s.db, file, start, end)
            .into_iter()
            .filter_map(|fix| {
                // Each edit in its own document's positions.
                let mut changes: HashMap<_, Vec<TextEdit>> = HashMap::new();
                for e in &fix.edits {
                    let uri = s.uri(e.file)?;
                    let range = s.lines(e.file).range(e.start, e.end);
                    changes
                        .entry(uri)
                        .or_default()
                        .push(TextEdit::new(range, e.text.clone()));
                }
                Some(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![s.diagnostic(file, &fix.diagnostic)]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(changes),
                        ..Default::default()
                    }),
                    is_preferred: Some(fix.preferred),
                    ..Default::default()
                }))
            })
            .collect();
        Ok(Some(actions))
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let mut s = self.state();
        let Some(file) = s.file(&params.text_document.uri) else {
            return Ok(None);
        };
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data: ide::tokens::semantic_tokens(&s.db, file),
        })))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command != EXPLAIN_COMMAND {
            return Err(Error::method_not_found());
        }
        let code = params
            .arguments
            .first()
            .and_then(Value::as_str)
            .and_then(Code::parse)
            .ok_or_else(|| Error::invalid_params("give a diagnostic code, such as `E0004`"))?;
        Ok(Some(Value::String(format!(
            "# {}: {}\n\n{}",
            code.as_str(),
            code.title(),
            code.explanation().trim()
        ))))
    }
}
