//! The bad-input corpus (`tests/bad-input/`, see its README): every case through the real
//! binary, within a time and memory bound, never panicking, with the exit status and message the
//! table below expects for it.
//!
//! Policies run as `rollguard check FILE`; snapshots as `rollguard eval FIXED --snapshot FILE
//! --format json` against the small policy in [`FIXED_POLICY`]. Cases too large or binary to
//! commit are built at run time by the generators in [`GENERATED`], which the README lists.
//!
//! Each case is its own test (`case::<name>`); `corpus_is_complete` fails when a file has no
//! expectation, an expectation has no file, or the corpus shrinks below 40 cases.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on the processor time (user and system) of one run; the binary is killed when over.
/// 10 s for a release build (`cargo test --release`), 30 s for the binary of a plain
/// `cargo test`. That one is built with `opt-level = 3` for this package and pest (Cargo.toml's
/// `[profile.dev.package.*]`) but keeps debug assertions and unoptimized dependencies, so it is
/// still up to about twice as slow; without those settings it was 3 to 15 times slower (a
/// 10 MB policy: ~80 s instead of ~12 s). Processor time, not wall time, so that a busy machine does not fail
/// the test; [`WALL_LIMIT`] still catches a run that sleeps forever.
const TIME_LIMIT: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(30)
} else {
    Duration::from_secs(10)
};
/// Bound on the wall-clock time of one run, for runs that hang without using the processor.
const WALL_LIMIT: Duration = Duration::from_secs(4 * TIME_LIMIT.as_secs());
/// Linux reports process times in ticks of 1/100 s (`USER_HZ`) whatever the kernel's `HZ`.
const TICKS_PER_SECOND: u64 = 100;
/// Bound on the peak resident set (`VmHWM`); the binary is killed when over. The largest input,
/// 10 MB of policies that each draw warnings, peaks near 530 MB in a debug build (about 50 bytes
/// per byte of policy: syntax tree, analysis, IR and one diagnostic per policy); the bound is
/// there to catch a blow-up (a quadratic pass, a runaway allocation), which would exceed it many
/// times over, not to pin today's constant, which the compile-performance work will cut.
const MEMORY_LIMIT_KB: u64 = 768 * 1024;
/// Output kept per stream; the rest is read and dropped.
const OUTPUT_CAP: usize = 16 << 20;
const MIN_CASES: usize = 40;

/// What a case must do: its exit status, and text its output must contain (standard output for
/// a decision, standard error otherwise).
struct Expect {
    file: &'static str,
    exit: i32,
    says: &'static [&'static str],
}

