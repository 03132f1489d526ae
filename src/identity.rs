//! Who is asking: the service's authentication, and the JWT issuers that signed approvals share.
//!
//! An [`Identity`] is built from one JSON file (`rollguard serve --identity FILE`, described in
//! `docs/identity.md`) and answers one question per request: which principal
//! (`{"kind", "id", "groups"}`) sent it, and by which means. Four means, tried in this order:
//!
//! - a bearer token that is a JWT from a configured issuer (Kubernetes projected service-account
//!   tokens, CI OIDC tokens): signature against the issuer's JWKS, `iss`, `aud`, `exp` and `nbf`
//!   checked with a bounded clock skew, and the principal read from the claims by the issuer's
//!   claim mapping — groups included, so a snapshot can never add any;
//! - a bearer token that is one of the static tokens (for development; each may expire);
//! - a capability: a secret in the URL of one Flagger hook, for callers that send no headers;
//! - a service mesh's verified client certificate, as the proxy forwards it in
//!   `X-Forwarded-Client-Cert` (its SPIFFE `URI=`), believed only from a configured proxy address.
//!
//! Nothing here reads a socket or the network: JWKS files are read when the configuration is
//! loaded, and the process refreshes the key sets ([`Identity::due`], [`Identity::set_jwks`]),
//! so the checks can be tested with keys made in the test.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// The clock skew allowed when none is configured, in seconds.
pub const DEFAULT_SKEW: u64 = 60;
/// The largest clock skew a configuration may ask for: more would keep expired tokens alive.
pub const MAX_SKEW: u64 = 300;
/// The shortest capability secret accepted, in characters: it is the whole credential.
pub const MIN_SECRET_LEN: usize = 32;
/// How often an issuer's keys are fetched again when its configuration does not say.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// A token signed with a key the set does not hold asks for an early refresh, at most this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// A request that passed: the principal it speaks for and how that was established.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Authenticated {
    /// `{"kind", "id", "groups"}`: what the snapshot's requester becomes.
    pub principal: Value,
    /// How: `token`, `jwt ISSUER`, `mesh SPIFFE-ID`, `capability NAME`.
    pub via: String,
}

/// A request that did not pass.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Refused {
    /// 401 for credentials missing or not accepted.
    pub status: u16,
    /// Why, for people; never the credential itself.
    pub message: String,
    /// The identity the request claimed, unverified, when it named one (a JWT's `iss` and
    /// `sub`, a certificate's SPIFFE ID, a static token's or capability's name), for the audit
    /// trail; never a token or a secret.
    pub claimed: Option<Value>,
}

impl Refused {
    fn new(message: impl Into<String>, claimed: Option<Value>) -> Refused {
        Refused {
            status: 401,
            message: message.into(),
            claimed,
        }
    }
}

/// What a request offers to prove who sent it.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Credentials<'a> {
    /// The token of `Authorization: Bearer TOKEN`.
    pub bearer: Option<&'a str>,
    /// The `X-Forwarded-Client-Cert` header, as the proxy wrote it.
    pub client_cert: Option<&'a str>,
    /// The address of the TCP peer (the proxy, when there is one).
    pub peer: Option<IpAddr>,
    /// The Flagger hook and the capability secret of a `/v1/flagger/{hook}/cap/{secret}` URL.
    pub capability: Option<(&'a str, &'a str)>,
}

impl<'a> Credentials<'a> {
    /// Credentials from their parts; any may be `None`.
    pub fn new(
        bearer: Option<&'a str>,
        client_cert: Option<&'a str>,
        peer: Option<IpAddr>,
        capability: Option<(&'a str, &'a str)>,
    ) -> Credentials<'a> {
        Credentials {
            bearer,
            client_cert,
            peer,
            capability,
        }
    }
}

/// How an issuer's claims become a principal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// The principal's kind for every token of the issuer (default `service_account`).
    #[serde(default)]
    pub kind: Option<String>,
    /// A claim that holds the kind instead (its value must be a principal kind).
    #[serde(default)]
    pub kind_claim: Option<String>,
    /// The claim that holds the id (default `sub`).
    #[serde(default)]
    pub id_claim: Option<String>,
    /// The claim that holds the groups: a list of strings, or one string.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Groups every principal of the issuer is in, besides the claimed ones.
    #[serde(default)]
    pub groups: Vec<String>,
}

