//! What an edit re-computes, counted with salsa's event callback (`WillExecute`).

mod common;

use common::*;
use rollguard_lsp::db::{self, Database, Db as _, SourceFile};
use rollguard_lsp::paths::FilePath;
use salsa::plumbing::AsId;
use tower_lsp_server::ls_types::Range;

const A: &str = r#"signal p99: duration = "http.latency.p99"
signal errors: ratio = "http.errors"

policy a {
  applies when deployment.service == "a"
  require fresh(p99, errors) within 2m else halt
  require samples(p99) >= 100 else inconclusive
  halt slow when p99 > 800ms
  rollback failing when errors > 2 * baseline(errors)
}
"#;

const A2: &str = r#"/// The latency budget.
let budget = 2s

policy a2 {
  applies when deployment.service == "a2"
  require fresh(p99) within 2m else halt
  require samples(p99) >= 100 else inconclusive
  halt over_budget when p99 > budget
}
"#;

const B: &str = r#"signal queue: count = "queue.depth"

policy b {
  applies when deployment.service == "b"
  require fresh(queue) within 2m else halt
  require samples(queue) >= 100 else inconclusive
  halt backlog when queue > 2 * baseline(queue)
}
"#;

const PA: &str = "/ws/app/a.rollguard";
const PA2: &str = "/ws/app/a2.rollguard";
const PB: &str = "/ws/other/b.rollguard";

fn file(s: &Server, path: &str) -> SourceFile {
    s.backend
        .state()
        .db
        .known(&FilePath::Fs(path.into()))
        .unwrap()
}

/// What the features read for every file: its names and the names it sees, its outline
/// (diagnostics were computed by the server when it published).
fn touch_all(s: &Server, files: &[SourceFile]) {
    let st = s.backend.state();
    for &f in files {
        db::names(&st.db, f);
        db::scope(&st.db, f);
        db::declarations(&st.db, f);
        db::diagnostics(&st.db, f);
    }
}

fn ran(log: &[String], query: &str, id: impl AsId) -> bool {
    let key = format!("{query}({:?})", id.as_id());
    log.contains(&key)
}

#[tokio::test]
async fn an_edit_to_a_rules_condition_re_runs_nothing_for_other_files() {
    let mut s = Server::with_database(Database::new(true)).await;
    s.open(PA, A).await;
    s.open(PA2, A2).await;
    s.open(PB, B).await;
    let (a, a2, b) = (file(&s, PA), file(&s, PA2), file(&s, PB));
    let (set_a, set_b) = {
        let st = s.backend.state();
        (
            db::Db::set_of(&st.db, a).unwrap(),
            db::Db::set_of(&st.db, b).unwrap(),
        )
    };
    touch_all(&s, &[a, a2, b]);
    assert_eq!(s.diagnostics(PA), None, "the sets are clean");
    assert_eq!(s.diagnostics(PB), None, "the sets are clean");
    let first = s.backend.state().db.take_executions();
    assert!(ran(&first, "declarations", b) && ran(&first, "check_set", set_b));
    let parses_before = s.backend.state().db.compiler().parses();

    // One line of `a`: a rule's condition, made longer.
    let r: Range = range_of(A, "800ms");
    s.edit(PA, r, "1200ms").await;
    touch_all(&s, &[a, a2, b]);
    let log = s.backend.state().db.take_executions();

    // The edited file and its set's compilation ran again ...
    for q in ["parse", "lines", "declarations", "names"] {
        assert!(ran(&log, q, a), "{q}(a) should re-run: {log:?}");
    }
    assert!(ran(&log, "compile_set", set_a), "{log:?}");
    // ... and the check found the same (nothing), so the per-file diagnostics were not
    // re-computed either.
    assert!(!ran(&log, "diagnostics", a), "{log:?}");
    // ... but the library's compiler parsed only the edited file: the set's other file was
    // taken from its cache, and the server's own queries of it did not re-run.
    assert_eq!(
        s.backend.state().db.compiler().parses() - parses_before,
        1,
        "only the edited file is parsed again"
    );
    for q in ["parse", "lines", "declarations"] {
        assert!(!ran(&log, q, a2), "{q}(a2) re-ran: {log:?}");
    }
    // The file of the other set: nothing at all.
    for q in [
        "parse",
        "declarations",
        "names",
        "scope",
        "diagnostics",
        "lines",
    ] {
        assert!(!ran(&log, q, b), "{q}(b) re-ran: {log:?}");
    }
    for q in ["compile_set", "check_set", "set_index"] {
        assert!(!ran(&log, q, set_b), "{q}(set_b) re-ran: {log:?}");
    }
    // The diagnostics of the set did not change, so nothing was published.
    assert!(s.take_published().is_empty());
}

#[tokio::test]
async fn an_edit_that_declares_a_name_re_resolves_the_set_but_not_other_sets() {
    let mut s = Server::with_database(Database::new(true)).await;
    s.open(PA, A).await;
    s.open(PA2, A2).await;
    s.open(PB, B).await;
    let (a, a2, b) = (file(&s, PA), file(&s, PA2), file(&s, PB));
    touch_all(&s, &[a, a2, b]);
    s.backend.state().db.take_executions();

    let end = pos(A, "\npolicy a");
    s.edit(PA, Range::new(end, end), "\nsignal extra: count = \"x\"")
        .await;
    touch_all(&s, &[a, a2, b]);
    let log = s.backend.state().db.take_executions();
    let set_a = db::Db::set_of(&s.backend.state().db, a).unwrap();
    assert!(ran(&log, "compile_set", set_a), "{log:?}");
    assert!(ran(&log, "names", a2), "{log:?}");
    assert!(ran(&log, "scope", a2), "{log:?}");
    assert!(!ran(&log, "declarations", a2), "{log:?}");
    assert!(!ran(&log, "names", b), "{log:?}");
    let set_b = db::Db::set_of(&s.backend.state().db, b).unwrap();
    assert!(!ran(&log, "compile_set", set_b), "{log:?}");
    // The new signal is unused: W0010 is published for `a`.
    let published = s.diagnostics(PA).unwrap();
    assert_eq!(published.len(), 1);
    assert!(published[0]
        .message
        .starts_with("signal `extra` is never used"));
}