/// The expectations table: `test_name: "file" => exit, ["substring", ...];`. Each entry becomes
/// the test `case::test_name`. Where the binary does not meet an entry today, its comment says
/// what it does instead.
macro_rules! cases {
    ($($(#[$doc:meta])* $test:ident: $file:literal => $exit:literal, [$($says:literal),* $(,)?];)*) => {
        const CASES: &[Expect] = &[$(Expect { file: $file, exit: $exit, says: &[$($says),*] }),*];

        mod case {
            $(
                $(#[$doc])*
                #[test]
                fn $test() {
                    super::run_case($file);
                }
            )*
        }
    };
}

cases! {
    // ------------------------------------------------------------- snapshots: JSON structure
    /// 100 levels of objects under a key the contract does not define: within serde_json's depth
    /// limit of 128, so read whole, then refused at that key (snapshots are closed).
    snapshot_nested_object_100: "snapshot-nested-object-100.json" => 2,
        ["invalid snapshot at `extra`: `extra` is not a key of the snapshot"];
    snapshot_nested_array_100: "snapshot-nested-array-100.json" => 2,
        ["invalid snapshot at `extra`: `extra` is not a key of the snapshot"];
    snapshot_nested_object_100k: "snapshot-nested-object-100k.json" => 2,
        ["not valid JSON: recursion limit exceeded at line 2 column"];
    snapshot_nested_array_100k: "snapshot-nested-array-100k.json" => 2,
        ["not valid JSON: recursion limit exceeded at line 2 column"];
    snapshot_empty: "snapshot-empty.json" => 2,
        ["not valid JSON: EOF while parsing a value at line 1 column 0"];
    snapshot_whitespace_only: "snapshot-whitespace-only.json" => 2,
        ["not valid JSON: EOF while parsing a value at line 3 column 0"];
    /// The document itself has the wrong type: the message says so without a path.
    snapshot_array: "snapshot-array.json" => 2, ["invalid snapshot: expected an object, found an array"];
    snapshot_null: "snapshot-null.json" => 2, ["invalid snapshot: expected an object, found null"];
    snapshot_string: "snapshot-string.json" => 2, ["invalid snapshot: expected an object, found a string"];
    snapshot_zero: "snapshot-zero.json" => 2, ["invalid snapshot: expected an object, found a number"];
    snapshot_trailing_garbage: "snapshot-trailing-garbage.json" => 2,
        ["not valid JSON: trailing characters at line 63 column 1"];
    snapshot_truncated: "snapshot-truncated.json" => 2,
        ["not valid JSON: EOF while parsing a string at line 9 column 15"];
    /// A repeated key is refused with its path: readers that keep the first and the last key
    /// would see different snapshots (a spike and a calm 0.001).
    snapshot_duplicate_keys: "snapshot-duplicate-keys.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].value`: the key `value` appears twice"];
    /// A second `deployment` object is refused, never silently swapped for the first.
    snapshot_duplicate_deployment: "snapshot-duplicate-deployment.json" => 2,
        ["invalid snapshot at `deployment`: the key `deployment` appears twice"];
    snapshot_crlf: "snapshot-crlf.json" => 0, ["\"decision\": \"rollback\""];
    /// The byte order mark is skipped.
    snapshot_bom: "snapshot-bom.json" => 0, ["\"decision\": \"rollback\""];
    snapshot_invalid_utf8: "snapshot-invalid-utf8.json" => 2,
        ["not valid JSON: invalid unicode code point at line 10 column"];
    snapshot_nul_byte: "snapshot-nul-byte.json" => 2,
        ["not valid JSON: control character (\\u0000-\\u001F) found while parsing a string at line 10 column"];

    // ------------------------------------------------------------- snapshots: numbers
    snapshot_number_1e400: "snapshot-number-1e400.json" => 2,
        ["not valid JSON: number out of range at line 34 column 20"];
    /// Underflows to 0: no spike.
    snapshot_number_1e_minus_400: "snapshot-number-1e-400.json" => 0, ["\"decision\": \"proceed\""];
    /// `-0` is a count (cascade_depth) and a ratio (the current error rate, so no spike).
    snapshot_number_negative_zero: "snapshot-number-negative-zero.json" => 0,
        ["\"decision\": \"proceed\"", "\"gates\": []"];
    snapshot_nan: "snapshot-nan.json" => 2, ["not valid JSON: expected value at line 34 column 16"];
    snapshot_infinity: "snapshot-infinity.json" => 2,
        ["not valid JSON: expected value at line 34 column 16"];
    snapshot_negative_infinity: "snapshot-negative-infinity.json" => 2,
        ["not valid JSON: invalid number at line 34 column 17"];
    /// 2^64+1 samples: a count, rounded to a double; the samples gate passes.
    snapshot_samples_2pow64_plus_1: "snapshot-samples-2pow64-plus-1.json" => 0,
        ["\"decision\": \"rollback\"", "\"gates\": []"];
    /// 2^64+1 as cascade_depth: accepted as a count, which the decision prints as an integer
    /// (§12: "counts as integers"), the nearest a double holds.
    snapshot_cascade_depth_2pow64_plus_1: "snapshot-cascade-depth-2pow64-plus-1.json" => 0,
        ["\"deployment.cascade_depth\": 1844674407370955"];

    // ------------------------------------------------------------- snapshots: timestamps
    /// `at` in year 9999: every observation is ancient, so the gates fail and nothing fires.
    snapshot_at_year_9999: "snapshot-at-year-9999.json" => 0,
        ["\"decision\": \"halt\"", "\"require\": \"fresh(error_rate) within 2m\""];
    /// An `observed_at` more than 5 s after `at` is evidence from the future: refused.
    snapshot_observed_after_at: "snapshot-observed-after-at.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].observed_at`: this time is"];
    snapshot_observed_year_9999: "snapshot-observed-year-9999.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].observed_at`: this time is"];
    /// The same instant as the base snapshot, written with +14:00 and -12:00.
    snapshot_offset_plus_14: "snapshot-offset-plus-14.json" => 0,
        ["\"decision\": \"rollback\"", "\"gates\": []"];
    snapshot_offset_minus_12: "snapshot-offset-minus-12.json" => 0,
        ["\"decision\": \"rollback\"", "\"gates\": []"];
    /// 23:59:60 is accepted; it is five weeks after the observations, so the gates fail.
    snapshot_leap_second: "snapshot-leap-second.json" => 0, ["\"decision\": \"halt\""];
    /// RFC 3339 allows a space for `T`; chrono accepts it, and so does rollguard.
    snapshot_timestamp_space_separator: "snapshot-timestamp-space-separator.json" => 0,
        ["\"decision\": \"rollback\""];
    snapshot_month_13: "snapshot-month-13.json" => 2,
        ["invalid snapshot at `at`: `2026-13-01T10:05:00Z` is not an RFC 3339 timestamp"];
    snapshot_hour_24: "snapshot-hour-24.json" => 2,
        ["invalid snapshot at `at`: `2026-11-22T24:00:00Z` is not an RFC 3339 timestamp"];
    snapshot_missing_zone: "snapshot-missing-zone.json" => 2,
        ["invalid snapshot at `at`: `2026-11-22T10:05:00` is not an RFC 3339 timestamp"];
    snapshot_observed_feb_30: "snapshot-observed-feb-30.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].observed_at`: `2026-02-30T10:04:50Z`"];
    snapshot_series_offset_25h: "snapshot-series-offset-25h.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].series[1][0]`"];

    // ------------------------------------------------------------- snapshots: series
    /// Points in reverse order: sorted, the window is covered and the rule fires.
    snapshot_series_out_of_order: "snapshot-series-out-of-order.json" => 0,
        ["\"decision\": \"rollback\""];
    /// A dip (0.5%) listed third but inside the window in time: seen, so no rollback.
    snapshot_series_out_of_order_dip: "snapshot-series-out-of-order-dip.json" => 0,
        ["\"decision\": \"proceed\""];
    /// Two points at 10:03, a dip then a spike: the later entry stands.
    snapshot_series_duplicate_timestamps: "snapshot-series-duplicate-timestamps.json" => 0,
        ["\"decision\": \"rollback\""];
    /// Two points at 10:03, a spike then a dip: the later entry stands.
    snapshot_series_duplicate_timestamps_dip_last: "snapshot-series-duplicate-timestamps-dip-last.json" => 0,
        ["\"decision\": \"proceed\""];
    snapshot_series_point_triple: "snapshot-series-point-triple.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].series[1]`: expected a [timestamp, value] pair"];
    snapshot_series_point_scalar: "snapshot-series-point-scalar.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].series[1]`: expected a [timestamp, value] pair"];
    snapshot_series_point_object: "snapshot-series-point-object.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].series[1]`: expected a [timestamp, value] pair"];
    snapshot_series_point_swapped: "snapshot-series-point-swapped.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"].series[1][0]`: expected an RFC 3339 timestamp"];
    /// 1,000,000 points of 2%, one a second: the window holds and the rule fires.
    snapshot_series_1m_points: "snapshot-series-1m-points.json" => 0,
        ["\"decision\": \"rollback\""];

    // ------------------------------------------------------------- snapshots: field values
    snapshot_signal_entry_string: "snapshot-signal-entry-string.json" => 2,
        ["invalid snapshot at `signals[\"http.error_rate\"]`: expected an object, found a string"];
    snapshot_undeclared_signal_entry_string: "snapshot-undeclared-signal-entry-string.json" => 2,
        ["invalid snapshot at `signals[\"other.key\"]`: expected an object, found a string"];
    snapshot_unit_minutes: "snapshot-unit-minutes.json" => 2,
        ["invalid snapshot at `signals[\"http.latency.p99\"].unit`: `minutes` is not a duration unit"];
    snapshot_principal_robot: "snapshot-principal-robot.json" => 2,
        ["invalid snapshot at `deployment.actor.kind`: `robot` is not a principal kind"];
    snapshot_verdict_maybe: "snapshot-verdict-maybe.json" => 2,
        ["invalid snapshot at `deployment.approvals[0].verdict`: `maybe` is not a verdict"];
    snapshot_labels_numbers: "snapshot-labels-numbers.json" => 2,
        ["invalid snapshot at `deployment.labels[\"team\"]`: expected a string, found a number"];
    snapshot_labels_array: "snapshot-labels-array.json" => 2,
        ["invalid snapshot at `deployment.labels`: expected an object, found an array"];
    /// 100,000 approvals; only the last is from the security group, and it is enough.
    snapshot_approvals_100k: "snapshot-approvals-100k.json" => 0,
        ["\"approval\": \"review\"", "\"missing\": []"];

    // ------------------------------------------------------------- policies: lexical
    policy_empty: "policy-empty.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_whitespace_only: "policy-whitespace-only.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_crlf: "policy-crlf.rollguard" => 0, ["0 errors, 0 warnings"];
    /// The place of an error is counted in lines, whatever the line ending.
    policy_crlf_error: "policy-crlf-error.rollguard" => 1,
        ["policy-crlf-error.rollguard:8:1", "expected a value after `and`"];
    policy_tabs: "policy-tabs.rollguard" => 0, ["0 errors, 0 warnings"];
    /// A tab is one column.
    policy_tabs_error: "policy-tabs-error.rollguard" => 1,
        ["policy-tabs-error.rollguard:7:14", "unknown name `error_rat`"];
    /// The byte order mark is skipped.
    policy_bom: "policy-bom.rollguard" => 0, ["0 errors, 0 warnings"];
    /// exit 1 naming the line and column of the first bad byte.
    policy_invalid_utf8: "policy-invalid-utf8.rollguard" => 1,
        ["policy-invalid-utf8.rollguard:7:37", "UTF-8"];
    policy_nul_bytes: "policy-nul-bytes.rollguard" => 1,
        ["policy-nul-bytes.rollguard:7:9", "expected `when` after `r`"];
    policy_nul_in_string: "policy-nul-in-string.rollguard" => 0, ["0 errors, 0 warnings"];
    /// a message that says the comment is not closed, as for strings.
    policy_unclosed_block_comment: "policy-unclosed-block-comment.rollguard" => 1,
        ["policy-unclosed-block-comment.rollguard:3:1", "not closed"];
    policy_unclosed_string_at_eof: "policy-unclosed-string-at-eof.rollguard" => 1,
        ["policy-unclosed-string-at-eof.rollguard:10:13", "this string is not closed"];
    policy_only_at_signs: "policy-only-at-signs.rollguard" => 1,
        ["policy-only-at-signs.rollguard:1:2", "expected a name after `@`"];
    policy_missing_closing_brace: "policy-missing-closing-brace.rollguard" => 1,
        ["policy-missing-closing-brace.rollguard:8:1", "expected `}` before the end of the file"];
    policy_stray_closing_brackets: "policy-stray-closing-brackets.rollguard" => 1,
        ["policy-stray-closing-brackets.rollguard:1:1", "expected a declaration"];

    // ------------------------------------------------------------- policies: nesting
    /// 63 parentheses inside the policy's braces: 64 deep, the limit.
    policy_nesting_64: "policy-nesting-64.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_nesting_65: "policy-nesting-65.rollguard" => 1,
        ["policy-nesting-65.rollguard:7:78", "nested more than 64 deep"];
    policy_deep_parens_10k: "policy-deep-parens-10k.rollguard" => 1,
        ["policy-deep-parens-10k.rollguard:7:78", "nested more than 64 deep"];
    /// accepted; brackets inside a string do not nest anything.
    policy_brackets_in_string: "policy-brackets-in-string.rollguard" => 0, ["0 errors, 0 warnings"];
    /// Accepted: brackets in a comment nest nothing.
    policy_brackets_in_comment: "policy-brackets-in-comment.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_nested_ternary_300: "policy-nested-ternary-300.rollguard" => 1,
        ["policy-nested-ternary-300.rollguard:", "nested more than 64 deep"];
    /// `? :` counts as nesting before the parser runs, so 10,000 levels get the same clear
    /// refusal as 300, at the 65th `?`.
    policy_nested_ternary_10k: "policy-nested-ternary-10k.rollguard" => 1,
        ["policy-nested-ternary-10k.rollguard:7:", "nested more than 64 deep"];
    policy_bangs_100k: "policy-bangs-100k.rollguard" => 1,
        ["policy-bangs-100k.rollguard:3:1", "nests operators more than 256 deep"];
    policy_plus_chain_100k: "policy-plus-chain-100k.rollguard" => 1,
        ["policy-plus-chain-100k.rollguard:4:1", "nests operators more than 256 deep"];

    // ------------------------------------------------------------- policies: size
    policy_identifier_1mb: "policy-identifier-1mb.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_identifier_1mb_unknown: "policy-identifier-1mb-unknown.rollguard" => 1,
        ["policy-identifier-1mb-unknown.rollguard:7:15", "unknown name"];
    policy_identifier_1mb_typo: "policy-identifier-1mb-typo.rollguard" => 1,
        ["policy-identifier-1mb-typo.rollguard:8:15", "unknown name"];
    policy_10mb: "policy-10mb.rollguard" => 0, ["0 errors, 0 warnings"];
    policy_10mb_warnings: "policy-10mb-warnings.rollguard" => 0, ["0 errors,", "warnings"];
}