const KINDS: [&str; 3] = ["human", "agent", "service_account"];

/// A claim by name, or by JSON pointer when the name starts with `/`
/// (`/kubernetes.io/serviceaccount/name`), since some issuers nest the useful ones.
fn claim<'v>(claims: &'v Value, name: &str) -> Option<&'v Value> {
    if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    }
}

impl ClaimMapping {
    fn check(&self, what: &str) -> Result<(), String> {
        if let Some(k) = &self.kind {
            if !KINDS.contains(&k.as_str()) {
                return Err(format!(
                    "{what}: `{k}` is not a principal kind; use \"human\", \"agent\" or \"service_account\""
                ));
            }
        }
        if self.kind.is_some() && self.kind_claim.is_some() {
            return Err(format!("{what}: give `kind` or `kind_claim`, not both"));
        }
        Ok(())
    }

    /// The principal the claims name, or why they name none.
    pub fn principal(&self, claims: &Value) -> Result<Value, String> {
        let kind = match &self.kind_claim {
            Some(c) => match claim(claims, c).and_then(Value::as_str) {
                Some(k) if KINDS.contains(&k) => k.to_string(),
                Some(k) => return Err(format!("the claim `{c}` is `{k}`, not a principal kind")),
                None => return Err(format!("the token has no string claim `{c}` (the kind)")),
            },
            None => self
                .kind
                .clone()
                .unwrap_or_else(|| "service_account".to_string()),
        };
        let id_claim = self.id_claim.as_deref().unwrap_or("sub");
        let id = match claim(claims, id_claim).and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                return Err(format!(
                    "the token has no string claim `{id_claim}` (the id)"
                ))
            }
        };
        let mut groups: Vec<String> = self.groups.clone();
        if let Some(c) = &self.groups_claim {
            match claim(claims, c) {
                None | Some(Value::Null) => {}
                Some(Value::String(g)) => groups.push(g.clone()),
                Some(Value::Array(items)) => {
                    for g in items {
                        match g.as_str() {
                            Some(g) => groups.push(g.to_string()),
                            None => {
                                return Err(format!(
                                    "the claim `{c}` holds a group that is not a string"
                                ))
                            }
                        }
                    }
                }
                Some(_) => return Err(format!("the claim `{c}` is not a list of groups")),
            }
        }
        groups.sort();
        groups.dedup();
        Ok(json!({"kind": kind, "id": id, "groups": groups}))
    }
}

/// Where an issuer's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A file, read again at every refresh (a mounted ConfigMap or Secret).
    File(PathBuf),
    /// An `http://` or `https://` URL the process fetches.
    Url(String),
    /// Keys written into the configuration; never refreshed.
    Inline,
}

/// One issuer as the configuration file gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// The `aud` values accepted; a token must name one of them.
    pub audiences: Vec<String>,
    /// The JWKS as a file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The JWKS as a URL.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The JWKS itself.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Seconds between refreshes of the keys (default 300).
    #[serde(default)]
    pub refresh_seconds: Option<u64>,
    /// How the claims become a principal.
    #[serde(default = "default_mapping")]
    pub principal: ClaimMapping,
}

fn default_mapping() -> ClaimMapping {
    ClaimMapping {
        kind: None,
        kind_claim: None,
        id_claim: None,
        groups_claim: None,
        groups: Vec::new(),
    }
}

/// A JWT issuer with its current keys.
#[derive(Debug)]
pub struct Issuer {
    config: IssuerConfig,
    source: JwksSource,
    keys: RwLock<JwkSet>,
    fetched: Mutex<Option<Instant>>,
    /// Set when a token named a key the set does not hold: the keys may have rotated.
    stale: AtomicBool,
}

/// Parses a JWKS document, keeping only public keys of algorithms a JWT may be verified with.
pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, String> {
    let set: JwkSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    // A shared secret (`kty: oct`) in a published key set would let anyone who can read the
    // set sign tokens: such keys are dropped, never used.
    let keys: Vec<_> = set
        .keys
        .into_iter()
        .filter(|k| !matches!(k.algorithm, AlgorithmParameters::OctetKey(_)))
        .collect();
    if keys.is_empty() {
        return Err("the JWKS holds no public key".to_string());
    }
    Ok(JwkSet { keys })
}

