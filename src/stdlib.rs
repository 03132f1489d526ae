//! The standard library, written in rollguard and built into the binary, so `use std::http`
//! works from any directory.

/// Each module's name (as in `use std::NAME`) and source.
pub const MODULES: &[(&str, &str)] = &[
    ("classes", include_str!("../stdlib/std/classes.rollguard")),
    ("deps", include_str!("../stdlib/std/deps.rollguard")),
    ("http", include_str!("../stdlib/std/http.rollguard")),
    ("identity", include_str!("../stdlib/std/identity.rollguard")),
];

pub fn module(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The standard module whose signal or class is called `name`, for "add `use std::...`" help.
pub fn declaring_module(name: &str) -> Option<&'static str> {
    MODULES.iter().find_map(|(module, text)| {
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("signal ")
                    .or_else(|| l.strip_prefix("class "))
            })
            .any(|rest| rest.split([':', ' ', '{']).next() == Some(name))
            .then_some(*module)
    })
}
