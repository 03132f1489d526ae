//! Each feature through the server's `LanguageServer` methods, with a concrete expected result.

mod common;

use common::*;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::LanguageServer;

const A: &str = r#"use std::http

/// Share of failed checkouts, as a fraction.
signal checkout_errors: ratio = "checkout.errors"
signal p99: duration = "http.latency.p99"

/// The latency the checkout may take.
let budget = 250ms + 2s

class vault_change { touches [secrets] irreversible }

scope release_bots {
  principals [service_account "deploy-bot", group "sre"]
  may [halt, rollback]
  in [production]
}
"#;

const B: &str = r#"use std::http

policy checkout {
  applies when deployment.service == "checkout"
  rollback spike when checkout_errors > 2% and error_rate > 1.5 * baseline(error_rate)
  halt slow when p99 > budget and latency_p99 > budget
  approval vault requires 1 of group "security" when class touches secrets
}
"#;

const PA: &str = "/ws/app/a.rollguard";
const PB: &str = "/ws/app/b.rollguard";

async fn app() -> Server {
    let mut s = Server::new().await;
    s.open(PA, A).await;
    s.open(PB, B).await;
    s
}

fn codes(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| match &d.code {
            Some(NumberOrString::String(c)) => c.clone(),
            _ => String::new(),
        })
        .collect()
}

// ------------------------------------------------------------------------------- diagnostics

#[tokio::test]
async fn diagnostics_are_published_on_open_and_cleared_on_change() {
    let mut s = Server::new().await;
    let text = "signal p99: duration = \"http.latency.p99\"\n\npolicy p {\n  applies when deployment.service == \"api\"\n  halt slow when p99 > 800\n}\n";
    s.open("/ws/one/p.rollguard", text).await;
    let diags = s.diagnostics("/ws/one/p.rollguard").unwrap();
    assert_eq!(codes(&diags), ["E0004"]);
    let d = &diags[0];
    assert_eq!(d.severity, Some(DiagnosticSeverity::ERROR));
    assert_eq!(d.range, range_of(text, "p99 > 800"));
    assert_eq!(
        d.message,
        "`p99` is a duration, `800` is a number; write `800ms`\nhelp: a bare number has no unit: write `800ms` for milliseconds or `800s` for seconds"
    );
    assert_eq!(
        d.code_description.as_ref().unwrap().href.as_str(),
        "https://rollguard.dev/explain/E0004"
    );
    assert_eq!(d.source.as_deref(), Some("rollguard"));
    let related = d.related_information.as_ref().unwrap();
    assert_eq!(related[0].message, "a duration and a number");

    // Fixing it with a two-character edit: the set compiles, so the lints run; W0002 says the
    // rule's evidence is not gated.
    let at = pos_nth(text, "800", 0, 3);
    s.edit("/ws/one/p.rollguard", Range::new(at, at), "ms")
        .await;
    assert_eq!(
        codes(&s.diagnostics("/ws/one/p.rollguard").unwrap()),
        ["W0002"]
    );
    // Gating it leaves nothing: an empty list is published.
    let gate = pos(text, "  halt slow");
    s.edit("/ws/one/p.rollguard", Range::new(gate, gate), "  require fresh(p99) within 2m else halt\n  require samples(p99) >= 100 else inconclusive\n").await;
    assert_eq!(s.diagnostics("/ws/one/p.rollguard").unwrap(), vec![]);
}

#[tokio::test]
async fn lints_run_on_a_set_that_compiles() {
    let mut s = Server::new().await;
    let text = "signal p99: duration = \"http.latency.p99\"\nsignal unused: count = \"x\"\n\npolicy p {\n  halt slow when p99 > 800ms\n}\n";
    s.open("/ws/lint/p.rollguard", text).await;
    let diags = s.diagnostics("/ws/lint/p.rollguard").unwrap();
    let w0007 = diags
        .iter()
        .find(|d| codes(std::slice::from_ref(d)) == ["W0007"])
        .unwrap();
    assert_eq!(w0007.severity, Some(DiagnosticSeverity::WARNING));
    assert!(w0007.message.starts_with("policy `p` has no `applies`"));
    let w0010 = diags
        .iter()
        .find(|d| codes(std::slice::from_ref(d)) == ["W0010"])
        .unwrap();
    assert_eq!(w0010.range, range_of(text, "unused"));
    assert_eq!(w0010.tags, Some(vec![DiagnosticTag::UNNECESSARY]));
}