/// Why a JWT did not verify, in words.
fn jwt_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired (`exp`)".into(),
        K::ImmatureSignature => "the token is not valid yet (`nbf`)".into(),
        K::InvalidAudience => "the token is not meant for this service (`aud`)".into(),
        K::InvalidIssuer => "the token's issuer (`iss`) is not the expected one".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::InvalidAlgorithm => "the token's algorithm does not fit its key".into(),
        K::MissingRequiredClaim(c) => format!("the token lacks the claim `{c}`"),
        K::InvalidClaimFormat(c) => format!("the token's claim `{c}` is malformed"),
        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
            "the token is not a well-formed JWT".into()
        }
        _ => format!("the token does not verify: {e}"),
    }
}

/// The unverified `iss` and `sub` of a JWT, to say who a refused token claimed to be.
pub fn unverified_claims(token: &str) -> Option<Value> {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .ok()?
        .claims;
    let pick = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    Some(json!({"iss": pick("iss"), "sub": pick("sub")}))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Issuer {
    /// An issuer from its configuration; `base` is the directory relative `jwks_file`s are in.
    /// A file or inline key set is read now; a URL's keys come with the first refresh.
    pub fn new(config: IssuerConfig, base: Option<&Path>) -> Result<Issuer, String> {
        let what = format!("issuer `{}`", config.issuer);
        if config.issuer.is_empty() {
            return Err("an issuer needs its `issuer` (the tokens' `iss`)".into());
        }
        if config.audiences.is_empty() {
            return Err(format!(
                "{what}: `audiences` is empty; a token meant for another service would pass"
            ));
        }
        config.principal.check(&what)?;
        let given = [
            config.jwks_file.is_some(),
            config.jwks_url.is_some(),
            config.jwks.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(format!(
                "{what}: give exactly one of `jwks_file`, `jwks_url` and `jwks`"
            ));
        }
        let (source, keys) = if let Some(f) = &config.jwks_file {
            let path = match base {
                Some(b) if f.is_relative() => b.join(f),
                _ => f.clone(),
            };
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{what}: cannot read `{}`: {e}", path.display()))?;
            let keys =
                parse_jwks(&bytes).map_err(|e| format!("{what}: `{}`: {e}", path.display()))?;
            (JwksSource::File(path), keys)
        } else if let Some(u) = &config.jwks_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(format!(
                    "{what}: `jwks_url` must be an http:// or https:// URL"
                ));
            }
            (JwksSource::Url(u.clone()), JwkSet { keys: Vec::new() })
        } else {
            let v = config.jwks.clone().unwrap_or_default();
            let keys =
                parse_jwks(v.to_string().as_bytes()).map_err(|e| format!("{what}: `jwks`: {e}"))?;
            (JwksSource::Inline, keys)
        };
        let fetched = (!matches!(source, JwksSource::Url(_))).then(Instant::now);
        Ok(Issuer {
            config,
            source,
            keys: RwLock::new(keys),
            fetched: Mutex::new(fetched),
            stale: AtomicBool::new(false),
        })
    }

    /// The `iss` this issuer's tokens carry.
    pub fn name(&self) -> &str {
        &self.config.issuer
    }

    /// Where its keys come from.
    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// Replaces its keys with a freshly read JWKS; on error the old keys stay.
    pub fn set_jwks(&self, bytes: &[u8]) -> Result<(), String> {
        let keys = parse_jwks(bytes)?;
        *self.keys.write().expect("lock") = keys;
        *self.fetched.lock().expect("lock") = Some(Instant::now());
        self.stale.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Notes a failed refresh, so the next try waits for the minimum interval.
    pub fn refresh_failed(&self) {
        *self.fetched.lock().expect("lock") = Some(Instant::now());
    }

    /// Whether its keys should be fetched again now.
    pub fn due(&self, now: Instant) -> bool {
        if self.source == JwksSource::Inline {
            return false;
        }
        let every = self
            .config
            .refresh_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REFRESH)
            .max(MIN_REFETCH);
        match *self.fetched.lock().expect("lock") {
            None => true,
            Some(t) => {
                let age = now.saturating_duration_since(t);
                age >= every || (self.stale.load(Ordering::Relaxed) && age >= MIN_REFETCH)
            }
        }
    }

    /// Verifies a JWT of this issuer with its keys, `skew` seconds of clock difference allowed
    /// on `exp` and `nbf`, and the audience checked against `audiences`; the claims, or why not.
    pub fn verify(&self, token: &str, skew: u64, audiences: &[String]) -> Result<Value, String> {
        self.check(token, Some(skew), audiences)
    }

    /// Verifies a JWT's signature, `iss` and `aud`, leaving `exp` and `nbf` to the caller, whose
    /// clock is not the system's (an approval is judged at the evaluation's time).
    pub fn verify_untimed(&self, token: &str) -> Result<Value, String> {
        self.check(token, None, &self.config.audiences)
    }

    fn check(&self, token: &str, skew: Option<u64>, audiences: &[String]) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| jwt_error(&e))?;
        // Only public-key algorithms: an HMAC token "verified" with a public key as its secret
        // is the classic confusion attack.
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("the token is signed with a shared secret (HS*); only public-key algorithms are accepted".into());
        }
        let keys = self.keys.read().expect("lock");
        let candidates: Vec<_> = match &header.kid {
            Some(kid) => keys
                .keys
                .iter()
                .filter(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
                .collect(),
            None => keys.keys.iter().collect(),
        };
        if candidates.is_empty() {
            self.stale.store(true, Ordering::Relaxed);
            return Err(match &header.kid {
                Some(kid) => format!(
                    "the token's key `{kid}` is not among issuer `{}`'s keys",
                    self.config.issuer
                ),
                None => format!("issuer `{}` has no keys yet", self.config.issuer),
            });
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(audiences);
        match skew {
            Some(skew) => {
                validation.leeway = skew;
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.validate_nbf = true;
            }
            None => {
                validation.set_required_spec_claims(&["iss", "aud"]);
                validation.validate_exp = false;
                validation.validate_nbf = false;
            }
        }
        let mut last = String::from("the token's signature does not verify");
        for jwk in candidates {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match jsonwebtoken::decode::<Value>(token, &key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = jwt_error(&e);
                    // A claim problem is the same under every key; only a signature is worth
                    // trying again with the next one.
                    if !matches!(
                        e.kind(),
                        jsonwebtoken::errors::ErrorKind::InvalidSignature
                            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
                            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                            | jsonwebtoken::errors::ErrorKind::InvalidEddsaKey
                            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
                    ) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// The claim mapping of this issuer.
    pub fn mapping(&self) -> &ClaimMapping {
        &self.config.principal
    }

    /// Its accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.config.audiences
    }
}

/// A static token as the configuration gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token.
    pub token: String,
    /// The principal it stands for.
    pub principal: Value,
    /// When it stops being accepted (RFC 3339); never without.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A capability as the configuration gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityConfig {
    /// A name for logs and the audit trail (the secret is never shown).
    pub name: String,
    /// The secret the URL carries, at least 32 characters.
    pub secret: String,
    /// The Flagger hooks it may call (`confirm-rollout`, ...); every hook when empty.
    #[serde(default)]
    pub hooks: Vec<String>,
    /// The principal it stands for.
    pub principal: Value,
    /// When it stops being accepted (RFC 3339); never without.
    #[serde(default)]
    pub expires: Option<String>,
}

/// The mesh part of the configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    /// The addresses of the proxies whose `X-Forwarded-Client-Cert` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// SPIFFE ID to principal.
    #[serde(default)]
    pub identities: BTreeMap<String, Value>,
}