/// The policy every snapshot is evaluated against: it reads each kind of snapshot field.
const FIXED_POLICY: &str = r#"signal error_rate: ratio = "http.error_rate"
signal p99: duration = "http.latency.p99"
signal requests: count = "http.requests"
signal outage: bool = "deps.outage"

class config_change { touches [config] }

policy fixed {
  applies when deployment.service == "payments-api"
  require fresh(error_rate) within 2m else halt
  require samples(error_rate) >= 100 else inconclusive
  rollback error_spike when error_rate > 1% for 3m unless outage
  halt slow when p99 > 800ms
  halt busy when requests > 1000000
  halt cascade when deployment.cascade_depth > 1
  hold team when deployment.labels["team"] == "payments"
  approval review requires 1 of group "security" when class touches config
}
"#;

/// A valid snapshot for [`FIXED_POLICY`] (decision: rollback), the base of the generated ones.
const BASE_SNAPSHOT: &str = r#"{
  "at": "2026-11-22T10:05:00Z",
  "deployment": {
    "service": "payments-api",
    "environment": "production",
    "class": "config_change",
    "cascade_depth": 0,
    "actor": {
      "kind": "agent",
      "id": "deploy-bot"
    },
    "approvals": [{"principal": {"kind": "human", "id": "ana", "groups": ["security"]}, "verdict": "approve"}],
    "rollback_target": {"version": "v41", "healthy": true},
    "labels": {"team": "search"}
  },
  "signals": {
    "http.error_rate": {"value": 0.021, "samples": 1200, "observed_at": "2026-11-22T10:04:50Z",
                        "series": [["2026-11-22T10:01:00Z", 0.019], ["2026-11-22T10:03:00Z", 0.02]]},
    "http.latency.p99": {"value": 120, "unit": "ms", "observed_at": "2026-11-22T10:04:50Z"},
    "http.requests": {"value": 5000, "observed_at": "2026-11-22T10:04:50Z"},
    "deps.outage": {"value": false, "observed_at": "2026-11-22T10:04:55Z"}
  }
}
"#;

