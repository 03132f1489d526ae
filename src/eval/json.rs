//! JSON text to `serde_json::Value`, refusing an object that repeats a key.
//!
//! serde_json keeps the last of two equal keys, other readers keep the first: a snapshot with
//! `"healthy": false, "healthy": true` means different things to the deploy tool that wrote it
//! and to rollguard. So a repeated key is an error naming its path, never a silent choice.
//!
//! The path is assembled only on the way out of an error: a valid document costs one map
//! look-up per key and no string formatting.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::snapshot::SnapshotError;

/// Objects whose keys are the caller's own names, written `signals["http.error_rate"]`.
const FREE_KEYED: [&str; 2] = ["signals", "deployment.labels"];

enum Step {
    Key(String),
    Index(usize),
}

/// The innermost step first; filled while an error travels outwards.
#[derive(Default)]
struct Repeated {
    steps: Option<Vec<Step>>,
}

/// Parses JSON text, refusing repeated keys (the path names the repeated key).
pub fn parse(bytes: &[u8]) -> Result<Value, SnapshotError> {
    let repeated = RefCell::new(Repeated::default());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        repeated: &repeated,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(e) => match repeated.into_inner().steps {
            Some(steps) => {
                let (path, key) = render(&steps);
                Err(SnapshotError {
                    path,
                    message: format!(
                        "the key `{key}` appears twice in one object; readers disagree on which \
                         one counts, so give it once"
                    ),
                })
            }
            None => Err(SnapshotError {
                path: String::new(),
                message: format!("not valid JSON: {e}"),
            }),
        },
    }
}

/// `signals["http.error_rate"].value` from the steps, and the repeated key itself.
fn render(steps: &[Step]) -> (String, String) {
    let mut path = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Index(i) => path.push_str(&format!("[{i}]")),
            Step::Key(k) if FREE_KEYED.contains(&path.as_str()) || !is_plain(k) => {
                path.push_str(&format!("[{k:?}]"))
            }
            Step::Key(k) if path.is_empty() => path.push_str(k),
            Step::Key(k) => {
                path.push('.');
                path.push_str(k);
            }
        }
    }
    let key = match steps.first() {
        Some(Step::Key(k)) => k.clone(),
        _ => String::new(),
    };
    (path, key)
}

/// A key written `.key` in a path; any other is written `["key"]`.
pub(crate) fn is_plain(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Clone, Copy)]
struct Strict<'r> {
    repeated: &'r RefCell<Repeated>,
}

impl Strict<'_> {
    /// Adds the step an error came out of, when the error is a repeated key.
    fn through(&self, step: impl FnOnce() -> Step) {
        if let Some(steps) = self.repeated.borrow_mut().steps.as_mut() {
            steps.push(step());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let i = items.len();
            match seq.next_element_seed(self) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    self.through(|| Step::Index(i));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                self.repeated.borrow_mut().steps = Some(vec![Step::Key(key)]);
                return Err(de::Error::custom("repeated key"));
            }
            match map.next_value_seed(self) {
                Ok(v) => {
                    obj.insert(key, v);
                }
                Err(e) => {
                    self.through(|| Step::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn refused(text: &str) -> (String, String) {
        let e = parse(text.as_bytes()).unwrap_err();
        (e.path, e.message)
    }

    #[test]
    fn a_repeated_key_is_named_by_its_path() {
        assert_eq!(refused(r#"{"at": 1, "at": 2}"#).0, "at");
        assert_eq!(
            refused(r#"{"signals": {"http.error_rate": {"value": 1, "value": 2}}}"#).0,
            r#"signals["http.error_rate"].value"#
        );
        assert_eq!(
            refused(r#"{"signals": {"e": 1, "e": 2}}"#).0,
            r#"signals["e"]"#
        );
        assert_eq!(
            refused(r#"{"deployment": {"approvals": [{}, {"verdict": "reject", "verdict": "approve"}]}}"#).0,
            "deployment.approvals[1].verdict"
        );
        assert_eq!(
            refused(r#"{"deployment": {"labels": {"team": "a", "team": "b"}}}"#).0,
            r#"deployment.labels["team"]"#
        );
        assert!(refused(r#"{"a": {"b c": {"x": 1, "x": 1}}}"#).0 == r#"a["b c"].x"#);
        assert!(refused(r#"{"k": 1, "k": 1}"#)
            .1
            .contains("`k` appears twice"));
    }

    #[test]
    fn equal_keys_in_different_objects_are_fine() {
        let v = parse(br#"{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}"#).unwrap();
        assert_eq!(v["c"][1]["x"], 2);
    }

    #[test]
    fn other_errors_are_invalid_json_at_the_document() {
        let (path, message) = refused(r#"{"a": 1,}"#);
        assert_eq!(path, "");
        assert!(message.starts_with("not valid JSON"), "{message}");
        assert!(refused("{} {}").1.starts_with("not valid JSON"));
    }

    #[test]
    fn values_are_kept_as_serde_json_reads_them() {
        let text = r#"{"n": [1, -2, 0.5, 1e3, 18446744073709551615], "s": "x\u00e9", "z": null, "b": true}"#;
        let ours = parse(text.as_bytes()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
    }
}