/// The identity configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Seconds of clock difference allowed on `exp` and `nbf` (default 60, at most 300).
    #[serde(default)]
    pub clock_skew_seconds: Option<u64>,
    /// JWT issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Static tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Identities from a service mesh's client certificates.
    #[serde(default)]
    pub mesh: MeshConfig,
    /// Capability URLs for Flagger hooks.
    #[serde(default)]
    pub capabilities: Vec<CapabilityConfig>,
}

#[derive(Clone)]
struct Secret {
    name: String,
    secret: String,
    principal: Value,
    expires: Option<u64>,
    hooks: Vec<String>,
}

/// The service's authenticator: issuers, static tokens, mesh identities, capabilities. A clone
/// shares the issuers (and so their refreshed keys).
#[derive(Clone)]
pub struct Identity {
    skew: u64,
    issuers: Vec<Arc<Issuer>>,
    tokens: Vec<Secret>,
    capabilities: Vec<Secret>,
    proxies: HashSet<IpAddr>,
    spiffe: BTreeMap<String, Value>,
}

impl std::fmt::Debug for Identity {
    // Never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("skew", &self.skew)
            .field("issuers", &self.issuers.len())
            .field("tokens", &self.tokens.len())
            .field("capabilities", &self.capabilities.len())
            .finish()
    }
}

