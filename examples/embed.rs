//! Embedding rollguard in a deploy tool: compile a policy set once, then decide on every
//! analysis step, from as many threads as the tool runs.
//!
//! Run it from the repository root: `cargo run --example embed`.

use std::thread;

use rollguard::{Action, Engine};

fn main() {
    let engine = match Engine::from_dir("examples/error-spike-with-outage") {
        Ok(e) => e,
        Err(e) => {
            eprint!("{}", e.rendered);
            std::process::exit(1);
        }
    };
    println!(
        "loaded {} ({})",
        engine.policies().join(", "),
        engine.digest()
    );

    // `Engine` is cheap to clone and `Send + Sync`: give each worker its own handle.
    let workers: Vec<_> = [
        "spike",
        "healthy",
        "spike-during-outage",
        "spike-outage-unknown",
    ]
    .into_iter()
    .map(|name| {
        let engine = engine.clone();
        thread::spawn(move || {
            let path = format!("examples/error-spike-with-outage/snapshots/{name}.json");
            let bytes = std::fs::read(&path).expect("the bundled snapshot");
            (name, engine.decide(&bytes))
        })
    })
    .collect();

    for w in workers {
        let (name, decision) = w.join().expect("worker");
        match decision {
            Ok(d) => {
                let why: Vec<String> = d
                    .fired
                    .iter()
                    .map(|f| format!("{}.{}", f.policy, f.rule))
                    .collect();
                println!("{name:>22}: {:<12} {}", d.decision.as_str(), why.join(", "));
                // A deploy tool acts on the decision; `rollback` only with authority to do so.
                if d.decision == Action::Rollback && d.authorized == Some(false) {
                    println!("{:>22}  (the requester may not roll back: escalate)", "");
                }
            }
            // A malformed snapshot is an error naming the JSON path, never a decision.
            Err(e) => println!("{name:>22}: rejected: {e}"),
        }
    }
}
