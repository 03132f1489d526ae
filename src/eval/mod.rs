//! Evaluation: a snapshot against a compiled program, giving an explained decision.

pub mod decision;
pub mod json;
pub mod logic;
pub mod machine;
pub mod snapshot;
