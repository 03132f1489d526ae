//! `rollguard-lsp`: the rollguard language server, a thin layer over the `rollguard` library.
//!
//! - [`db`]: salsa inputs and queries wrapping the library's phase functions (parse, compile,
//!   lint), so an edit recomputes only what it touches; the query graph is documented there.
//! - [`ide`]: the features (hover, definition, references, rename, completion, symbols,
//!   semantic tokens, quick fixes) as plain functions of the database.
//! - [`server`]: the one module that speaks LSP.

pub mod db;
pub mod ide;
pub mod paths;
pub mod position;
pub mod server;

pub use server::{Backend, Publisher, State};

use tower_lsp_server::{Client, ClientSocket, LspService};

/// The service the binary serves over stdio: the backend with the `rollguard/virtualDocument`
/// request added.
pub fn service() -> (LspService<Backend<Client>>, ClientSocket) {
    LspService::build(Backend::new)
        .custom_method(
            server::VIRTUAL_DOCUMENT_METHOD,
            Backend::<Client>::virtual_document,
        )
        .finish()
}
