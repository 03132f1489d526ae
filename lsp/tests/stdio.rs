//! The real service (the one the binary serves) over an in-memory byte stream, speaking
//! JSON-RPC with `Content-Length` framing as an editor does.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

struct Editor {
    read: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
}

impl Editor {
    fn start() -> Editor {
        let (service, socket) = rollguard_lsp::service();
        let (editor, server) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server);
        tokio::spawn(
            tower_lsp_server::Server::new(server_read, server_write, socket).serve(service),
        );
        let (read, write) = tokio::io::split(editor);
        Editor {
            read: BufReader::new(read),
            write,
        }
    }

    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.write.write_all(frame.as_bytes()).await.unwrap();
    }

    async fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.read.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.read.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next message that satisfies `want` (others are dropped).
    async fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Duration::from_secs(20);
        tokio::time::timeout(deadline, async {
            loop {
                let m = self.receive().await;
                if want(&m) {
                    return m;
                }
            }
        })
        .await
        .expect("the server answered in time")
    }

    async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.until(|m| m["id"] == json!(id)).await
    }
}

#[tokio::test]
async fn an_editor_session_over_json_rpc() {
    let mut e = Editor::start();
    let init = e
        .request(
            1,
            "initialize",
            json!({"capabilities": {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}}}),
        )
        .await;
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["hoverProvider"], json!(true));
    assert_eq!(caps["documentFormattingProvider"], json!(true));
    assert_eq!(caps["renameProvider"]["prepareProvider"], json!(true));
    assert_eq!(caps["semanticTokensProvider"]["full"], json!(true));
    assert_eq!(init["result"]["serverInfo"]["name"], json!("rollguard-lsp"));
    e.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        .await;
    // The server asks to hear about policy files and snapshots changed on disk.
    let register = e
        .until(|m| m["method"] == json!("client/registerCapability"))
        .await;
    let watchers = &register["params"]["registrations"][0]["registerOptions"]["watchers"];
    assert_eq!(watchers[0]["globPattern"], json!("**/*.rollguard"));
    e.send(json!({"jsonrpc": "2.0", "id": register["id"], "result": null}))
        .await;

    let text = "use std::http\n\npolicy p {\n  applies when deployment.service == \"api\"\n  halt slow when latency_p99 > 800\n}\n";
    e.send(json!({
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {
            "uri": "file:///ws/e2e/p.rollguard", "languageId": "rollguard", "version": 1, "text": text
        }}
    }))
    .await;
    let published = e
        .until(|m| m["method"] == json!("textDocument/publishDiagnostics"))
        .await;
    let d = &published["params"]["diagnostics"][0];
    assert_eq!(
        published["params"]["uri"],
        json!("file:///ws/e2e/p.rollguard")
    );
    assert_eq!(published["params"]["version"], json!(1));
    assert_eq!(d["code"], json!("E0004"));
    assert_eq!(
        d["codeDescription"]["href"],
        json!("https://rollguard.dev/explain/E0004")
    );
    assert_eq!(
        d["range"],
        json!({"start": {"line": 4, "character": 17}, "end": {"line": 4, "character": 34}})
    );

    // Definition of a standard signal, then its virtual document's text.
    let def = e
        .request(
            2,
            "textDocument/definition",
            json!({"textDocument": {"uri": "file:///ws/e2e/p.rollguard"},
                   "position": {"line": 4, "character": 20}}),
        )
        .await;
    assert_eq!(
        def["result"]["uri"],
        json!("rollguard-std:///http.rollguard")
    );
    let doc = e
        .request(
            3,
            "rollguard/virtualDocument",
            json!({"uri": "rollguard-std:///http.rollguard"}),
        )
        .await;
    assert_eq!(
        doc["result"],
        json!(rollguard::stdlib::module("http").unwrap())
    );

    let shutdown = e.request(4, "shutdown", Value::Null).await;
    assert_eq!(shutdown["result"], Value::Null);
    assert!(shutdown.get("error").is_none());
    e.send(json!({"jsonrpc": "2.0", "method": "exit"})).await;
}
