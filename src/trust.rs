//! Signed approvals: which entries of `deployment.approvals` a decision may count.
//!
//! A snapshot is written by whoever asks for the decision — often an automated deployer — so an
//! approval entry's `principal` is only a claim. With a [`Trust`] (`--trust FILE`), an entry
//! counts only when it carries a `statement`: a compact JWS signed by a trusted approver's
//! Ed25519 key (`rollguard approve`) or a JWT from a trusted issuer, naming the deployment's
//! service, environment and revision, a verdict and an expiry not yet passed at the
//! evaluation's time. The principal that counts is the key's or the issuer's, never the one the
//! entry wrote; every other entry is dropped before evaluation and listed in the decision's
//! `approvals.ignored` with its reason. The format is described in `docs/identity.md`.

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::decision::{Identity, IgnoredApproval};
use crate::eval::snapshot::{ApprovalEntry, Micros, Principal, Snapshot};
use crate::identity::{check_principal, Issuer, IssuerConfig};
use crate::ir::PrincipalKind;

/// The JWS `typ` of an approval statement, so a statement is not taken for another kind of
/// token signed with the same key, nor the other way round.
pub const STATEMENT_TYPE: &str = "rollguard-approval+jwt";

/// A statement's signing time may be this much after the evaluation's time (clocks of two
/// hosts disagree a little), as the snapshot allows for its own times.
const FUTURE_SLACK: i64 = 5;

/// What an approval statement says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Statement {
    /// The service approved.
    pub service: String,
    /// The environment approved.
    pub environment: String,
    /// The revision approved.
    pub revision: String,
    /// `approve` or `reject`.
    pub verdict: String,
    /// When it was signed, seconds since the epoch.
    pub iat: i64,
    /// When it stops counting, seconds since the epoch.
    pub exp: i64,
}

impl Statement {
    /// A statement for one revision of a service in one environment.
    pub fn new(
        service: &str,
        environment: &str,
        revision: &str,
        reject: bool,
        iat: i64,
        exp: i64,
    ) -> Statement {
        Statement {
            service: service.into(),
            environment: environment.into(),
            revision: revision.into(),
            verdict: if reject { "reject" } else { "approve" }.into(),
            iat,
            exp,
        }
    }
}

/// A new Ed25519 key pair: the private key as PKCS#8 PEM (what `openssl genpkey -algorithm
/// ed25519` writes too) and the public key as base64url, the form a trust file names.
pub fn generate_key() -> Result<(String, String), String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness from the system: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    Ok((
        pem.to_string(),
        URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
    ))
}

fn signing_key(pem: &str) -> Result<SigningKey, String> {
    SigningKey::from_pkcs8_pem(pem).map_err(|_| {
        "not an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`)".to_string()
    })
}

/// The public key (base64url) of a PKCS#8 PEM private key.
pub fn public_key(pem: &str) -> Result<String, String> {
    Ok(URL_SAFE_NO_PAD.encode(signing_key(pem)?.verifying_key().as_bytes()))
}

/// The key's id: its RFC 7638 JWK thumbprint (SHA-256 of the canonical OKP JWK, base64url).
pub fn key_id(public_key: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_key}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Signs a statement with a PKCS#8 PEM Ed25519 private key: a compact JWS (EdDSA).
pub fn sign(pem: &str, statement: &Statement) -> Result<String, String> {
    let key = signing_key(pem)?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(STATEMENT_TYPE.into());
    header.kid = Some(key_id(
        &URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
    ));
    jsonwebtoken::encode(
        &header,
        statement,
        &EncodingKey::from_ed_der(der.as_bytes()),
    )
    .map_err(|e| format!("cannot sign: {e}"))
}

/// A trusted approver as the trust file names it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverConfig {
    public_key: String,
    /// As `rollguard keygen` prints it; checked against the key when given.
    #[serde(default)]
    kid: Option<String>,
    principal: Value,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustConfig {
    #[serde(default)]
    approvers: Vec<ApproverConfig>,
    #[serde(default)]
    issuers: Vec<IssuerConfig>,
}