#[tokio::test]
async fn an_edit_in_one_file_updates_the_diagnostics_of_another_in_its_set() {
    let mut s = app().await;
    // The set compiles: only lints (W0002, ungated evidence) are shown.
    assert_eq!(codes(&s.diagnostics(PB).unwrap()), ["W0002", "W0002"]);
    // Renaming the signal in a leaves b's use of it undeclared.
    let at = range_of(A, "checkout_errors");
    s.edit(PA, at, "checkout_failures").await;
    let diags = s.diagnostics(PB).unwrap();
    assert_eq!(codes(&diags), ["E0002"]);
    assert_eq!(diags[0].range, range_of(B, "checkout_errors"));
    assert!(diags[0]
        .message
        .contains("did you mean `checkout_failures`?"));
    // A file of another set is not touched.
    let published: Vec<String> = s
        .take_published()
        .iter()
        .map(|p| p.uri.as_str().to_string())
        .collect();
    assert!(published.iter().all(|u| u.starts_with("file:///ws/app/")));
}

#[tokio::test]
async fn a_file_that_reads_another_by_use_sees_its_changes() {
    let mut s = Server::new().await;
    let shared = "/// Depth of the work queue.\nsignal queue_depth: count = \"queue.depth\"\nlet queue_limit = 1000\n";
    let worker = "use \"../shared/signals.rollguard\"\n\npolicy worker {\n  applies when deployment.service == \"worker\"\n  halt backlog when queue_depth > queue_limit\n}\n";
    s.open("/ws/shared/signals.rollguard", shared).await;
    s.open("/ws/svc/worker.rollguard", worker).await;
    assert_eq!(
        codes(&s.diagnostics("/ws/svc/worker.rollguard").unwrap()),
        ["W0002"]
    );
    s.change(
        "/ws/shared/signals.rollguard",
        "signal queue_depth: count = \"queue.depth\"\n",
    )
    .await;
    let diags = s.diagnostics("/ws/svc/worker.rollguard").unwrap();
    assert_eq!(codes(&diags), ["E0002"]);
    assert_eq!(diags[0].range, range_of(worker, "queue_limit"));
}

// ------------------------------------------------------------------------------- hover

#[tokio::test]
async fn hover_shows_a_signals_type_unit_key_and_doc() {
    let s = app().await;
    let (md, range) = s.hover(PB, pos(B, "checkout_errors")).await.unwrap();
    assert_eq!(range, range_of(B, "checkout_errors"));
    assert!(
        md.starts_with("```rollguard\nsignal checkout_errors: ratio = \"checkout.errors\"\n```"),
        "{md}"
    );
    assert!(
        md.contains("type `ratio`: a fraction: `1%` is 0.01"),
        "{md}"
    );
    assert!(
        md.contains("snapshot key `checkout.errors`: read from `signals[\"checkout.errors\"]`"),
        "{md}"
    );
    assert!(md.contains("declared in `a.rollguard`"), "{md}");
    assert!(
        md.ends_with("Share of failed checkouts, as a fraction."),
        "{md}"
    );
}

#[tokio::test]
async fn hover_on_a_standard_signal_names_its_module() {
    let s = app().await;
    let (md, _) = s.hover(PB, pos(B, "latency_p99")).await.unwrap();
    assert!(
        md.contains("signal latency_p99: duration = \"http.latency.p99\""),
        "{md}"
    );
    assert!(md.contains("declared in `std::http`"), "{md}");
    assert!(md.contains("99th percentile request latency."), "{md}");
}