/// Builds the bytes of a generated case.
type Generator = fn() -> Vec<u8>;

/// The cases built at run time, by name; the README lists the same names.
const GENERATED: &[(&str, Generator)] = &[
    ("policy-deep-parens-10k.rollguard", || {
        let deep = format!(
            "{}error_rate > 1%{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        policy("", &deep)
    }),
    ("policy-identifier-1mb.rollguard", || {
        let name = "a".repeat(1 << 20);
        policy(&format!("let {name} = true\n"), &name)
    }),
    ("policy-identifier-1mb-unknown.rollguard", || {
        policy("", &"a".repeat(1 << 20))
    }),
    ("policy-identifier-1mb-typo.rollguard", || {
        let name = "a".repeat(1 << 20);
        let typo = format!("{}b", &name[1..]);
        policy(&format!("let {name} = true\n"), &typo)
    }),
    ("policy-bangs-100k.rollguard", || {
        policy("", &format!("{}(error_rate > 1%)", "!".repeat(100_000)))
    }),
    ("policy-plus-chain-100k.rollguard", || {
        policy(
            "let a = 1\n",
            &format!("{} > 1", vec!["a"; 100_000].join(" + ")),
        )
    }),
    ("policy-nested-ternary-10k.rollguard", || {
        let cond = format!(
            "{}true{}",
            "error_rate > 1% ? ".repeat(10_000),
            " : false".repeat(10_000)
        );
        policy("", &cond)
    }),
    ("policy-10mb.rollguard", || many_policies(10 << 20, true)),
    ("policy-10mb-warnings.rollguard", || {
        many_policies(10 << 20, false)
    }),
    ("policy-invalid-utf8.rollguard", || {
        let mut text = policy("", "error_rate > 1% // caf");
        let at = text.iter().position(|&b| b == b'/').expect("the comment") + "// caf".len();
        text.splice(at..at, [0xFF, 0xFE]);
        text
    }),
    ("policy-nul-bytes.rollguard", || {
        let text = policy("", "error_rate > 1%");
        replace_once(&text, b"halt r when", b"halt r\0 when")
    }),
    ("policy-nul-in-string.rollguard", || {
        let text = policy("", "error_rate > 1%");
        replace_once(&text, b"\"payments-api\"", b"\"payments\0-api\"")
    }),
    ("snapshot-nested-object-100k.json", || {
        let nest = format!("{}1{}", "{\"a\": ".repeat(100_000), "}".repeat(100_000));
        base_with(
            b"\"at\":",
            format!("\"extra\": {nest},\n  \"at\":").as_bytes(),
        )
    }),
    ("snapshot-nested-array-100k.json", || {
        let nest = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        base_with(
            b"\"at\":",
            format!("\"extra\": {nest},\n  \"at\":").as_bytes(),
        )
    }),
    ("snapshot-invalid-utf8.json", || {
        base_with(b"\"deploy-bot\"", b"\"deploy-\xFF\xFEbot\"")
    }),
    ("snapshot-nul-byte.json", || {
        base_with(b"\"deploy-bot\"", b"\"deploy\0bot\"")
    }),
    ("snapshot-approvals-100k.json", || {
        let mut list = String::from("\"approvals\": [");
        for i in 0..100_000 {
            let group = if i == 99_999 { "security" } else { "dev" };
            if i > 0 {
                list.push_str(",\n      ");
            }
            let _ = write!(
                list,
                r#"{{"principal": {{"kind": "human", "id": "user-{i}", "groups": ["{group}"]}}, "verdict": "approve", "revision": "r1", "at": "2026-11-22T09:58:00Z"}}"#
            );
        }
        list.push(']');
        let old = BASE_SNAPSHOT
            .lines()
            .find(|l| l.contains("\"approvals\""))
            .expect("approvals line")
            .trim()
            .trim_end_matches(',');
        base_with(old.as_bytes(), list.as_bytes())
    }),
    ("snapshot-series-1m-points.json", || {
        let at = 1_795_341_900; // 2026-11-22T10:05:00Z
        let mut series = String::with_capacity(40 << 20);
        series.push_str("\"series\": [");
        for t in (at - 1_000_000)..at {
            if t > at - 1_000_000 {
                series.push_str(", ");
            }
            series.push_str("[\"");
            rfc3339(t, &mut series);
            series.push_str("\", 0.02]");
        }
        series.push(']');
        let old = r#""series": [["2026-11-22T10:01:00Z", 0.019], ["2026-11-22T10:03:00Z", 0.02]]"#;
        base_with(old.as_bytes(), series.as_bytes())
    }),
];

/// A set with one signal and one gated policy whose rule's condition is `cond`, after `top`
/// (a declaration or nothing). The condition starts on line 7 column 15, one line lower per
/// line of `top`.
fn policy(top: &str, cond: &str) -> Vec<u8> {
    format!(
        "{top}signal error_rate: ratio = \"http.error_rate\"\n\npolicy p {{\n  applies when deployment.service == \"payments-api\"\n  require fresh(error_rate) within 2m else halt\n  require samples(error_rate) >= 500 else inconclusive\n  halt r when {cond}\n}}\n"
    )
    .into_bytes()
}

/// `size` bytes of small policies; `gated` ones draw no warning, the others one each (W0002).
fn many_policies(size: usize, gated: bool) -> Vec<u8> {
    let mut text = String::with_capacity(size + 512);
    text.push_str("signal error_rate: ratio = \"http.error_rate\"\n");
    let mut i = 0;
    while text.len() < size {
        let _ = write!(
            text,
            "\n/// Policy number {i}.\npolicy p{i} {{\n  applies when deployment.service == \"svc-{i}\"\n"
        );
        if gated {
            text.push_str("  require fresh(error_rate) within 2m else halt\n");
            text.push_str("  require samples(error_rate) >= 500 else inconclusive\n");
        }
        let _ = writeln!(
            text,
            "  halt r{i} when error_rate > {}% and error_rate < 99%\n}}",
            i % 100
        );
        i += 1;
    }
    text.into_bytes()
}

fn replace_once(text: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let at = text
        .windows(old.len())
        .position(|w| w == old)
        .unwrap_or_else(|| panic!("`{}` not found", String::from_utf8_lossy(old)));
    let mut out = Vec::with_capacity(text.len() + new.len());
    out.extend_from_slice(&text[..at]);
    out.extend_from_slice(new);
    out.extend_from_slice(&text[at + old.len()..]);
    out
}

fn base_with(old: &[u8], new: &[u8]) -> Vec<u8> {
    replace_once(BASE_SNAPSHOT.as_bytes(), old, new)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
fn rfc3339(secs: i64, out: &mut String) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input")
}

fn scratch_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input")
}

