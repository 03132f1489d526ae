//! `rollguard-lsp`: speaks the Language Server Protocol on standard input and output. Editors
//! start it as a child process; it takes no arguments.

use tower_lsp_server::Server;

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("rollguard-lsp {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let (service, socket) = rollguard_lsp::service();
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
        .serve(service)
        .await;
}