#[tokio::test]
async fn hover_shows_a_lets_inferred_type_a_classs_tags_and_a_scopes_grants() {
    let s = app().await;
    let (md, _) = s.hover(PB, pos(B, "budget")).await.unwrap();
    assert!(md.contains("let budget = 250ms + 2s"), "{md}");
    assert!(md.contains("type `duration`"), "{md}");
    assert!(md.contains("The latency the checkout may take."), "{md}");

    let (md, _) = s.hover(PA, pos(A, "vault_change")).await.unwrap();
    assert!(
        md.contains("class vault_change { touches [secrets] irreversible }"),
        "{md}"
    );
    assert!(md.contains("tags: `secrets`"), "{md}");
    assert!(
        md.contains("irreversible: a `rollback` decision becomes `halt`"),
        "{md}"
    );

    let (md, _) = s.hover(PA, pos(A, "release_bots")).await.unwrap();
    assert!(
        md.contains("principals: service_account \"deploy-bot\", group \"sre\""),
        "{md}"
    );
    assert!(md.contains("may: `halt`, `rollback`"), "{md}");
    assert!(md.contains("in: production"), "{md}");

    // A tag, a field and a built-in.
    let (md, _) = s.hover(PB, pos_nth(B, "secrets", 0, 0)).await.unwrap();
    assert!(md.contains("listed by class `vault_change`"), "{md}");
    let (md, _) = s.hover(PB, pos(B, "service ==")).await.unwrap();
    assert!(
        md.contains("deployment.service") && md.contains("type `string`"),
        "{md}"
    );
    let (md, _) = s.hover(PB, pos(B, "baseline(")).await.unwrap();
    assert!(md.contains("production baseline"), "{md}");
}

#[tokio::test]
async fn hover_on_a_rule_shows_it_and_on_an_allowed_code_its_explanation() {
    let mut s = Server::new().await;
    let text = "signal p99: duration = \"k\"\n\n@allow(W0007)\npolicy p {\n  halt slow when p99 > 2s for 5m\n}\n";
    s.open("/ws/h/p.rollguard", text).await;
    let (md, _) = s
        .hover("/ws/h/p.rollguard", pos(text, "slow"))
        .await
        .unwrap();
    assert!(md.contains("halt slow when p99 > 2s for 5m"), "{md}");
    assert!(md.contains("rule of policy `p`"), "{md}");
    let (md, _) = s
        .hover("/ws/h/p.rollguard", pos(text, "W0007"))
        .await
        .unwrap();
    assert!(md.starts_with("**W0007**: "), "{md}");
    assert!(
        md.contains(rollguard::Code::LintNoApplies.explanation().trim()),
        "{md}"
    );
}

// ------------------------------------------------------------------------------- definition