struct Approver {
    kid: String,
    key: DecodingKey,
    principal: Principal,
}

/// The approvers whose signed statements count: Ed25519 public keys and JWT issuers, each with
/// the principal record its statements speak for.
pub struct Trust {
    approvers: Vec<Approver>,
    issuers: Vec<Arc<Issuer>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("approvers", &self.approvers.len())
            .field("issuers", &self.issuers.len())
            .finish()
    }
}

fn to_principal(p: &Value) -> Principal {
    Principal {
        kind: p["kind"]
            .as_str()
            .and_then(PrincipalKind::parse)
            .unwrap_or(PrincipalKind::Human),
        id: p["id"].as_str().unwrap_or_default().to_string(),
        groups: p["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn claimed(p: &Principal) -> Option<Identity> {
    Some(Identity::new(p.kind.as_str(), p.id.clone()))
}

impl Trust {
    /// Reads a trust file; relative `jwks_file`s of its issuers are taken from its directory.
    pub fn load(path: &Path) -> Result<Trust, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        Trust::from_json(&text, path.parent()).map_err(|e| format!("`{}`: {e}", path.display()))
    }

    /// A trust configuration from its JSON text.
    pub fn from_json(text: &[u8], base: Option<&Path>) -> Result<Trust, String> {
        let config: TrustConfig = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut approvers = Vec::new();
        for (i, a) in config.approvers.into_iter().enumerate() {
            let what = format!("approvers[{i}]");
            let raw = URL_SAFE_NO_PAD
                .decode(a.public_key.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    format!("{what}: `public_key` is not an Ed25519 public key (32 bytes, base64url, as `rollguard keygen` prints it)")
                })?;
            if ed25519_dalek::VerifyingKey::from_bytes(&raw.try_into().expect("32 bytes")).is_err()
            {
                return Err(format!("{what}: `public_key` is not a valid Ed25519 point"));
            }
            let key = DecodingKey::from_ed_components(a.public_key.trim())
                .map_err(|e| format!("{what}: {e}"))?;
            let principal = to_principal(&check_principal(&a.principal, &what)?);
            let kid = key_id(a.public_key.trim());
            if a.kid.as_ref().is_some_and(|k| *k != kid) {
                return Err(format!(
                    "{what}: `kid` is not the id of `public_key` (it is `{kid}`)"
                ));
            }
            approvers.push(Approver {
                kid,
                key,
                principal,
            });
        }
        let issuers = config
            .issuers
            .into_iter()
            .map(|c| Issuer::new(c, base).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if approvers.is_empty() && issuers.is_empty() {
            return Err(
                "the trust file names no approver and no issuer: no approval could ever count"
                    .into(),
            );
        }
        Ok(Trust { approvers, issuers })
    }

    /// The JWT issuers, for a process that refreshes their keys.
    pub fn issuers(&self) -> &[Arc<Issuer>] {
        &self.issuers
    }

    /// Keeps the approval entries whose statements verify at `now` (seconds since the epoch),
    /// each rewritten to what its statement and signer say; returns the others with reasons.
    pub(crate) fn filter(&self, snapshot: &mut Snapshot, now: i64) -> Vec<IgnoredApproval> {
        let at: Micros = snapshot.at;
        let dep = &mut snapshot.deployment;
        let entries = std::mem::take(&mut dep.approvals);
        let mut ignored = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            match self.verify(
                &entry,
                &dep.service,
                &dep.environment,
                dep.revision.as_deref(),
                now,
            ) {
                Ok((principal, statement)) => dep.approvals.push(ApprovalEntry {
                    principal,
                    revision: Some(statement.revision),
                    reject: statement.verdict == "reject",
                    // The signed time orders a principal's statements; never after the snapshot.
                    at: Some((statement.iat.saturating_mul(1_000_000)).min(at)),
                    statement: entry.statement,
                }),
                Err(reason) => ignored.push(IgnoredApproval::new(
                    index,
                    claimed(&entry.principal),
                    reason,
                )),
            }
        }
        ignored
    }

    fn verify(
        &self,
        entry: &ApprovalEntry,
        service: &str,
        environment: &str,
        revision: Option<&str>,
        now: i64,
    ) -> Result<(Principal, Statement), String> {
        let Some(token) = &entry.statement else {
            return Err(
                "unsigned: the entry has no `statement`, and only signed approvals count".into(),
            );
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the statement is not a compact JWS".to_string())?;
        let (principal, claims) = if let Some(a) = header
            .kid
            .as_deref()
            .and_then(|kid| self.approvers.iter().find(|a| a.kid == kid))
        {
            if header.alg != Algorithm::EdDSA {
                return Err("the statement is not signed with EdDSA".into());
            }
            let mut v = Validation::new(Algorithm::EdDSA);
            // Times are checked below against the evaluation's clock, not the system's.
            v.validate_exp = false;
            v.validate_nbf = false;
            v.validate_aud = false;
            v.required_spec_claims.clear();
            let data = jsonwebtoken::decode::<Value>(token, &a.key, &v)
                .map_err(|_| "the statement's signature does not verify".to_string())?;
            if header.typ.as_deref() != Some(STATEMENT_TYPE) {
                return Err(format!("the statement's `typ` is not `{STATEMENT_TYPE}`"));
            }
            (a.principal.clone(), data.claims)
        } else {
            let iss = crate::identity::unverified_claims(token)
                .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string));
            let Some(issuer) = iss
                .as_deref()
                .and_then(|iss| self.issuers.iter().find(|i| i.name() == iss))
            else {
                return Err("the statement is signed by a key that is not trusted".into());
            };
            let claims = issuer.verify_untimed(token)?;
            let p = issuer.mapping().principal(&claims)?;
            (to_principal(&p), claims)
        };
        let statement: Statement = serde_json::from_value(claims).map_err(|e| {
            format!("the statement does not name service, environment, revision, verdict, iat and exp: {e}")
        })?;
        if statement.verdict != "approve" && statement.verdict != "reject" {
            return Err(format!(
                "the statement's verdict `{}` is neither approve nor reject",
                statement.verdict
            ));
        }
        if statement.service != service {
            return Err(format!(
                "the statement is for service `{}`, not `{service}`",
                statement.service
            ));
        }
        if statement.environment != environment {
            return Err(format!(
                "the statement is for environment `{}`, not `{environment}`",
                statement.environment
            ));
        }
        match revision {
            None => return Err(
                "the deployment names no `revision`, so no signed approval can be matched to it"
                    .into(),
            ),
            Some(r) if r != statement.revision => {
                return Err(format!(
                    "the statement is for revision `{}`, not `{r}`",
                    statement.revision
                ))
            }
            Some(_) => {}
        }
        if now >= statement.exp {
            return Err(format!(
                "the statement expired at {}",
                rfc3339(statement.exp)
            ));
        }
        if statement.iat > now + FUTURE_SLACK {
            return Err(format!(
                "the statement is signed at {}, after the evaluation's time",
                rfc3339(statement.iat)
            ));
        }
        Ok((principal, statement))
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_statement_round_trips_and_its_kid_is_the_thumbprint() {
        let (pem, public) = generate_key().unwrap();
        assert_eq!(public_key(&pem).unwrap(), public);
        let s = Statement::new("orders", "production", "r2", false, 100, 200);
        let jws = sign(&pem, &s).unwrap();
        let header = jsonwebtoken::decode_header(&jws).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key_id(&public).as_str()));
        assert_eq!(header.typ.as_deref(), Some(STATEMENT_TYPE));
    }

    #[test]
    fn an_empty_trust_file_is_refused() {
        assert!(Trust::from_json(b"{}", None)
            .unwrap_err()
            .contains("no approver"));
        assert!(Trust::from_json(
            br#"{"approvers": [{"public_key": "abc", "principal": {"kind": "human", "id": "ana"}}]}"#,
            None
        )
        .unwrap_err()
        .contains("Ed25519"));
    }
}