/// Checks a principal record from a configuration: `{"kind", "id", "groups"}`.
pub fn check_principal(p: &Value, what: &str) -> Result<Value, String> {
    let Some(o) = p.as_object() else {
        return Err(format!(
            "{what}: a principal is an object {{\"kind\", \"id\", \"groups\"}}"
        ));
    };
    if let Some(k) = o
        .keys()
        .find(|k| !["kind", "id", "groups"].contains(&k.as_str()))
    {
        return Err(format!(
            "{what}: `{k}` is not a key of a principal (kind, id, groups)"
        ));
    }
    match o.get("kind").and_then(Value::as_str) {
        Some(k) if KINDS.contains(&k) => {}
        _ => {
            return Err(format!(
                "{what}: `kind` must be \"human\", \"agent\" or \"service_account\""
            ))
        }
    }
    if o.get("id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(format!("{what}: `id` must be a non-empty string"));
    }
    match o.get("groups") {
        None | Some(Value::Null) => {}
        Some(Value::Array(g)) if g.iter().all(Value::is_string) => {}
        Some(_) => return Err(format!("{what}: `groups` must be a list of strings")),
    }
    let mut p = p.clone();
    if p.get("groups").is_none_or(Value::is_null) {
        p["groups"] = json!([]);
    }
    Ok(p)
}

fn expiry(e: &Option<String>, what: &str) -> Result<Option<u64>, String> {
    e.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp().max(0) as u64)
                .map_err(|_| format!("{what}: `expires` is not an RFC 3339 time: `{t}`"))
        })
        .transpose()
}

/// Compares secrets without leaking, through timing, how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The SPIFFE ID of the client certificate the last proxy saw: the `URI=` of the last element of
/// an `X-Forwarded-Client-Cert` value (Envoy appends one element per hop). Values may be quoted.
pub fn xfcc_spiffe(header: &str) -> Option<String> {
    let mut elements = vec![Vec::new()];
    let (mut field, mut quoted, mut escaped) = (String::new(), false, false);
    for c in header.chars() {
        if escaped {
            field.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => elements.last_mut()?.push(std::mem::take(&mut field)),
            ',' if !quoted => {
                elements.last_mut()?.push(std::mem::take(&mut field));
                elements.push(Vec::new());
            }
            c => field.push(c),
        }
    }
    elements.last_mut()?.push(field);
    let last = elements.last()?;
    last.iter().find_map(|f| {
        let (k, v) = f.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case("uri") && v.starts_with("spiffe://")).then(|| v.to_string())
    })
}

