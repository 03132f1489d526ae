//! Policy text to a typed AST with spans, and back to canonical text.

pub mod ast;
mod expected;
pub mod lex;
pub mod lexicon;
pub mod parse;
pub mod print;