#[tokio::test]
async fn definition_goes_across_files_and_into_the_standard_library() {
    let s = app().await;
    let loc = s.definition(PB, pos(B, "checkout_errors")).await.unwrap();
    assert_eq!(loc.uri, uri(PA));
    assert_eq!(loc.range, range_of(A, "checkout_errors"));

    let loc = s.definition(PB, pos(B, "latency_p99")).await.unwrap();
    assert_eq!(loc.uri.as_str(), "rollguard-std:///http.rollguard");
    let std_text = rollguard::stdlib::module("http").unwrap();
    assert_eq!(loc.range, range_of(std_text, "latency_p99"));
    // The editor asks for the virtual document's text.
    let text = s
        .backend
        .virtual_document(TextDocumentIdentifier::new(loc.uri.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, std_text);
    // ... and can go on from inside it.
    let (md, _) = s.hover_uri(&loc.uri, loc.range.start).await.unwrap();
    assert!(md.contains("99th percentile request latency."), "{md}");

    // `use std::http` itself leads to the module.
    let loc = s.definition(PB, pos(B, "http")).await.unwrap();
    assert_eq!(loc.uri.as_str(), "rollguard-std:///http.rollguard");
    assert_eq!(loc.range, Range::default());

    // A tag goes to the class that lists it; a class name after `is` to the class.
    let loc = s.definition(PB, pos(B, "secrets")).await.unwrap();
    assert_eq!((loc.uri, loc.range), (uri(PA), range_of(A, "secrets")));
}

#[tokio::test]
async fn definition_of_parameters_locals_and_tested_rules() {
    let mut s = Server::new().await;
    let text = r#"signal p99: duration = "k"

fn above(x: duration, limit: duration) -> bool = x > limit

policy p {
  applies when deployment.service == "api"
  let limit2 = 2s
  halt slow when above(p99, limit2)
}

test "slow halts" {
  snapshot "slow.json"
  expect halt by slow
}
"#;
    let p = "/ws/d/p.rollguard";
    s.open(p, text).await;
    let loc = s.definition(p, pos_nth(text, "x >", 0, 0)).await.unwrap();
    assert_eq!(loc.range, range_of(text, "x: duration").to_first_word());
    let loc = s
        .definition(p, pos_nth(text, "limit2", 1, 0))
        .await
        .unwrap();
    assert_eq!(loc.range, range_of(text, "limit2"));
    let loc = s
        .definition(p, pos_nth(text, "by slow", 0, 3))
        .await
        .unwrap();
    assert_eq!(loc.range, range_of(text, "slow"));
    let loc = s.definition(p, pos(text, "above(p99")).await.unwrap();
    assert_eq!(loc.range, range_of(text, "above"));
}

trait FirstWord {
    fn to_first_word(self) -> Range;
}

impl FirstWord for Range {
    /// The range of the first character (for `x: duration`, the `x`).
    fn to_first_word(self) -> Range {
        Range::new(
            self.start,
            Position::new(self.start.line, self.start.character + 1),
        )
    }
}

// ------------------------------------------------------------------------------- references, rename

#[tokio::test]
async fn references_are_found_across_files() {
    let s = app().await;
    let refs = s.references(PA, pos(A, "budget"), true).await;
    let mut got: Vec<(String, Range)> = refs
        .iter()
        .map(|l| (l.uri.as_str().to_string(), l.range))
        .collect();
    got.sort_by_key(|(u, r)| (u.clone(), r.start.line, r.start.character));
    assert_eq!(
        got,
        vec![
            ("file:///ws/app/a.rollguard".into(), range_of(A, "budget")),
            ("file:///ws/app/b.rollguard".into(), range_of(B, "budget")),
            (
                "file:///ws/app/b.rollguard".into(),
                Range::new(pos_nth(B, "budget", 1, 0), pos_nth(B, "budget", 1, 6))
            ),
        ]
    );
    let without = s.references(PA, pos(A, "budget"), false).await;
    assert_eq!(without.len(), 2);
    // A standard signal, from its use in b.
    let refs = s.references(PB, pos(B, "error_rate"), false).await;
    assert_eq!(refs.len(), 2);
}

#[tokio::test]
async fn rename_edits_every_file_and_refuses_bad_names() {
    let s = app().await;
    let edit = s
        .backend
        .rename(RenameParams {
            text_document_position: Server::tdp(PB, pos(B, "checkout_errors")),
            new_name: "checkout_failures".into(),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let changes = edit.changes.unwrap();
    assert_eq!(changes.len(), 2);
    let a = apply(A, &changes[&uri(PA)]);
    let b = apply(B, &changes[&uri(PB)]);
    assert!(a.contains("signal checkout_failures: ratio"));
    assert!(b.contains("rollback spike when checkout_failures > 2%"));

    let prepared = s
        .backend
        .prepare_rename(Server::tdp(PB, pos(B, "budget")))
        .await
        .unwrap();
    assert_eq!(
        prepared,
        Some(PrepareRenameResponse::Range(range_of(B, "budget")))
    );

    for (at, name, why) in [
        (pos(B, "budget"), "when", "reserved word"),
        (pos(B, "budget"), "Budget", "is not a name"),
        (pos(B, "budget"), "p99", "already declared: signal `p99`"),
        (pos(B, "latency_p99"), "p99_latency", "standard library"),
    ] {
        let err = s
            .backend
            .rename(RenameParams {
                text_document_position: Server::tdp(PB, at),
                new_name: name.into(),
                work_done_progress_params: Default::default(),
            })
            .await
            .unwrap_err();
        assert!(err.message.contains(why), "{}", err.message);
    }
}

// ------------------------------------------------------------------------------- completion

fn labels(items: &[CompletionItem]) -> Vec<&str> {
    items.iter().map(|i| i.label.as_str()).collect()
}

#[tokio::test]
async fn completion_offers_what_fits_the_place() {
    let mut s = app().await;
    let p = "/ws/app/c.rollguard";
    let text = "use std::\n\npolicy c {\n  applies when deployment.\n  require samples(p99) >= 10 else \n  approval a requires 1 of \n  halt x when p99 > 800\n  \n}\n\nsig";
    s.open(p, text).await;

    let l = s.completion(p, pos(text, "std::").with(5)).await;
    assert_eq!(labels(&l), ["classes", "deps", "http", "identity"]);

    let items = s.completion(p, pos(text, "deployment.").with(11)).await;
    let l = labels(&items);
    assert!(
        l.contains(&"traffic_percent") && l.contains(&"environment"),
        "{l:?}"
    );
    let tp = items.iter().find(|i| i.label == "traffic_percent").unwrap();
    assert_eq!(tp.detail.as_deref(), Some("number"));

    let l = s.completion(p, pos(text, "else ").with(5)).await;
    assert_eq!(labels(&l), ["inconclusive", "hold", "halt"]);

    let l = s.completion(p, pos(text, "of ").with(3)).await;
    assert_eq!(labels(&l), ["human", "agent", "service_account", "group"]);

    // Units after a number: the number is replaced by the number with its unit.
    let items = s.completion(p, pos(text, "800").with(3)).await;
    assert_eq!(labels(&items), ["800ms", "800s", "800m", "800h", "800%"]);
    let Some(CompletionTextEdit::Edit(e)) = &items[0].text_edit else {
        panic!("a text edit")
    };
    assert_eq!(e.range, range_of(text, "800"));

    // A statement's start in a policy: statement keywords and names.
    let items = s.completion(p, pos(text, "  \n}").with(2)).await;
    let l = labels(&items);
    for want in [
        "rollback",
        "require",
        "applies when",
        "approval",
        "checkout_errors",
        "budget",
    ] {
        assert!(l.contains(&want), "{want} missing from {l:?}");
    }
    let sig = items.iter().find(|i| i.label == "checkout_errors").unwrap();
    assert_eq!(
        sig.detail.as_deref(),
        Some("signal: ratio = \"checkout.errors\"")
    );
    assert_eq!(sig.kind, Some(CompletionItemKind::VARIABLE));

    // A declaration's start at the top level.
    let l = s.completion(p, pos(text, "sig").with(3)).await;
    assert!(labels(&l).contains(&"signal") && labels(&l).contains(&"policy"));

    // Inside an expression: names of the file's imports, built-ins, `deployment`.
    let l = s.completion(p, pos(text, "p99 > 800").with(0)).await;
    let l = labels(&l);
    for want in ["p99", "baseline", "deployment", "and", "checkout_errors"] {
        assert!(l.contains(&want), "{want} missing from {l:?}");
    }
}

#[tokio::test]
async fn completion_after_is_offers_classes_and_after_may_grants() {
    let mut s = app().await;
    let p = "/ws/app/d.rollguard";
    let text = "scope s {\n  may [halt, \n}\n\npolicy d {\n  halt x when class is \n}\n";
    s.open(p, text).await;
    let l = s.completion(p, pos(text, "halt, ").with(6)).await;
    assert_eq!(labels(&l), ["halt", "rollback", "promote", "override"]);
    let l = s.completion(p, pos(text, "is ").with(3)).await;
    let l = labels(&l);
    assert!(
        l.contains(&"vault_change") && l.contains(&"irreversible"),
        "{l:?}"
    );
}

trait With {
    fn with(self, n: u32) -> Position;
}

impl With for Position {
    fn with(self, n: u32) -> Position {
        Position::new(self.line, self.character + n)
    }
}

// ------------------------------------------------------------------------------- symbols

#[tokio::test]
async fn document_symbols_nest_a_policys_rules() {
    let s = app().await;
    let Some(DocumentSymbolResponse::Nested(symbols)) = s
        .backend
        .document_symbol(DocumentSymbolParams {
            text_document: TextDocumentIdentifier::new(uri(PB)),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
    else {
        panic!("nested symbols")
    };
    assert_eq!(symbols.len(), 1);
    let policy = &symbols[0];
    assert_eq!(
        (policy.name.as_str(), policy.kind),
        ("checkout", SymbolKind::MODULE)
    );
    let children: Vec<(&str, SymbolKind)> = policy
        .children
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        children,
        [
            ("spike", SymbolKind::EVENT),
            ("slow", SymbolKind::EVENT),
            ("vault", SymbolKind::KEY)
        ]
    );
    assert_eq!(policy.selection_range, range_of(B, "checkout"));
    assert_eq!(policy.range.start, Position::new(2, 0));
    assert_eq!(policy.range.end, Position::new(7, 1));
}

// ------------------------------------------------------------------------------- formatting

#[tokio::test]
async fn formatting_replaces_the_file_with_the_librarys_layout() {
    let mut s = Server::new().await;
    let p = "/ws/f/p.rollguard";
    let text = "signal  p99 :duration=\"k\"\npolicy p{\n halt slow when p99>2s && p99 > 1s\n}";
    s.open(p, text).await;
    let edits = s
        .backend
        .formatting(DocumentFormattingParams {
            text_document: TextDocumentIdentifier::new(uri(p)),
            options: FormattingOptions::default(),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let formatted = apply(text, &edits);
    assert_eq!(
        formatted,
        "signal p99: duration = \"k\"\n\npolicy p {\n  halt slow when p99 > 2s and p99 > 1s\n}\n"
    );
    assert_eq!(formatted, rollguard::fmt::format(text).unwrap());

    // A file with a syntax error is left alone.
    s.change(p, "policy {").await;
    let edits = s
        .backend
        .formatting(DocumentFormattingParams {
            text_document: TextDocumentIdentifier::new(uri(p)),
            options: FormattingOptions::default(),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(edits, None);
}

// ------------------------------------------------------------------------------- code actions

#[tokio::test]
async fn quick_fix_adds_the_missing_unit() {
    let mut s = Server::new().await;
    let p = "/ws/q/p.rollguard";
    let text = "signal p99: duration = \"k\"\nsignal errors: ratio = \"e\"\n\npolicy p {\n  applies when deployment.service == \"api\"\n  halt slow when p99 > 800\n  halt bad when errors > 0.05\n}\n";
    s.open(p, text).await;
    let actions = s.code_actions(p, range_of(text, "p99 > 800")).await;
    let titles: Vec<&str> = actions.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, ["Write `800ms`", "Write `800s`"]);
    // The unit the message names is safe to apply; the other is a choice.
    assert_eq!(actions[0].is_preferred, Some(true));
    assert_eq!(actions[1].is_preferred, Some(false));
    assert_eq!(actions[0].kind, Some(CodeActionKind::QUICKFIX));
    let d = &actions[0].diagnostics.as_ref().unwrap()[0];
    assert_eq!(d.code, Some(NumberOrString::String("E0004".into())));
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert_eq!(edits[0].range, range_of(text, "800"));
    assert!(apply(text, edits).contains("halt slow when p99 > 800ms\n"));

    let actions = s.code_actions(p, range_of(text, "errors > 0.05")).await;
    assert_eq!(actions[0].title, "Write `5%`");
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert!(apply(text, edits).contains("halt bad when errors > 5%\n"));
}

#[tokio::test]
async fn quick_fix_takes_the_did_you_mean_and_adds_a_missing_use() {
    let mut s = Server::new().await;
    let p = "/ws/q2/p.rollguard";
    let text = "signal error_rate: ratio = \"e\"\n\npolicy p {\n  applies when deployment.service == \"api\"\n  halt bad when eror_rate > 1%\n  halt slow when latency_p99 > 1s\n}\n";
    s.open(p, text).await;
    let actions = s.code_actions(p, range_of(text, "eror_rate")).await;
    assert_eq!(actions[0].title, "Replace with `error_rate`");
    assert_eq!(actions[0].is_preferred, Some(true));
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert_eq!(edits[0].range, range_of(text, "eror_rate"));
    assert!(apply(text, edits).contains("halt bad when error_rate > 1%"));

    let actions = s.code_actions(p, range_of(text, "latency_p99")).await;
    assert_eq!(actions[0].title, "Add `use std::http`");
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert!(apply(text, edits).starts_with("use std::http\nsignal error_rate"));

    // A mistyped keyword (a syntax error points at one character; the fix takes the word).
    let text = "signl x: ratio = \"k\"\n";
    s.change(p, text).await;
    let actions = s.code_actions(p, range_of(text, "signl")).await;
    assert_eq!(actions[0].title, "Replace with `signal`");
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert_eq!(apply(text, edits), "signal x: ratio = \"k\"\n");
}

#[tokio::test]
async fn quick_fixes_come_from_the_diagnostics_suggestions_only() {
    let mut s = Server::new().await;
    let p = "/ws/q4/p.rollguard";
    // A mistyped grant and field have fixes; a type error without a literal to rewrite has none.
    let text = "signal p99: duration = \"k\"\nscope bots {\n  principals [agent]\n  may [hlat]\n}\n\npolicy p {\n  applies when deployment.servce == \"api\"\n  halt slow when p99\n}\n";
    s.open(p, text).await;
    let actions = s.code_actions(p, range_of(text, "hlat")).await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].title, "Replace with `halt`");
    assert_eq!(
        actions[0].diagnostics.as_ref().unwrap()[0].code,
        Some(NumberOrString::String("E0016".into()))
    );
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert!(apply(text, edits).contains("may [halt]"));

    let actions = s.code_actions(p, range_of(text, "servce")).await;
    assert_eq!(actions[0].title, "Replace with `service`");
    let edits = &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri(p)];
    assert!(apply(text, edits).contains("deployment.service =="));

    let diags = s.diagnostics(p).unwrap();
    assert!(
        diags.iter().any(|d| d.message.contains("`p99`")),
        "{diags:?}"
    );
    assert!(s.code_actions(p, range_of(text, "p99\n}")).await.is_empty());
}

// ------------------------------------------------------------------------------- semantic tokens

/// Decodes tokens to (line, start, length, type, modifiers).
fn decode(data: &[SemanticToken]) -> Vec<(u32, u32, u32, SemanticTokenType, u32)> {
    let legend = rollguard_lsp::ide::tokens::legend();
    let (mut line, mut col) = (0, 0);
    data.iter()
        .map(|t| {
            line += t.delta_line;
            col = if t.delta_line == 0 {
                col + t.delta_start
            } else {
                t.delta_start
            };
            (
                line,
                col,
                t.length,
                legend.token_types[t.token_type as usize].clone(),
                t.token_modifiers_bitset,
            )
        })
        .collect()
}

#[tokio::test]
async fn semantic_tokens_classify_names_and_count_utf16() {
    let mut s = Server::new().await;
    let p = "/ws/t/p.rollguard";
    let text = "use std::http\n/// Café ☕ latency 😀\nsignal p99: duration = \"http.latency.p99\" /* é */ let x = 1\npolicy p {\n  halt slow when p99 > 800ms and error_rate > 1%\n}\n";
    s.open(p, text).await;
    let Some(SemanticTokensResult::Tokens(tokens)) = s
        .backend
        .semantic_tokens_full(SemanticTokensParams {
            text_document: TextDocumentIdentifier::new(uri(p)),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
    else {
        panic!("tokens")
    };
    let toks = decode(&tokens.data);
    let at = |needle: &str, nth: usize| {
        let p = pos_nth(text, needle, nth, 0);
        toks.iter()
            .find(|t| t.0 == p.line && t.1 == p.character)
            .cloned()
            .unwrap_or_else(|| panic!("no token at `{needle}`: {toks:?}"))
    };
    const DECLARATION: u32 = 1;
    const DEFAULT_LIBRARY: u32 = 4;
    const DOCUMENTATION: u32 = 8;
    let kind = |needle: &str| {
        let t = at(needle, 0);
        (t.2, t.3, t.4)
    };
    assert_eq!(kind("use").1, SemanticTokenType::KEYWORD);
    assert_eq!(kind("http").1, SemanticTokenType::NAMESPACE);
    // The doc comment's length counts UTF-16 units: the emoji takes two.
    let doc = "/// Café ☕ latency 😀";
    assert_eq!(doc.encode_utf16().count(), 21);
    assert_eq!(
        at("///", 0),
        (1, 0, 21, SemanticTokenType::COMMENT, DOCUMENTATION)
    );
    assert_eq!(
        at("p99", 0),
        (2, 7, 3, SemanticTokenType::VARIABLE, DECLARATION)
    );
    assert_eq!(kind("duration").1, SemanticTokenType::TYPE);
    assert_eq!(kind("\"http").1, SemanticTokenType::STRING);
    assert_eq!(kind("/* é */"), (7, SemanticTokenType::COMMENT, 0));
    assert_eq!(kind("slow"), (4, SemanticTokenType::EVENT, DECLARATION));
    assert_eq!(kind("halt"), (4, SemanticTokenType::KEYWORD, 0));
    assert_eq!(kind("p99 >"), (3, SemanticTokenType::VARIABLE, 0));
    assert_eq!(kind("800ms"), (5, SemanticTokenType::NUMBER, 0));
    assert_eq!(
        kind("error_rate"),
        (10, SemanticTokenType::VARIABLE, DEFAULT_LIBRARY)
    );
}

// ------------------------------------------------------------------------------- positions

#[tokio::test]
async fn positions_after_non_ascii_text_use_utf16_columns() {
    let mut s = Server::new().await;
    let p = "/ws/u/p.rollguard";
    let text = "signal p99: duration = \"k\"\nlet note = \"😀 café\" let limit = 2s\npolicy p {\n  applies when deployment.service == \"é😀\" and p99 > limit\n}\n";
    s.open(p, text).await;
    let at = pos(text, "limit = 2s");
    assert_eq!(at, Position::new(1, 25)); // `😀` counts 2, `é` 1
    let (md, range) = s.hover(p, at).await.unwrap();
    assert!(md.contains("let limit = 2s"), "{md}");
    assert_eq!(range, Range::new(at, Position::new(1, 30)));
    let use_at = pos_nth(text, "limit", 1, 2);
    let loc = s.definition(p, use_at).await.unwrap();
    assert_eq!(loc.range, Range::new(at, Position::new(1, 30)));
}

// ------------------------------------------------------------------------------- explain

#[tokio::test]
async fn the_explain_command_returns_a_codes_explanation() {
    let s = Server::new().await;
    let out = s
        .backend
        .execute_command(ExecuteCommandParams {
            command: rollguard_lsp::server::EXPLAIN_COMMAND.into(),
            arguments: vec![serde_json::json!("e0004")],
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let text = out.as_str().unwrap();
    assert!(text.starts_with("# E0004: values of different units mixed\n\n"));
}

// ------------------------------------------------------------------------------- disk

#[tokio::test]
async fn files_on_disk_complete_the_set_and_their_changes_are_seen() {
    let dir = std::env::temp_dir().join(format!("rollguard-lsp-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    let signals = dir.join("app/signals.rollguard");
    std::fs::write(&signals, "signal p99: duration = \"http.latency.p99\"\n").unwrap();
    std::fs::write(dir.join("shared/limits.rollguard"), "let limit = 2s\n").unwrap();
    let policy_path = dir.join("app/policy.rollguard");
    let policy = "use \"../shared/limits.rollguard\"\n\npolicy p {\n  applies when deployment.service == \"api\"\n  require fresh(p99) within 2m else halt\n  require samples(p99) >= 100 else inconclusive\n  halt slow when p99 > limit\n}\n";
    std::fs::write(&policy_path, policy).unwrap();
    let path = policy_path.to_str().unwrap();

    let mut s = Server::new().await;
    s.open(path, policy).await;
    // The unopened file of the set and the imported file were read from disk: no error.
    assert_eq!(s.diagnostics(path), None);
    let loc = s
        .definition(path, pos_nth(policy, "p99", 2, 0))
        .await
        .unwrap();
    assert_eq!(loc.uri, uri(signals.to_str().unwrap()));
    let loc = s.definition(path, pos(policy, "limit\n")).await.unwrap();
    assert_eq!(
        loc.uri,
        uri(dir.join("shared/limits.rollguard").to_str().unwrap())
    );

    // The signal is renamed on disk; the editor reports it.
    std::fs::write(
        &signals,
        "signal latency: duration = \"http.latency.p99\"\n",
    )
    .unwrap();
    s.backend
        .did_change_watched_files(DidChangeWatchedFilesParams {
            changes: vec![FileEvent::new(
                uri(signals.to_str().unwrap()),
                FileChangeType::CHANGED,
            )],
        })
        .await;
    let diags = s.diagnostics(path).unwrap();
    assert_eq!(codes(&diags)[0], "E0002");
    assert!(diags[0].message.starts_with("unknown name `p99`"));
    assert_eq!(diags[0].range, range_of(policy, "p99"));

    // Closing the file goes back to the disk's text, which is the same: nothing changes.
    s.backend
        .did_close(DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier::new(uri(path)),
        })
        .await;
    // No document of the set is open any more: its diagnostics are withdrawn.
    assert_eq!(s.diagnostics(path), Some(vec![]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn quick_fix_deletes_a_use_of_a_file_of_the_set() {
    let mut s = Server::new().await;
    let a = "use \"b.rollguard\"\nsignal p99: duration = \"k\"\n";
    s.open("/ws/q3/b.rollguard", "let limit = 2s\n").await;
    s.open("/ws/q3/a.rollguard", a).await;
    let diags = s.diagnostics("/ws/q3/a.rollguard").unwrap();
    assert!(diags[0]
        .message
        .contains("is already part of this policy set"));
    let actions = s
        .code_actions("/ws/q3/a.rollguard", range_of(a, "\"b.rollguard\""))
        .await;
    assert_eq!(actions[0].title, "Delete the `use`");
    let edits =
        &actions[0].edit.as_ref().unwrap().changes.as_ref().unwrap()[&uri("/ws/q3/a.rollguard")];
    assert_eq!(apply(a, edits), "signal p99: duration = \"k\"\n");
}
