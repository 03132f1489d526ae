//! From a one-line edit to the diagnostics to publish, in a generated workspace of 200 files and
//! 10,000 lines: incremental (the server's database, warm) versus from scratch (a new database
//! given every file, as a server without incremental queries would re-check on each edit).
//!
//! Two layouts: 20 policy sets of 10 files (each service in its own directory, the usual
//! layout), and one set of 200 files (the library checks a set as a whole, so there an edit
//! re-checks all of it, from the other 199 files' cached parses).
//!
//! For the p95 in `docs/performance.md`, read each sample's time per iteration from
//! `target/criterion/<group>/<function>/new/sample.json` (`times[i] / iters[i]`).
//!
//! `cargo bench -p rollguard-lsp`; the figures are in `docs/performance.md`.

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rollguard_lsp::db::Database;
use rollguard_lsp::State;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent, Uri};

const LINES_PER_FILE: usize = 50;

fn signals_file(d: usize) -> String {
    let mut s = format!(
        r#"// Service {d}: the signals its policies read.

/// Share of failed requests, as a fraction.
signal errors_{d}: ratio = "svc{d}.errors"
/// 99th percentile latency.
signal p99_{d}: duration = "svc{d}.latency.p99"
/// Requests served in the window.
signal requests_{d}: count = "svc{d}.requests"
/// Depth of the work queue.
signal queue_{d}: count = "svc{d}.queue"

/// The latency budget.
let budget_{d} = 800ms
fn over_{d}(x: duration, limit: duration) -> bool = x > limit

class migration_{d} {{ touches [schema] irreversible }}

scope bots_{d} {{
  principals [service_account "deploy-{d}"]
  may [halt, rollback]
  in [production]
}}
"#
    );
    pad(&mut s);
    s
}

fn policy_file(d: usize, f: usize) -> String {
    let mut s = format!(
        r#"// Policy {f} of service {d}.

policy p{d}_{f} {{
  applies when deployment.service == "svc{d}-{f}"
  require fresh(errors_{d}, p99_{d}, queue_{d}) within 2m else halt
  require samples(errors_{d}) >= 500 else inconclusive
  require samples(p99_{d}) >= 500 else inconclusive
  require samples(queue_{d}) >= 500 else inconclusive

  /// Errors well above the production baseline.
  rollback errors when errors_{d} > 1.5 * baseline(errors_{d}) for 3m
  /// Latency over budget and over its baseline.
  halt slow when over_{d}(p99_{d}, budget_{d}) and p99_{d} > 2 * baseline(p99_{d})
  halt cap when p99_{d} > 800ms and p99_{d} > 1.2 * baseline(p99_{d})
  hold backlog when queue_{d} > 3 * baseline(queue_{d})
  halt peak when max(errors_{d}) over 5m > 2 * baseline(errors_{d})
  inconclusive thin when requests_{d} < 0.1 * baseline(requests_{d})

  approval schema_review requires 1 of group "dba" when class touches schema
  approval agents requires 1 of human when deployment.actor is agent
}}
"#
    );
    pad(&mut s);
    s
}

/// Comment lines up to `LINES_PER_FILE`.
fn pad(s: &mut String) {
    let mut n = s.lines().count();
    while n < LINES_PER_FILE {
        s.push_str("// (notes on the thresholds above)\n");
        n += 1;
    }
}

/// (URI, text) of every file. `sets` directories of `200 / sets` files each.
fn workspace(sets: usize) -> Vec<(Uri, String)> {
    let per_set = 200 / sets;
    let mut files = Vec::new();
    for d in 0..sets {
        for f in 0..per_set {
            let text = if f == 0 {
                signals_file(d)
            } else {
                policy_file(d, f)
            };
            let uri = Uri::from_str(&format!(
                "file:///bench/ws{sets}/svc{d:02}/f{f:03}.rollguard"
            ))
            .expect("a valid URI");
            files.push((uri, text));
        }
    }
    let lines: usize = files.iter().map(|(_, t)| t.lines().count()).sum();
    assert_eq!((files.len(), lines), (200, 10_000));
    files
}

/// The file edited, and the range of `800ms` in it.
fn target(files: &[(Uri, String)]) -> (Uri, Range) {
    let (uri, text) = &files[files.len() / 2 + 3];
    let line = text
        .lines()
        .position(|l| l.contains("halt cap when"))
        .expect("the rule is there");
    let col = text.lines().nth(line).unwrap().find("800ms").unwrap();
    let start = Position::new(line as u32, col as u32);
    (
        uri.clone(),
        Range::new(start, Position::new(line as u32, col as u32 + 5)),
    )
}

fn open_all(files: &[(Uri, String)]) -> State {
    let mut state = State::new(Database::default());
    for (uri, text) in files {
        state.open(uri.clone(), text.clone(), 1);
    }
    state
}

/// Toggles `800ms` and `800` (an error, E0004): every edit changes what is published.
fn toggle(state: &mut State, uri: &Uri, range: Range, to_error: bool, version: i32) {
    let change = if to_error {
        TextDocumentContentChangeEvent {
            range: Some(range),
            range_length: None,
            text: "800".into(),
        }
    } else {
        let mut r = range;
        r.end.character -= 2;
        TextDocumentContentChangeEvent {
            range: Some(r),
            range_length: None,
            text: "800ms".into(),
        }
    };
    state.change(uri, version, vec![change]);
}

fn bench(c: &mut Criterion) {
    for sets in [20, 1] {
        let files = workspace(sets);
        let (uri, range) = target(&files);
        let layout = if sets == 20 {
            "20 sets of 10 files"
        } else {
            "1 set of 200 files"
        };
        let mut group = c.benchmark_group(format!("edit to diagnostics, {layout}"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(10));
        group.warm_up_time(Duration::from_secs(2));

        // Incremental: a warm server; each iteration is one edit and the updates it publishes.
        let mut state = open_all(&files);
        let initial = state.updates();
        assert!(
            initial.iter().all(|(_, d, _)| {
                d.iter().all(|d| {
                    d.severity != Some(tower_lsp_server::ls_types::DiagnosticSeverity::ERROR)
                })
            }),
            "the generated workspace has no errors"
        );
        let mut version = 3;
        let mut to_error = true;
        // Sanity: the edit makes an E0004, and fixing it removes it.
        toggle(&mut state, &uri, range, true, 2);
        let published = state.updates();
        assert_eq!(published.len(), 1, "one file's diagnostics change");
        assert!(published[0]
            .1
            .iter()
            .any(|d| d.message.contains("write `800ms`")));
        toggle(&mut state, &uri, range, false, 3);
        assert_eq!(state.updates().len(), 1);
        group.bench_function("incremental", |b| {
            b.iter(|| {
                version += 1;
                toggle(&mut state, &uri, range, to_error, version);
                to_error = !to_error;
                black_box(state.updates())
            })
        });

        // From scratch: the same edits (alternately making and fixing the error, so the set is
        // linted every other time, as above), each followed by a new database given every file.
        let mut edited = files.clone();
        let i = edited.iter().position(|(u, _)| *u == uri).unwrap();
        edited[i].1 = edited[i].1.replacen("> 800ms and", "> 800 and", 1);
        let mut with_error = false;
        group.bench_function("from scratch", |b| {
            b.iter_batched(
                || {
                    with_error = !with_error;
                    if with_error {
                        edited.clone()
                    } else {
                        files.clone()
                    }
                },
                |files| {
                    let mut state = open_all(&files);
                    black_box(state.updates())
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