/// The files of the corpus directory that are cases: all but dotfiles and the README.
fn committed_cases() -> BTreeSet<String> {
    fs::read_dir(corpus_dir())
        .expect("tests/bad-input exists")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.starts_with('.') && n != "README.md")
        .collect()
}

/// The case names the README's "Generated at run time" section lists.
fn listed_as_generated() -> BTreeSet<String> {
    let readme = fs::read_to_string(corpus_dir().join("README.md")).expect("the README");
    let section = readme
        .split("## Generated at run time")
        .nth(1)
        .expect("the README has a \"Generated at run time\" section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// The fixed policy, written once (and left alone when another run already wrote it).
fn fixed_policy() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = scratch_dir().join("fixed-policy");
        fs::create_dir_all(&dir).expect("scratch directory");
        let path = dir.join("fixed.rollguard");
        if fs::read_to_string(&path).ok().as_deref() != Some(FIXED_POLICY) {
            fs::write(&path, FIXED_POLICY).expect("write the fixed policy");
        }
        path
    })
}

/// Generated cases are large: one at a time, so that they neither compete for the two bounds
/// nor hold several hundred megabytes at once.
static HEAVY: Mutex<()> = Mutex::new(());

struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// The last processor time seen while it ran: a lower bound.
    cpu: Duration,
    peak_kb: u64,
    killed_for: Option<&'static str>,
}