impl Identity {
    /// Reads the configuration file; relative `jwks_file`s are taken from its directory.
    pub fn load(path: &Path) -> Result<Identity, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let config: IdentityConfig =
            serde_json::from_slice(&text).map_err(|e| format!("`{}`: {e}", path.display()))?;
        Identity::new(config, path.parent())
    }

    /// An authenticator from a parsed configuration.
    pub fn new(config: IdentityConfig, base: Option<&Path>) -> Result<Identity, String> {
        let skew = config.clock_skew_seconds.unwrap_or(DEFAULT_SKEW);
        if skew > MAX_SKEW {
            return Err(format!(
                "`clock_skew_seconds` is {skew}; at most {MAX_SKEW} is allowed (a larger one keeps expired tokens alive)"
            ));
        }
        let issuers = config
            .issuers
            .into_iter()
            .map(|c| Issuer::new(c, base).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tokens = Vec::new();
        for (i, t) in config.tokens.into_iter().enumerate() {
            let what = format!("tokens[{i}]");
            if t.token.is_empty() {
                return Err(format!("{what}: the token is empty"));
            }
            tokens.push(Secret {
                principal: check_principal(&t.principal, &what)?,
                expires: expiry(&t.expires, &what)?,
                name: what,
                secret: t.token,
                hooks: Vec::new(),
            });
        }
        let mut capabilities = Vec::new();
        for (i, c) in config.capabilities.into_iter().enumerate() {
            let what = format!("capabilities[{i}] (`{}`)", c.name);
            if c.secret.chars().count() < MIN_SECRET_LEN
                || !c
                    .secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "{what}: the secret must be at least {MIN_SECRET_LEN} characters of A-Z, a-z, 0-9, `-` and `_` (it travels in a URL)"
                ));
            }
            for h in &c.hooks {
                if crate::integrations::FlaggerHook::parse(h).is_none() {
                    return Err(format!(
                        "{what}: `{h}` is not a Flagger hook rollguard answers"
                    ));
                }
            }
            capabilities.push(Secret {
                principal: check_principal(&c.principal, &what)?,
                expires: expiry(&c.expires, &what)?,
                name: c.name,
                secret: c.secret,
                hooks: c.hooks,
            });
        }
        let mut spiffe = BTreeMap::new();
        for (id, p) in config.mesh.identities {
            if !id.starts_with("spiffe://") {
                return Err(format!(
                    "mesh.identities: `{id}` is not a SPIFFE ID (spiffe://...)"
                ));
            }
            let p = check_principal(&p, &format!("mesh.identities[\"{id}\"]"))?;
            spiffe.insert(id, p);
        }
        if !spiffe.is_empty() && config.mesh.trusted_proxies.is_empty() {
            return Err("mesh.identities needs mesh.trusted_proxies: the client-certificate header is believed only from them".into());
        }
        Ok(Identity {
            skew,
            issuers,
            tokens,
            capabilities,
            proxies: config.mesh.trusted_proxies.into_iter().collect(),
            spiffe,
        })
    }

    /// Static tokens only, as `--tokens FILE` gives them (token to principal), never expiring.
    /// The principals are taken as given, as they always were.
    pub fn from_tokens(tokens: impl IntoIterator<Item = (String, Value)>) -> Identity {
        Identity {
            skew: DEFAULT_SKEW,
            issuers: Vec::new(),
            tokens: tokens
                .into_iter()
                .enumerate()
                .map(|(i, (secret, principal))| Secret {
                    name: format!("tokens[{i}]"),
                    secret,
                    principal,
                    expires: None,
                    hooks: Vec::new(),
                })
                .collect(),
            capabilities: Vec::new(),
            proxies: HashSet::new(),
            spiffe: BTreeMap::new(),
        }
    }

    /// `other`'s means of authentication added to these (`--tokens` beside `--identity`).
    pub fn merge(&mut self, other: &Identity) {
        self.issuers.extend(other.issuers.iter().cloned());
        self.tokens.extend(other.tokens.iter().cloned());
        self.capabilities.extend(other.capabilities.iter().cloned());
        self.proxies.extend(other.proxies.iter().copied());
        for (k, v) in &other.spiffe {
            self.spiffe.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !other.issuers.is_empty() {
            self.skew = other.skew;
        }
    }

    /// The configured issuers, for the process to refresh their keys.
    pub fn issuers(&self) -> &[Arc<Issuer>] {
        &self.issuers
    }

    /// Who sent a request, at the current time.
    pub fn authenticate(&self, c: &Credentials) -> Result<Authenticated, Refused> {
        self.authenticate_at(c, now_secs())
    }

    /// Who sent a request, at `now` (seconds since the epoch) for static expiries. JWTs are
    /// checked against the system clock.
    pub fn authenticate_at(&self, c: &Credentials, now: u64) -> Result<Authenticated, Refused> {
        if let Some(token) = c.bearer {
            return self.bearer(token, now);
        }
        if let Some((hook, secret)) = c.capability {
            let found = self.capabilities.iter().fold(None, |hit, cap| {
                if same_secret(&cap.secret, secret) {
                    Some(cap)
                } else {
                    hit
                }
            });
            let Some(cap) = found else {
                return Err(Refused::new("unknown capability", None));
            };
            let claimed = Some(json!({"capability": cap.name}));
            if cap.expires.is_some_and(|e| now >= e) {
                return Err(Refused::new(
                    format!("the capability `{}` has expired", cap.name),
                    claimed,
                ));
            }
            if !cap.hooks.is_empty() && !cap.hooks.iter().any(|h| h == hook) {
                return Err(Refused::new(
                    format!("the capability `{}` is not for the hook `{hook}`", cap.name),
                    claimed,
                ));
            }
            return Ok(Authenticated {
                principal: cap.principal.clone(),
                via: format!("capability {}", cap.name),
            });
        }
        if let Some(xfcc) = c.client_cert {
            let spiffe = xfcc_spiffe(xfcc);
            let claimed = spiffe.as_ref().map(|s| json!({"spiffe": s}));
            let trusted = c.peer.is_some_and(|p| {
                self.proxies.contains(&p)
                    || p.to_canonical() != p && self.proxies.contains(&p.to_canonical())
            });
            if !trusted {
                // Anyone can write the header; only a configured proxy's word counts.
                return Err(Refused::new(
                    "X-Forwarded-Client-Cert is believed only from a trusted proxy, and this peer is not one; send `Authorization: Bearer TOKEN`",
                    claimed,
                ));
            }
            let Some(id) = spiffe else {
                return Err(Refused::new(
                    "the forwarded client certificate names no SPIFFE ID (`URI=spiffe://...`)",
                    None,
                ));
            };
            return match self.spiffe.get(&id) {
                Some(p) => Ok(Authenticated {
                    principal: p.clone(),
                    via: format!("mesh {id}"),
                }),
                None => Err(Refused::new(
                    format!("the SPIFFE ID `{id}` is not mapped to a principal"),
                    claimed,
                )),
            };
        }
        Err(Refused::new(
            "this service needs `Authorization: Bearer TOKEN`",
            None,
        ))
    }

    fn bearer(&self, token: &str, now: u64) -> Result<Authenticated, Refused> {
        let found = self.tokens.iter().fold(None, |hit, t| {
            if same_secret(&t.secret, token) {
                Some(t)
            } else {
                hit
            }
        });
        if let Some(t) = found {
            if t.expires.is_some_and(|e| now >= e) {
                return Err(Refused::new(
                    format!("the static token `{}` has expired", t.name),
                    Some(json!({"token": t.name})),
                ));
            }
            return Ok(Authenticated {
                principal: t.principal.clone(),
                via: "token".into(),
            });
        }
        let Some(claimed) = unverified_claims(token) else {
            return Err(Refused::new("unknown token", None));
        };
        let iss = claimed
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(issuer) = self.issuers.iter().find(|i| i.name() == iss) else {
            return Err(Refused::new(
                format!("the token's issuer `{iss}` is not configured"),
                Some(claimed),
            ));
        };
        let claims = issuer
            .verify(token, self.skew, issuer.audiences())
            .map_err(|m| Refused::new(m, Some(claimed.clone())))?;
        let principal = issuer
            .mapping()
            .principal(&claims)
            .map_err(|m| Refused::new(m, Some(claimed.clone())))?;
        Ok(Authenticated {
            principal,
            via: format!("jwt {iss}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_hop_of_a_forwarded_certificate_counts() {
        let h = r#"By=spiffe://cluster.local/ns/a/sa/b;Hash=abc;Subject="CN=x, O=y";URI=spiffe://cluster.local/ns/flagger/sa/flagger"#;
        assert_eq!(
            xfcc_spiffe(h).as_deref(),
            Some("spiffe://cluster.local/ns/flagger/sa/flagger")
        );
        let two = format!("{h},By=x;URI=spiffe://cluster.local/ns/other/sa/x");
        assert_eq!(
            xfcc_spiffe(&two).as_deref(),
            Some("spiffe://cluster.local/ns/other/sa/x")
        );
        assert_eq!(xfcc_spiffe("Hash=abc"), None);
    }

    #[test]
    fn claims_become_a_principal_without_trusting_anything_else() {
        let m: ClaimMapping = serde_json::from_value(json!({
            "kind": "service_account", "groups_claim": "groups", "groups": ["ci"]
        }))
        .unwrap();
        let p = m
            .principal(&json!({"sub": "repo:org/app", "groups": ["deployers"]}))
            .unwrap();
        assert_eq!(
            p,
            json!({"kind": "service_account", "id": "repo:org/app", "groups": ["ci", "deployers"]})
        );
        assert!(m.principal(&json!({"groups": []})).is_err());
    }

    #[test]
    fn a_short_capability_secret_is_refused() {
        let c: IdentityConfig = serde_json::from_value(json!({"capabilities": [
            {"name": "f", "secret": "short", "principal": {"kind": "service_account", "id": "flagger"}}
        ]}))
        .unwrap();
        assert!(Identity::new(c, None).unwrap_err().contains("at least 32"));
    }

    #[test]
    fn skew_is_capped() {
        let c = IdentityConfig {
            clock_skew_seconds: Some(3600),
            ..IdentityConfig::default()
        };
        assert!(Identity::new(c, None).unwrap_err().contains("at most 300"));
    }
}
