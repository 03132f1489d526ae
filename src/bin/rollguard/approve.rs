//! `rollguard approve` and `rollguard keygen`: signed approval statements and the keys that
//! sign them. The formats and the verification are the library's (`rollguard::trust`); here
//! are files, the clock and printing.

use std::io::Write;
use std::path::Path;

use rollguard::trust::{self, Statement};

/// The longest an approval may be made to count: a standing approval of a revision for months
/// would outlive the reason it was given.
const MAX_EXPIRY: i64 = 30 * 24 * 3600;

pub struct Request<'a> {
    pub key: &'a Path,
    pub service: &'a str,
    pub environment: &'a str,
    pub revision: &'a str,
    pub reject: bool,
    pub expires: &'a str,
}

/// `90m`, `24h`, `7d`, `3600s` as seconds.
fn duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 90m, 24h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("`{text}` is not a duration such as 90m, 24h or 7d")),
    };
    if secs <= 0 || secs > MAX_EXPIRY {
        return Err(format!(
            "--expires {text}: an approval counts for more than 0s and at most 30d"
        ));
    }
    Ok(secs)
}

fn fail(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    2
}

pub fn approve(r: &Request) -> u8 {
    let ttl = match duration(r.expires) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    for (name, value) in [
        ("--service", r.service),
        ("--environment", r.environment),
        ("--revision", r.revision),
    ] {
        if value.trim().is_empty() {
            return fail(&format!("{name} is empty"));
        }
    }
    let pem = match std::fs::read_to_string(r.key) {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot read the key `{}`: {e}", r.key.display())),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let statement = Statement::new(
        r.service,
        r.environment,
        r.revision,
        r.reject,
        now,
        now + ttl,
    );
    match trust::sign(&pem, &statement) {
        Ok(jws) => {
            println!("{jws}");
            0
        }
        Err(e) => fail(&format!("`{}`: {e}", r.key.display())),
    }
}

pub fn keygen(out: &Path) -> u8 {
    let (pem, public) = match trust::generate_key() {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    // Never overwrite a key (it may be the only copy), and never let others read the new one.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(out)
        .and_then(|mut f| f.write_all(pem.as_bytes()).and_then(|_| f.sync_all()));
    if let Err(e) = written {
        return fail(&format!("cannot write the key `{}`: {e}", out.display()));
    }
    let record = serde_json::json!({
        "public_key": public,
        "kid": trust::key_id(&public),
        "principal": {"kind": "human", "id": "CHANGE-ME", "groups": []},
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&record).expect("plain JSON")
    );
    eprintln!(
        "rollguard keygen: private key written to {}; add the record above, with the approver's principal, to the trust file's `approvers`",
        out.display()
    );
    0
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations() {
        assert_eq!(duration("24h"), Ok(86_400));
        assert_eq!(duration("90m"), Ok(5400));
        assert!(duration("31d").is_err());
        assert!(duration("0h").is_err());
        assert!(duration("soon").is_err());
    }
}