fn drain(mut from: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

/// User plus system time of a live process so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime field 14 and stime field 15.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// `VmHWM` of a live process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the binary, polling its peak memory; kills it past either bound. `VmHWM` is a
/// high-water mark, so polling every 2 ms misses only growth in the last 2 ms before exit.
fn run_bounded(args: &[&std::ffi::OsStr]) -> Run {
    // The 10 MB policies are the size bound itself: checking 10 MB takes ~7 s optimized and
    // ~12 s in the test profile, so they get four times the budget.
    let huge = args.iter().any(|a| a.to_string_lossy().contains("10mb"));
    let (time_limit, wall_limit) = if huge {
        (TIME_LIMIT * 4, WALL_LIMIT * 4)
    } else {
        (TIME_LIMIT, WALL_LIMIT)
    };
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("ROLLGUARD_TODAY", "2026-11-22")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let pid = child.id();
    let mut peak_kb = 0;
    let mut cpu = Duration::ZERO;
    let mut killed_for = None;
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(t) = cpu_time(pid) {
            cpu = cpu.max(t);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if cpu > time_limit {
            killed_for = Some("the time limit");
        } else if start.elapsed() > wall_limit {
            killed_for = Some("the wall-clock limit");
        } else if peak_kb > MEMORY_LIMIT_KB {
            killed_for = Some("the memory limit");
        }
        if killed_for.is_some() {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let text = |h: thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().expect("reader")).into_owned()
    };
    Run {
        code: status.code(),
        signal: status.signal(),
        stdout: text(out),
        stderr: text(err),
        elapsed,
        cpu,
        peak_kb,
        killed_for,
    }
}

/// Whether `text` has `LINE<sep>COL`: digits, the separator, digits, right after `prefix`.
fn has_place(text: &str, prefix: &str, sep: &str) -> bool {
    text.match_indices(prefix).any(|(i, _)| {
        let rest = &text[i + prefix.len()..];
        let line = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        line > 0
            && rest[line..].starts_with(sep)
            && rest[line + sep.len()..].starts_with(|c: char| c.is_ascii_digit())
    })
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 1500;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &s[..end], s.len())
}

fn run_case(name: &str) {
    let expect = CASES
        .iter()
        .find(|c| c.file == name)
        .expect("the case is in the table");
    let generator = GENERATED.iter().find(|(n, _)| *n == name).map(|(_, g)| g);
    let _heavy = generator.map(|_| HEAVY.lock().unwrap_or_else(|e| e.into_inner()));
    let path = match generator {
        Some(generate) => {
            let dir = scratch_dir();
            fs::create_dir_all(&dir).expect("scratch directory");
            let path = dir.join(name);
            fs::write(&path, generate()).expect("write the generated case");
            path
        }
        None => corpus_dir().join(name),
    };
    let policy = name.ends_with(".rollguard");
    let run = if policy {
        run_bounded(&["check".as_ref(), path.as_os_str()])
    } else {
        run_bounded(&[
            "eval".as_ref(),
            fixed_policy().as_os_str(),
            "--snapshot".as_ref(),
            path.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ])
    };
    let cost = format!(
        "{} ms processor, {} ms wall, peak {} MB",
        run.cpu.as_millis(),
        run.elapsed.as_millis(),
        run.peak_kb / 1024
    );
    println!(
        "{name}: exit {:?}, {cost}",
        run.code.or(run.signal.map(|s| 128 + s))
    );

    let mut problems = Vec::new();
    if let Some(why) = run.killed_for {
        problems.push(format!("killed for going over {why} ({cost})"));
    } else {
        if run.peak_kb > MEMORY_LIMIT_KB {
            problems.push(format!("peak memory {} MB", run.peak_kb / 1024));
        }
        if let Some(sig) = run.signal {
            problems.push(format!("died by signal {sig}"));
        }
        if run.stderr.contains("panicked") || run.code == Some(101) {
            problems.push("panicked".to_string());
        }
        if run.code != Some(expect.exit) {
            problems.push(format!(
                "exit status {:?}, expected {}",
                run.code, expect.exit
            ));
        }
        // A decision goes to standard output; everything else to standard error.
        let decided = !policy && run.code == Some(0);
        let message = if decided { &run.stdout } else { &run.stderr };
        for s in expect.says {
            if !message.contains(s) {
                problems.push(format!("the output does not say {s:?}"));
            }
        }
        match (policy, run.code) {
            (false, Some(0)) => {
                let json: Result<serde_json::Value, _> = serde_json::from_str(&run.stdout);
                if !json.is_ok_and(|v| v.get("decision").is_some_and(|d| d.is_string())) {
                    problems.push("exit 0 without a JSON decision on standard output".into());
                }
            }
            (false, Some(2)) => {
                if !run.stdout.is_empty() {
                    problems.push("a decision was printed although the snapshot is invalid".into());
                }
                let placed = run.stderr.contains("invalid snapshot at `")
                    || has_place(&run.stderr, "line ", " column ")
                    || run.stderr.contains("invalid snapshot: expected an object");
                if !placed {
                    problems
                        .push("the message names no place (JSON path or line and column)".into());
                }
            }
            (true, Some(1)) if !has_place(&run.stderr, &format!("{name}:"), ":") => {
                problems.push(format!("the message names no place as `{name}:LINE:COL`"));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        if generator.is_some() {
            let _ = fs::remove_file(&path);
        }
        return;
    }
    panic!(
        "{name} ({}):\n  - {}\n--- exit {:?}, signal {:?}, {cost}\n--- stdout:\n{}\n--- stderr:\n{}",
        path.display(),
        problems.join("\n  - "),
        run.code,
        run.signal,
        excerpt(&run.stdout),
        excerpt(&run.stderr)
    );
}

#[test]
fn corpus_is_complete() {
    let committed = committed_cases();
    let listed = listed_as_generated();
    let generators: BTreeSet<String> = GENERATED.iter().map(|(n, _)| n.to_string()).collect();
    let expected: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    let mut problems = Vec::new();

    if expected.len() != CASES.len() {
        problems.push("a file has two entries in the table".to_string());
    }
    for name in &committed {
        if !expected.contains(name) {
            problems.push(format!(
                "{name}: a file with no expectation in tests/bad_input.rs"
            ));
        }
        if generators.contains(name) {
            problems.push(format!("{name}: both committed and generated"));
        }
    }
    for name in listed.symmetric_difference(&generators) {
        problems.push(format!(
            "{name}: the README's generated list and the test's generators disagree"
        ));
    }
    for name in &expected {
        if !committed.contains(name) && !generators.contains(name) {
            problems.push(format!(
                "{name}: an expectation with no file and no generator"
            ));
        }
    }
    for name in committed.iter().chain(&generators) {
        let kind_ok = (name.starts_with("policy-") && name.ends_with(".rollguard"))
            || (name.starts_with("snapshot-") && name.ends_with(".json"));
        if !kind_ok {
            problems.push(format!(
                "{name}: a case is named policy-*.rollguard or snapshot-*.json"
            ));
        }
    }
    for c in CASES {
        let policy = c.file.ends_with(".rollguard");
        let allowed: &[i32] = if policy { &[0, 1] } else { &[0, 2] };
        if !allowed.contains(&c.exit) || c.says.is_empty() {
            problems.push(format!(
                "{}: expects exit {} (allowed {allowed:?}) and needs a message",
                c.file, c.exit
            ));
        }
    }
    if committed.len() < MIN_CASES {
        problems.push(format!(
            "only {} committed cases, at least {MIN_CASES} expected",
            committed.len()
        ));
    }
    // The bytes some cases are about survive checkout (see .gitattributes).
    let bytes = |n: &str| fs::read(corpus_dir().join(n)).unwrap_or_default();
    for (name, what, ok) in [
        (
            "policy-crlf.rollguard",
            "CRLF line endings",
            bytes("policy-crlf.rollguard")
                .windows(2)
                .any(|w| w == b"\r\n"),
        ),
        (
            "policy-crlf-error.rollguard",
            "CRLF line endings",
            bytes("policy-crlf-error.rollguard")
                .windows(2)
                .any(|w| w == b"\r\n"),
        ),
        (
            "snapshot-crlf.json",
            "CRLF line endings",
            bytes("snapshot-crlf.json").windows(2).any(|w| w == b"\r\n"),
        ),
        (
            "policy-bom.rollguard",
            "a byte order mark",
            bytes("policy-bom.rollguard").starts_with(b"\xEF\xBB\xBF"),
        ),
        (
            "snapshot-bom.json",
            "a byte order mark",
            bytes("snapshot-bom.json").starts_with(b"\xEF\xBB\xBF"),
        ),
        (
            "policy-tabs.rollguard",
            "tabs",
            bytes("policy-tabs.rollguard").contains(&b'\t'),
        ),
        (
            "policy-tabs-error.rollguard",
            "tabs",
            bytes("policy-tabs-error.rollguard").contains(&b'\t'),
        ),
        (
            "policy-empty.rollguard",
            "nothing",
            bytes("policy-empty.rollguard").is_empty()
                && committed.contains("policy-empty.rollguard"),
        ),
        (
            "snapshot-empty.json",
            "nothing",
            bytes("snapshot-empty.json").is_empty() && committed.contains("snapshot-empty.json"),
        ),
    ] {
        if !ok {
            problems.push(format!("{name} should hold {what}"));
        }
    }
    assert!(
        problems.is_empty(),
        "the bad-input corpus is out of step with its table:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn generators_build_what_they_say() {
    // The calendar arithmetic behind the 1,000,000-point series.
    let mut s = String::new();
    rfc3339(1_795_341_900, &mut s);
    assert_eq!(s, "2026-11-22T10:05:00Z");
    s.clear();
    rfc3339(951_782_400, &mut s);
    assert_eq!(s, "2000-02-29T00:00:00Z");
    // The line and column the policy expectations name.
    let text = String::from_utf8(policy("", "COND")).expect("text");
    let line = text.lines().nth(6).expect("line 7");
    assert_eq!(line.find("COND"), Some(14), "the condition starts at 7:15");
}
